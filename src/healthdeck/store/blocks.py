"""Blocks: a text file cut into blocks of whole lines, each line with its number.

A block is read whole (its bytes as in the file, for pyarrow to parse in one go) while every line
is at most the size limit, and split into lines only when one must be looked at on its own. A line
over the limit is never held: it stands in its block as its size in bytes. CSV blocks keep their
double quotes paired, so a quoted value spanning lines is never cut in two.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from functools import cached_property
from itertools import accumulate
from typing import BinaryIO, cast

MAX_RECORD_BYTES = 1 << 20
# A block of lines (one batch per kind) ends after about this many bytes, whatever --batch-rows says.
BLOCK_BYTES = 64 << 20
BOM = b"\xef\xbb\xbf"
# A stream is read in chunks of this size.
READ_BYTES = 1 << 23


class LineBlock:
    """Consecutive lines of a text file, without their newlines: `lines[i]` is line `first_line + i`.

    A line over the size limit is replaced by its size in bytes: it is never held whole. A block
    read whole (`text`: its `count` lines joined by newlines, none over the limit) is what pyarrow
    reads; its `lines` are only split out when one must be looked at on its own.
    """

    def __init__(
        self, first_line: int, lines: list[bytes | int] | None = None, *, text: bytes | None = None, count: int = 0
    ) -> None:
        self.first_line = first_line
        # A byte order mark opening the file is not part of its first line.
        self.original = text if text is not None else b""
        self.text = text.removeprefix(BOM) if text is not None and first_line == 1 else text
        self.count = count if lines is None else len(lines)
        if lines is not None:
            self.lines = lines

    @cached_property
    def lines(self) -> list[bytes | int]:
        return cast(list[bytes | int], cast(bytes, self.text).split(b"\n"))

    def head(self) -> bytes | int:
        """The block's first line, without splitting a block read whole into its lines."""
        if self.text is None:
            return self.lines[0]
        end = self.text.find(b"\n")
        return self.text if end < 0 else self.text[:end]

    def tail(self) -> LineBlock:
        """The block without its first line (a CSV file's rows after its header)."""
        if self.text is None or self.count == 1:
            return LineBlock(self.first_line + 1, self.lines[1:])
        return LineBlock(self.first_line + 1, text=self.text[self.text.find(b"\n") + 1 :], count=self.count - 1)

    @property
    def size(self) -> int:
        return len(self.text) + 1 if self.text is not None else _size(self.lines)  # with its last newline


def whole_line_blocks(
    stream: BinaryIO,
    *,
    max_lines: int,
    max_bytes: int = BLOCK_BYTES,
    limit: int = MAX_RECORD_BYTES,
    read_bytes: int = READ_BYTES,
    whole_quotes: bool = False,
) -> Iterator[LineBlock]:
    """The blocks of `line_blocks`, read whole: a block's text is the file's bytes, copied once, not
    split into lines and joined again (a quarter of the reading's time).

    From a line over `limit` on (or, with `whole_quotes`, a block whose double quotes do not pair
    up), the rest of the stream is read by `line_blocks`, which never holds such a line and keeps
    a quoted value that spans lines in one block.
    """
    pending, first, carry = _Pending(), 1, b""
    while data := stream.read(read_bytes):
        body = carry + data
        end = body.rfind(b"\n")
        if end < 0 or not _no_line_over(body, end, limit) or len(body) - end - 1 > limit:
            yield from _line_by_line(pending.unread() + body, stream, first, max_lines, limit, whole_quotes)
            return
        pending.add(body, end)
        carry = body[end + 1 :]
        while pending.count >= max_lines or (pending.size >= max_bytes and pending.count):
            block = pending.take(first, min(pending.count, max_lines))
            if whole_quotes and block.text.count(b'"') % 2:  # type: ignore[union-attr]
                unread = block.original + b"\n" + pending.unread() + carry
                yield from _line_by_line(unread, stream, first, max_lines, limit, whole_quotes)
                return
            yield block
            first += block.count
    if carry:  # a last line without a newline
        pending.add(carry + b"\n", len(carry))
    if pending.count:
        block = pending.take(first, pending.count)
        if whole_quotes and block.text.count(b'"') % 2:  # type: ignore[union-attr]
            yield from _line_by_line(block.original + b"\n", stream, first, max_lines, limit, whole_quotes)
            return
        yield block


def _line_by_line(
    unread: bytes, stream: BinaryIO, first: int, max_lines: int, limit: int, whole_quotes: bool
) -> Iterator[LineBlock]:
    """The blocks of `line_blocks` for `unread` and the rest of `stream`, numbered from line `first`."""
    rest = cast(BinaryIO, _Prepended(unread, stream))
    for block in line_blocks(rest, max_lines=max_lines, limit=limit, whole_quotes=whole_quotes, bom=first == 1):
        yield LineBlock(block.first_line + first - 1, block.lines)


class _Pending:
    """Whole lines read but not yet in a block, as spans of the chunks read: body[start:end] holds
    `count` lines joined by newlines (no copy is made until a block is taken)."""

    def __init__(self) -> None:
        self.spans: list[tuple[bytes, int, int, int]] = []
        self.count = 0
        self.size = 0

    def add(self, body: bytes, end: int) -> None:
        count = body.count(b"\n", 0, end) + 1
        self.spans.append((body, 0, end, count))
        self.count += count
        self.size += end + 1

    def take(self, first: int, lines: int) -> LineBlock:
        """The block of the first `lines` lines; the others stay pending."""
        taken, left = [], lines
        while left:
            body, start, end, count = self.spans.pop(0)
            if count > left:  # cut this span after its `left`-th line
                cut = start - 1
                for _ in range(left):
                    cut = body.find(b"\n", cut + 1)
                self.spans.insert(0, (body, cut + 1, end, count - left))
                end, count = cut, left
            taken.append(memoryview(body)[start:end])
            left -= count
            self.size -= end + 1 - start
        self.count -= lines
        return LineBlock(first, text=b"\n".join(taken), count=lines)

    def unread(self) -> bytes:
        """The pending lines as read, each with its newline."""
        return b"".join(bytes(memoryview(body)[start:end]) + b"\n" for body, start, end, _ in self.spans)


def _no_line_over(body: bytes, end: int, limit: int) -> bool:
    """Whether every line of body[:end] is at most `limit` bytes: each step finds the last newline
    within `limit` bytes of a line's start, so it takes a few steps per megabyte, not one per line."""
    start = 0
    while start <= end:
        newline = body.rfind(b"\n", start, start + limit + 1)
        if newline < 0:
            return False
        start = newline + 1
    return True


class _Prepended:
    """A stream that reads `head` first, then the rest of `stream`."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head, self._offset, self._stream = head, 0, stream

    def read(self, size: int = -1) -> bytes:
        if self._offset < len(self._head):
            end = len(self._head) if size < 0 else self._offset + size
            chunk, self._offset = self._head[self._offset : end], min(end, len(self._head))
            return chunk
        return self._stream.read(size)


def line_blocks(
    stream: BinaryIO,
    *,
    max_lines: int,
    max_bytes: int = BLOCK_BYTES,
    limit: int = MAX_RECORD_BYTES,
    whole_quotes: bool = False,
    bom: bool = True,
) -> Iterator[LineBlock]:
    """Blocks of at most `max_lines` lines and about `max_bytes`, read in large chunks, not line by line.

    With `whole_quotes` (CSV), a block grows past its end until its double quotes pair up, so no
    quoted value that spans lines is cut in two (up to twice `max_bytes`: a stray quote must not
    make the rest of the file one block). With `bom`, a byte order mark opening the stream is dropped.
    """
    pending: list[bytes | int] = []
    first, size, started = 1, 0, False
    for lines in _chunked_lines(stream, limit):
        if bom and lines and not started and isinstance(lines[0], bytes):
            lines[0] = lines[0].removeprefix(BOM)
        started = started or bool(lines)
        pending.extend(lines)
        size += _size(lines)
        while len(pending) >= max_lines or size >= max_bytes:
            end = _lines_within(pending[:max_lines], max_bytes)
            cut = _paired(pending, end) if whole_quotes and size < 2 * max_bytes else end
            if cut is None:
                break
            yield LineBlock(first, pending[:cut])
            size -= _size(pending[:cut])
            first, pending = first + cut, pending[cut:]
    if pending:
        yield LineBlock(first, pending)


def _size(lines: list[bytes | int]) -> int:
    try:
        return sum(map(len, lines)) + len(lines)  # type: ignore[arg-type]
    except TypeError:  # a line over the limit, given by its size
        return sum(line if isinstance(line, int) else len(line) + 1 for line in lines)


def _lines_within(lines: list[bytes | int], max_bytes: int) -> int:
    """How many of the lines make up about `max_bytes` (at least one)."""
    if _size(lines) < max_bytes:
        return len(lines)
    sizes = accumulate(line if isinstance(line, int) else len(line) + 1 for line in lines)
    return max(1, bisect_left(list(sizes), max_bytes))


def _paired(lines: list[bytes | int], end: int) -> int | None:
    """Where a block of CSV lines ends: at `end`, or later to keep quotes paired (None: read on)."""
    quotes = _quotes(lines[:end])
    cut = end
    while quotes % 2:
        if cut == len(lines):
            return None
        quotes += _quotes(lines[cut : cut + 1])
        cut += 1
    return cut


def _quotes(lines: list[bytes | int]) -> int:
    try:
        return b"".join(lines).count(b'"')  # type: ignore[arg-type]
    except TypeError:  # a line over the limit, given by its size
        return sum(line.count(b'"') for line in lines if isinstance(line, bytes))


def _chunked_lines(stream: BinaryIO, limit: int, chunk: int = READ_BYTES) -> Iterator[list[bytes | int]]:
    """The stream's lines, a chunk at a time; a line over `limit` bytes comes as its size."""
    carry = b""
    while True:
        data = stream.read(chunk)
        lines = (carry + data).split(b"\n")
        last = lines.pop()
        if not data:  # the end: a last line without a newline is still a line
            ended = _over_limit(lines, limit)
            if last:
                ended.append(last if len(last) <= limit else len(last))
            yield ended
            return
        yield _over_limit(lines, limit)
        carry = last
        if len(carry) > limit:
            size, carry = _skip_line(stream, len(carry), chunk)
            yield [size]


def _over_limit(lines: list[bytes], limit: int) -> list[bytes | int]:
    if lines and max(map(len, lines)) > limit:
        return [line if len(line) <= limit else len(line) + 1 for line in lines]
    return cast(list[bytes | int], lines)


def _skip_line(stream: BinaryIO, size: int, chunk: int) -> tuple[int, bytes]:
    """Read past the end of a line that is over the limit; return its size and what follows it."""
    while data := stream.read(chunk):
        end = data.find(b"\n")
        if end >= 0:
            return size + end + 1, data[end + 1 :]
        size += len(data)
    return size, b""

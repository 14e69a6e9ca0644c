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
from typing import BinaryIO, Protocol, cast

import numpy as np

MAX_RECORD_BYTES = 1 << 20
# A block of lines, what pyarrow parses in one go, ends after about this many bytes (or at --batch-rows
# lines); ingest joins consecutive blocks into batches (store/ingest.py, BATCH_BYTES).
BLOCK_BYTES = 64 << 20
# A file's first block ends sooner, so that storing begins while the rest is read (store/ingest.py,
# `_in_batches`).
FIRST_BLOCK_BYTES = 40 << 20
BOM = b"\xef\xbb\xbf"
NEWLINE = ord("\n")
# A stream is read in chunks of this size.
READ_BYTES = 1 << 23


class LineBlock:
    """Consecutive lines of a text file, without their newlines: `lines[i]` is line `first_line + i`.

    A line over the size limit is replaced by its size in bytes: it is never held whole. A block
    read whole (`text`: its `count` lines joined by newlines, none over the limit) is what pyarrow
    reads; its `lines` are only split out when one must be looked at on its own, and `newlines`
    (where they are in `text`, found once while reading, and given with it) spare another pass over
    its bytes.
    """

    def __init__(
        self,
        first_line: int,
        lines: list[bytes | int] | None = None,
        *,
        text: bytes | None = None,
        newlines: np.ndarray | None = None,
    ) -> None:
        self.first_line = first_line
        # A byte order mark opening the file is not part of its first line.
        self.original = text if text is not None else b""
        self.text = text.removeprefix(BOM) if text is not None and first_line == 1 else text
        if lines is not None:
            self.lines = lines
            self.count = len(lines)
        else:
            if text is None or newlines is None:
                raise ValueError("a block is given its lines, or its text and where its newlines are")
            shift = len(text) - len(cast(bytes, self.text))  # a byte order mark taken off
            self.newlines = newlines - shift
            self.count = len(self.newlines) + 1

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
        cut = int(self.newlines[0]) + 1
        return LineBlock(self.first_line + 1, text=self.text[cut:], newlines=self.newlines[1:] - cut)

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
    first_bytes: int | None = None,
) -> Iterator[LineBlock]:
    """The blocks of `line_blocks`, read whole: a block's text is the file's bytes, copied once, not
    split into lines and joined again (a quarter of the reading's time). The first block ends after
    about `first_bytes` (at most `max_bytes`), the others after about `max_bytes`.

    From a line over `limit` on (or, with `whole_quotes`, a block whose double quotes do not pair
    up), the rest of the stream is read by `line_blocks`, which never holds such a line and keeps
    a quoted value that spans lines in one block.
    """
    # Room for what stays pending after a block (under `max_bytes` of lines, and a line begun of at
    # most `limit`) and for one more read.
    pending, first = _Pending(max_bytes + limit + read_bytes + 1, read_bytes), 1
    block_bytes = min(first_bytes or max_bytes, max_bytes)
    while pending.read(stream, read_bytes):
        if not pending.lines_read_within(limit):
            yield from _line_by_line(pending.unread(), stream, first, max_lines, limit, whole_quotes)
            return
        while pending.count >= max_lines or (pending.size >= block_bytes and pending.count):
            block = pending.take(first, min(pending.count, max_lines))
            if whole_quotes and block.text.count(b'"') % 2:  # type: ignore[union-attr]
                unread = block.original + b"\n" + pending.unread()
                yield from _line_by_line(unread, stream, first, max_lines, limit, whole_quotes)
                return
            yield block
            first, block_bytes = first + block.count, max_bytes
    pending.end_last_line()
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


class _ReadsInto(Protocol):
    """A stream that reads into memory it is given: a file, standard input, io.BytesIO."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class _Pending:
    """The bytes read but not yet in a block, in one buffer kept for the whole stream: buffer[start:done]
    holds `count` whole lines, each with its newline, and buffer[done:filled] the start of the next.

    Reading into the same memory again, rather than into fresh chunks joined into a block, and finding
    each newline once (for the count, the cut and the size limit) took the blocks of a million request
    lines (315 MB) from 0.54 to 0.38 s of CPU: memory not touched before costs a page fault a page.
    """

    def __init__(self, capacity: int, read_bytes: int) -> None:
        # One read's worth first: a file whose first line is over the limit is then read by
        # `line_blocks` with a few reads' worth of memory, not the capacity (73 MB).
        self.capacity = capacity
        self.buffer = np.empty(min(read_bytes, capacity), np.uint8)
        self.start = self.done = self.filled = 0
        self.count = 0
        # Where the newlines of the pending lines are in the buffer, one array per read.
        self.newlines: list[np.ndarray] = []
        # The newlines of the last read, and where the first line it added to began.
        self.last_read, self.read_from = np.empty(0, np.int64), 0

    @property
    def size(self) -> int:
        return self.done - self.start

    def read(self, stream: BinaryIO, read_bytes: int) -> bool:
        """Read up to `read_bytes` more, adding the lines they end; False at the end of the stream."""
        if self.filled + read_bytes > len(self.buffer):
            self._make_room(read_bytes)
        into = memoryview(self.buffer)[self.filled : self.filled + read_bytes]  # type: ignore[arg-type]
        got = cast(_ReadsInto, stream).readinto(into)
        if not got:
            return False
        self.last_read = np.flatnonzero(self.buffer[self.filled : self.filled + got] == NEWLINE) + self.filled
        self.read_from, self.filled = self.done, self.filled + got
        if len(self.last_read):
            self.newlines.append(self.last_read)
            self.count += len(self.last_read)
            self.done = int(self.last_read[-1]) + 1
        return True

    def lines_read_within(self, limit: int) -> bool:
        """Whether the last read ended a line, and every line it ended or began is at most `limit` bytes."""
        if not len(self.last_read):
            return False
        # Each line's size with its newline; the line the read stopped in, up to where it stopped.
        sizes = np.diff(self.last_read, prepend=self.read_from - 1, append=self.filled)
        return bool(sizes.max() <= limit + 1)

    def end_last_line(self) -> None:
        """Count a last line without a newline, as if it had one."""
        if self.filled > self.done:
            self.newlines.append(np.array([self.filled]))
            self.count += 1
            self.done = self.filled + 1

    def take(self, first: int, lines: int) -> LineBlock:
        """The block of the first `lines` lines; the others stay pending."""
        # One array after the first take: the cuts of many small blocks then slice it, not copy it.
        newlines = self.newlines[0] if len(self.newlines) == 1 else np.concatenate(self.newlines)
        end = int(newlines[lines - 1])
        block = LineBlock(
            first, text=self.buffer[self.start : end].tobytes(), newlines=newlines[: lines - 1] - self.start
        )
        self.newlines = [newlines[lines:]]
        self.start, self.count = end + 1, self.count - lines
        return block

    def unread(self) -> bytes:
        """The bytes read and not yet in a block, as read, for `line_blocks` to go on from: the buffer is
        let go, so it does not stay beside them."""
        unread = self.buffer[self.start : self.filled].tobytes()
        self.buffer = np.empty(0, np.uint8)
        return unread

    def _make_room(self, read_bytes: int) -> None:
        """Make room for a read: what is still pending moves to the buffer's start, or to a buffer of the
        full capacity if this one is too small for it and the read."""
        kept, buffer = self.filled - self.start, self.buffer
        if kept + read_bytes > len(buffer):
            self.buffer = np.empty(self.capacity, np.uint8)
        self.buffer[:kept] = buffer[self.start : self.filled]
        self.newlines = [newlines - self.start for newlines in self.newlines]
        self.done -= self.start
        self.filled, self.start = kept, 0


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
    read_bytes: int = READ_BYTES,
) -> Iterator[LineBlock]:
    """Blocks of at most `max_lines` lines and about `max_bytes`, read in chunks of `read_bytes`, not line by line.

    With `whole_quotes` (CSV), a block grows past its end until its double quotes pair up, so no
    quoted value that spans lines is cut in two (up to twice `max_bytes`: a stray quote must not
    make the rest of the file one block). With `bom`, a byte order mark opening the stream is dropped.
    """
    pending: list[bytes | int] = []
    first, size = 1, 0
    for lines in _chunked_lines(stream, limit, read_bytes, bom=bom):
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
    """The lines' bytes, each with a newline."""
    try:
        return sum(map(len, lines)) + len(lines)  # type: ignore[arg-type]
    except TypeError:  # a line over the limit, given by its size
        return sum(_line_size(line) + 1 for line in lines)


def _line_size(line: bytes | int) -> int:
    return line if isinstance(line, int) else len(line)


def _lines_within(lines: list[bytes | int], max_bytes: int) -> int:
    """How many of the lines make up about `max_bytes` (at least one)."""
    if _size(lines) < max_bytes:
        return len(lines)
    sizes = accumulate(_line_size(line) + 1 for line in lines)
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


def _chunked_lines(
    stream: BinaryIO, limit: int, chunk: int = READ_BYTES, *, bom: bool = False
) -> Iterator[list[bytes | int]]:
    """The stream's lines, a chunk at a time, without their newlines (and, with `bom`, without a byte
    order mark opening the stream); a line over `limit` bytes comes as its size, counted alike: the
    same record is the same size in a file of its own, without a final newline, or amid others."""
    carry = b""
    while True:
        data = stream.read(chunk)
        text = carry + data
        if bom:
            if data and len(text) < len(BOM):  # a short read may hold part of the mark
                carry = text
                continue
            text, bom = text.removeprefix(BOM), False
        lines = text.split(b"\n")
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
        return [line if len(line) <= limit else len(line) for line in lines]
    return cast(list[bytes | int], lines)


def _skip_line(stream: BinaryIO, size: int, chunk: int) -> tuple[int, bytes]:
    """Read past the end of a line that is over the limit; return its size and what follows it."""
    while data := stream.read(chunk):
        end = data.find(b"\n")
        if end >= 0:
            return size + end, data[end + 1 :]
        size += len(data)
    return size, b""

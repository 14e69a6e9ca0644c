"""An ingest request's body, read as a stream into a JSON Lines file `healthdeck ingest` can read.

The size limit applies to the decompressed bytes, and decompression stops as soon as
the limit is passed, so a gzip bomb costs at most the limit, never its inflated size.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

from healthdeck.api.errors import ApiError
from healthdeck.store.readers import read_jsonl

JSON_LINES_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
JSON_TYPE = "application/json"
_PIECE = 1 << 20  # inflate at most this much at a time


def body_format(content_type: str | None) -> str:
    """`jsonl` or `json` from the Content-Type, else 415."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in JSON_LINES_TYPES:
        return "jsonl"
    if media == JSON_TYPE:
        return "json"
    raise ApiError(
        415,
        f"unsupported Content-Type {media or '(none)'!r}; send application/x-ndjson (JSON Lines) "
        "or application/json (an array of records)",
    )


def is_gzip(content_encoding: str | None) -> bool:
    """Whether the body is gzip-compressed; any encoding but gzip and identity is 415."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("gzip", "identity"):
        raise ApiError(415, f"unsupported Content-Encoding {encoding!r}; send gzip or no encoding")
    return encoding == "gzip"


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the body is over the {limit:,}-byte limit (after decompression); send smaller batches")


def _inflate(inflater: zlib._Decompress, data: bytes) -> Iterator[bytes]:
    """Decompressed pieces of `data`, at most `_PIECE` bytes each, so the caller can stop early."""
    while True:
        piece = inflater.decompress(data, _PIECE)
        if piece:
            yield piece
        data = inflater.unconsumed_tail
        if not data and len(piece) < _PIECE:  # a full piece may leave output pending inside zlib
            break
    if inflater.unused_data:
        raise ApiError(400, "the body has data after the end of its gzip stream")


async def spool(chunks: AsyncIterator[bytes], target: BinaryIO, *, gzip: bool, limit: int) -> int:
    """Write the (decompressed) body to `target`; 413 past `limit`, 400 for broken gzip."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if gzip else None
    total = 0
    try:
        async for chunk in chunks:
            for piece in _inflate(inflater, chunk) if inflater else (chunk,):
                total += len(piece)
                if total > limit:
                    raise _too_large(limit)
                target.write(piece)
    except zlib.error as exc:
        raise ApiError(400, f"the body is not valid gzip: {exc}") from exc
    if inflater is not None and not inflater.eof and total:
        raise ApiError(400, "the body's gzip stream is truncated")
    return total


def as_json_lines(raw: Path, fmt: str, lines: Path) -> Path:
    """A JSON Lines file of the body's records (an array's n-th element becomes line n)."""
    if fmt == "jsonl":
        return raw
    try:
        value = orjson.loads(raw.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"the body is not valid JSON ({exc}); send an array of records, or JSON Lines as application/x-ndjson",
        ) from exc
    records = value if isinstance(value, list) else [value]
    with open(lines, "wb") as out:
        for record in records:
            out.write(orjson.dumps(record) + b"\n")
    return lines


def check_decodable(lines: Path) -> None:
    """400 unless at least one line reads as a JSON object (the same reader as `healthdeck ingest`)."""
    with open(lines, "rb") as stream:
        for record in read_jsonl(stream):
            if record.fields is not None:
                return
    raise ApiError(400, "nothing in the body can be read as a record (a JSON object per line, or an array of them)")

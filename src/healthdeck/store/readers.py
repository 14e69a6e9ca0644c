"""Readers: JSON Lines, CSV and Parquet files as a stream of records with line numbers.

Memory stays bounded: records are yielded one at a time (Parquet in row
groups), and no line longer than `max_record_bytes` is ever held whole.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from healthdeck.errors import HealthdeckError

MAX_RECORD_BYTES = 1 << 20


@dataclass(frozen=True)
class RawRecord:
    """One record as read, or the reason it could not be read."""

    line: int
    fields: dict[str, Any] | None
    raw: str
    error: str | None = None


@dataclass(frozen=True)
class ArrowChunk:
    """A typed slice of a columnar file; `first_line` numbers its first row."""

    table: pa.Table
    first_line: int


def file_format(path: str) -> str:
    """The format of a file, from its name: jsonl, csv or parquet."""
    if path == "-":
        return "jsonl"
    suffix = Path(path).suffix.lower()
    formats = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
    if suffix not in formats:
        raise HealthdeckError("cannot tell the format from the name; use .jsonl, .ndjson, .json, .csv or .parquet")
    return formats[suffix]


def _lines(stream: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, line or None when over the limit, bytes consumed)."""
    number = 0
    while True:
        chunk = stream.readline(limit + 1)
        if not chunk:
            return
        number += 1
        size = len(chunk)
        if size > limit and not chunk.endswith(b"\n"):
            while chunk and not chunk.endswith(b"\n"):  # skip the rest without keeping it
                chunk = stream.readline(limit)
                size += len(chunk)
            yield number, None, size
            continue
        yield number, chunk, size


def read_jsonl(stream: BinaryIO, *, limit: int = MAX_RECORD_BYTES) -> Iterator[tuple[RawRecord | None, int]]:
    """Records of a JSON Lines stream, with the bytes consumed for progress; blank lines are skipped."""
    for number, line, size in _lines(stream, limit):
        if line is None:
            yield RawRecord(number, None, "", f"record is {size} bytes, over the {limit}-byte limit"), size
            continue
        text = line.removeprefix(b"\xef\xbb\xbf").strip() if number == 1 else line.strip()
        if not text:
            yield None, size
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield RawRecord(number, None, _clip(text), f"malformed JSON: {exc}"), size
            continue
        if not isinstance(value, dict):
            yield RawRecord(number, None, _clip(text), "a record must be a JSON object"), size
            continue
        yield RawRecord(number, value, _clip(text)), size


def read_csv(stream: BinaryIO, *, limit: int = MAX_RECORD_BYTES) -> Iterator[tuple[RawRecord | None, int]]:
    """Records of a CSV stream with a header row; empty cells are missing values.

    A row that is not UTF-8 is rejected on its own: bytes that do not decode are carried
    through the CSV parser as surrogates, so one bad row never stops the rows after it.
    """
    csv.field_size_limit(limit)
    # utf-8-sig: spreadsheets often start a CSV with a byte-order mark.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    if (problem := _not_utf8(header, header)) is not None:
        raise HealthdeckError(f"the header row is {problem}; save the file as UTF-8")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRecord(reader.line_num, None, "", f"malformed CSV: {exc}"), 0
            continue
        yield _csv_record(reader.line_num, header, row)


def _csv_record(line: int, header: list[str], row: list[str]) -> tuple[RawRecord | None, int]:
    joined, problem = ",".join(row), None
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:  # a surrogate: bytes that were not UTF-8
        joined, problem = _readable(joined), _not_utf8(header, row)
    raw = _clip(joined)
    size = len(raw) + 1
    if not any(cell.strip() for cell in row):
        return None, size
    if problem is not None:
        return RawRecord(line, None, raw, f"{problem}; save the file as UTF-8"), size
    if len(row) > len(header):
        return RawRecord(line, None, raw, f"{len(row)} values but the header has {len(header)} columns"), size
    fields = {name: (cell if cell != "" else None) for name, cell in zip(header, row, strict=False)}
    return RawRecord(line, fields, raw), size


def _not_utf8(header: list[str], row: list[str]) -> str | None:
    """Where a row holds bytes that are not UTF-8 (decoded as surrogates), or None."""
    for number, cell in enumerate(row):
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError as exc:
            byte = cell[exc.start].encode("utf-8", "surrogateescape")[0]
            column = f'"{_readable(header[number][:80])}"' if number < len(header) else f"{number + 1}"
            return f"not UTF-8 text: byte 0x{byte:02x} in column {column}"
    return None


def _readable(text: str) -> str:
    """Text decoded with surrogate escapes, with each undecodable byte shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_parquet(path: str, *, batch_rows: int) -> Iterator[ArrowChunk]:
    """Row groups of a Parquet file as typed Arrow tables."""
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise HealthdeckError(f"not a readable Parquet file: {exc}") from exc
    line = 1
    batches = parquet.iter_batches(batch_size=batch_rows)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            reason = " ".join(str(exc).split())
            raise HealthdeckError(f"unreadable from row {line} on; those rows were not stored: {reason}") from exc
        table = pa.Table.from_batches([batch])
        yield ArrowChunk(table, line)
        line += table.num_rows


def open_binary(path: str) -> BinaryIO:
    """Open a file (or standard input for "-") for reading bytes."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise HealthdeckError(f"cannot open: {exc.strerror}") from exc


def _clip(text: bytes | str, size: int = 2000) -> str:
    value = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return value if len(value) <= size else value[:size] + "…"

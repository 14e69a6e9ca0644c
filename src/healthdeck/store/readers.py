"""Readers: the records of JSON Lines, CSV and Parquet files, with their line numbers.

A block of lines (store/blocks.py) becomes Arrow tables where pyarrow reads its lines as rows, and
records parsed one by one where it cannot; Parquet comes in row groups. No line longer than the
size limit is ever held whole.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pj
import pyarrow.parquet as pq

from healthdeck.errors import HealthdeckError
from healthdeck.store.blocks import MAX_RECORD_BYTES, LineBlock, line_blocks
from healthdeck.store.schema import KINDS

# Names of the staging table's own columns, which a record cannot use as fields.
STAGING_NAMES = ("_line", "_pre_error", "_raw")
OPEN, CLOSE, CR = ord("{"), ord("}"), ord("\r")


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


def read_jsonl(stream: BinaryIO, *, limit: int = MAX_RECORD_BYTES) -> Iterator[RawRecord]:
    """Records of a JSON Lines stream, one by one (with a line read as `healthdeck ingest` reads it);
    blank lines are skipped. Read in small pieces: a caller looking for the first record stops early."""
    for block in line_blocks(stream, max_lines=64, max_bytes=1 << 16, limit=limit, read_bytes=1 << 16):
        for number, line in enumerate(block.lines, block.first_line):
            if (record := jsonl_record(number, line, limit=limit)) is not None:
                yield record


def jsonl_record(number: int, line: bytes | int, *, limit: int = MAX_RECORD_BYTES) -> RawRecord | None:
    """One line of JSON Lines as a record (None when blank); an int stands for a line over the limit, by size."""
    if isinstance(line, int):
        return RawRecord(number, None, "", f"record is {line} bytes, over the {limit}-byte limit")
    text = line.strip()
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return RawRecord(number, None, _clip(text), f"malformed JSON: {exc}")
    if not isinstance(value, dict):
        return RawRecord(number, None, _clip(text), "a record must be a JSON object")
    return RawRecord(number, value, _clip(text))


def raw_text(line: bytes | int) -> str:
    """A line as shown in the rejects file."""
    return "" if isinstance(line, int) else _clip(line.strip())


# pyarrow reads a block of lines in chunks of this size, which must hold the longest line.
ARROW_JSON = pj.ReadOptions(block_size=4 * MAX_RECORD_BYTES)


def _text_field_names() -> frozenset[str]:
    """Fields that are text or timestamps in every kind: pyarrow would otherwise make timestamps of
    some spellings ("…T10:00:00+00:00") and not others, and validation wants the text."""
    types: dict[str, set[str]] = {}
    for kind in KINDS.values():
        for f in kind.fields:
            types.setdefault(f.name, set()).add(f.type)
    return frozenset(name for name, used in types.items() if used <= {"VARCHAR", "TIMESTAMPTZ"})


TEXT_FIELDS = _text_field_names()


@lru_cache(maxsize=64)
def _read_as_text(names: frozenset[str]) -> pj.ParseOptions:
    """Parse options reading the text fields among `names` as strings, and inferring the others."""
    schema = pa.schema([(name, pa.string()) for name in sorted(names & TEXT_FIELDS)])
    return pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")


# Every kind's text fields as strings: right for any block, but pyarrow then makes a column of
# nulls of each field no line has, which triples its time for a block of one kind.
ARROW_JSON_FIELDS = _read_as_text(TEXT_FIELDS)
# Below this many lines, a block pyarrow cannot read is parsed line by line instead of halved again.
SMALLEST_HALF = 64


def jsonl_pieces(block: LineBlock, *, limit: int = MAX_RECORD_BYTES) -> Iterator[pa.Table | list[RawRecord]]:
    """The records of a block: Arrow tables (with `_line`) where pyarrow reads the lines, else records.

    pyarrow refuses a whole block for one bad line, so a block it refuses is halved until the
    lines it cannot read are found; only those small pieces are parsed line by line.
    """
    if block.text is not None and (table := _whole_block_table(block)) is not None:
        yield table
        return
    yield from _pieces(block.lines, block.first_line, limit)


def _whole_block_table(block: LineBlock) -> pa.Table | None:
    """A block read whole as one Arrow table with `_line`, when every line is one JSON object."""
    text = cast(bytes, block.text)
    if not _objects_only(text, block.newlines) or not _utf8(text):
        return None
    table = _read_objects(text, block.head())
    if table is None or table.num_rows != block.count or any(name in STAGING_NAMES for name in table.column_names):
        return None
    return table.append_column("_line", line_numbers(block.first_line, block.count))


def _objects_only(text: bytes, newlines: np.ndarray) -> bool:
    """Whether each line of `text` is "{…}" (a CR may end it): the file's bytes are only cut at
    newlines, and JSON text holds a newline nowhere else. A line holding two objects is found by
    the row count.

    Only the bytes around the newlines blocks.py found are looked at: counting "}\\n{" in the
    whole text took 0.22 s of CPU a million request lines (315 MB), this 0.05 s."""
    if not (text.startswith(b"{") and text.endswith((b"}", b"}\r"))):
        return False
    data = np.frombuffer(text, np.uint8)
    before, after = data[newlines - 1], data[newlines + 1]
    # A newline is never the first byte, so newlines - 2 only wraps where `before` is "{", not CR.
    closed = (before == CLOSE) | ((before == CR) & (data[newlines - 2] == CLOSE))
    return bool(closed.all() and (after == OPEN).all())


def line_numbers(first: int, count: int) -> pa.Array:
    """Line numbers `first` … `first + count - 1`, as the `_line` column."""
    return pa.array(np.arange(first, first + count, dtype=np.int64))


def _pieces(lines: list[bytes | int], first: int, limit: int) -> Iterator[pa.Table | list[RawRecord]]:
    table = _arrow_table(lines, first)
    if table is not None:
        yield table
    elif len(lines) > SMALLEST_HALF:
        half = len(lines) // 2
        yield from _pieces(lines[:half], first, limit)
        yield from _pieces(lines[half:], first + half, limit)
    elif records := [r for n, line in enumerate(lines, first) if (r := jsonl_record(n, line, limit=limit))]:
        yield records


def _arrow_table(lines: list[bytes | int], first: int) -> pa.Table | None:
    """The lines as one Arrow table with `_line`, or None when pyarrow cannot read each line as one record."""
    numbered = _object_lines(lines)
    if numbered is None:
        return None
    data = b"\n".join(lines)  # type: ignore[arg-type]  # _object_lines checked they are all bytes
    if not _utf8(data):
        return None
    table = _read_objects(data, lines[numbered[0]] if numbered else None)
    if table is None:
        return None
    if table.num_rows != len(numbered) or any(name in STAGING_NAMES for name in table.column_names):
        return None
    return table.append_column("_line", pa.array([first + i for i in numbered], pa.int64()))


def _read_objects(data: bytes, first: bytes | int | None) -> pa.Table | None:
    """Lines of JSON objects as a table, reading the text fields of the `first` line's as text (or
    every kind's, when the block turns out to hold a text field the first line does not have)."""
    table = _read_json(data, _first_fields(first) if first is not None else ARROW_JSON_FIELDS)
    if table is not None and any(pa.types.is_timestamp(t) for t in table.schema.types):
        table = _read_json(data, ARROW_JSON_FIELDS)
    return table


def _first_fields(line: bytes | int) -> pj.ParseOptions:
    """Parse options for a block, from its first line: its fields and those of its kind. A block is
    nearly always of one kind; a text field of another only costs a second reading (`_read_objects`)."""
    try:
        first = orjson.loads(cast(bytes, line))
    except orjson.JSONDecodeError:
        return ARROW_JSON_FIELDS
    if not isinstance(first, dict):
        return ARROW_JSON_FIELDS
    kind = KINDS.get(first["kind"]) if isinstance(first.get("kind"), str) else None
    return _read_as_text(frozenset(first) | frozenset(kind.columns if kind else ()))


def _utf8(data: bytes) -> bool:
    """Whether `data` is UTF-8 text, which pyarrow does not check."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_json(data: bytes, options: pj.ParseOptions) -> pa.Table | None:
    try:
        return pj.read_json(io.BytesIO(data), read_options=ARROW_JSON, parse_options=options)
    except pa.ArrowException:
        return None


def _object_lines(lines: list[bytes | int]) -> range | list[int] | None:
    """Indexes of the non-blank lines when each looks like one JSON object ("{…}"), else None.

    pyarrow takes a line holding `null` for a record, and crashes on a block that is only
    that, so no other line ever reaches it. Each non-blank line holding one object is then
    checked by the row count: a line holding two would add a row.
    """
    try:
        opened = sum(map(bytes.startswith, lines, repeat(b"{")))  # type: ignore[arg-type]
        closed = sum(map(bytes.endswith, lines, repeat((b"}", b"}\r"))))  # type: ignore[arg-type]
    except TypeError:  # a line over the size limit
        return None
    if opened == closed == len(lines):
        return range(len(lines))
    numbered = []
    for number, line in enumerate(lines):
        text = line.strip()  # type: ignore[union-attr]
        if text and not (text.startswith(b"{") and text.endswith(b"}")):
            return None
        if text:
            numbered.append(number)
    return numbered


# -- CSV ----------------------------------------------------------------------------------------

# What a CSV line may hold and still be an empty row, once its quotes are looked at.
QUOTED_BLANKS = b' ,\t\r\x0b\x0c"'


def csv_header(line: bytes | int) -> list[str]:
    """The column names of a CSV header row; a header that is not UTF-8 refuses the file."""
    if isinstance(line, int):
        raise HealthdeckError(f"the header row is {line} bytes, over the {MAX_RECORD_BYTES}-byte limit")
    header = next(csv.reader(io.StringIO(line.decode("utf-8", "surrogateescape"), newline="")), [])
    if (problem := _not_utf8(header, header)) is not None:
        raise HealthdeckError(f"the header row is {problem}; save the file as UTF-8")
    return header


def csv_pieces(
    header: list[str], block: LineBlock, *, limit: int = MAX_RECORD_BYTES
) -> Iterator[pa.Table | list[RawRecord]]:
    """The records of a block of CSV rows: Arrow tables (text columns and `_line`) where pyarrow reads
    one row per line, else records read one by one (a block without quotes is halved to find the
    rows pyarrow cannot read: not UTF-8, too many or too few values)."""
    arrow_ok = len(set(header)) == len(header) and all(header) and not set(header) & set(STAGING_NAMES)
    if arrow_ok and block.text is not None and (table := _whole_csv_table(header, block)) is not None:
        yield table
        return
    yield from _csv_pieces(header, block.lines, block.first_line, limit=limit, arrow_ok=arrow_ok)


def _whole_csv_table(header: list[str], block: LineBlock) -> pa.Table | None:
    """A block read whole as one Arrow table with `_line`, when each line is one row and none is blank.

    A blank row (only commas, spaces or quotes) is skipped, not a record: a row whose first value
    is empty or spaces may be one, so such a block is read line by line instead.
    """
    text = cast(bytes, block.text)
    if not _utf8(text) or (b"\r" in text and text.count(b"\r") != text.count(b"\r\n")):
        return None  # pyarrow ends a row at a lone carriage return too: only lines can tell
    table = _read_csv(header, text)
    if table is None or table.num_rows != block.count:  # an empty line, or a quoted value spanning lines
        return None
    first = table.column(0)
    if pc.any(pc.or_(pc.is_null(first), pc.fill_null(pc.utf8_is_space(first), False))).as_py():
        return None
    return table.append_column("_line", line_numbers(block.first_line, block.count))


def _csv_pieces(
    header: list[str], lines: list[bytes | int], first: int, *, limit: int, arrow_ok: bool
) -> Iterator[pa.Table | list[RawRecord]]:
    table = _arrow_csv(header, lines, first) if arrow_ok else None
    if table is not None:
        yield table
    elif arrow_ok and len(lines) > SMALLEST_HALF and not any(b'"' in line for line in lines if isinstance(line, bytes)):
        half = len(lines) // 2
        yield from _csv_pieces(header, lines[:half], first, limit=limit, arrow_ok=arrow_ok)
        yield from _csv_pieces(header, lines[half:], first + half, limit=limit, arrow_ok=arrow_ok)
    elif records := csv_records(header, lines, first, limit=limit):
        yield records


def _arrow_csv(header: list[str], lines: list[bytes | int], first: int) -> pa.Table | None:
    numbered = _csv_row_lines(lines)
    if numbered is None:
        return None
    kept = lines if len(numbered) == len(lines) else [lines[i] for i in numbered]
    data = b"\n".join(kept)  # type: ignore[arg-type]  # _csv_row_lines checked they are all bytes
    table = _read_csv(header, data) if _utf8(data) else None
    if table is None:
        return None
    if table.num_rows != len(numbered):  # a quoted value spanning lines: line numbers need the row reader
        return None
    return table.append_column("_line", pa.array([first + i for i in numbered], pa.int64()))


def _read_csv(header: list[str], data: bytes) -> pa.Table | None:
    """CSV rows (no header row) as text columns named by `header`, or None when pyarrow cannot read them."""
    options = pcsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    try:
        return pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(column_names=header, block_size=4 * MAX_RECORD_BYTES),
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            convert_options=options,
        )
    except pa.ArrowException:
        return None


def _csv_row_lines(lines: list[bytes | int]) -> list[int] | range | None:
    """Indexes of the lines that are not blank rows (only commas and spaces), or None when a line is
    over the limit or only quotes tell whether it is blank."""
    try:
        empty = [i for i, line in enumerate(lines) if not line.strip(QUOTED_BLANKS)]  # type: ignore[union-attr]
    except AttributeError:  # a line over the size limit
        return None
    if not empty:
        return range(len(lines))
    if any(b'"' in lines[i] for i in empty):  # type: ignore[operator]
        return None
    skipped = set(empty)
    return [i for i in range(len(lines)) if i not in skipped]


def csv_records(
    header: list[str], lines: list[bytes | int], first: int, *, limit: int = MAX_RECORD_BYTES
) -> list[RawRecord]:
    """The rows of CSV lines read one by one, as `healthdeck ingest` always read them."""
    records: list[RawRecord] = []
    segment: list[bytes] = []
    for number, line in enumerate(lines, first):
        if isinstance(line, int):
            records += _csv_segment(header, segment, number - len(segment), limit=limit)
            records.append(RawRecord(number, None, "", f"record is {line} bytes, over the {limit}-byte limit"))
            segment = []
        else:
            segment.append(line)
    records += _csv_segment(header, segment, first + len(lines) - len(segment), limit=limit)
    return records


def _csv_segment(header: list[str], lines: list[bytes], first: int, *, limit: int) -> list[RawRecord]:
    """Rows of consecutive lines; a row that is not UTF-8 is rejected on its own (its bytes are read as
    surrogates, so the rows after it are read)."""
    csv.field_size_limit(limit)
    text = b"\n".join(lines).decode("utf-8", "surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[RawRecord] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return records
        except csv.Error as exc:
            records.append(RawRecord(first - 1 + reader.line_num, None, "", f"malformed CSV: {exc}"))
            continue
        if (record := _csv_record(first - 1 + reader.line_num, header, row)) is not None:
            records.append(record)


def _csv_record(line: int, header: list[str], row: list[str]) -> RawRecord | None:
    joined, problem = ",".join(row), None
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:  # a surrogate: bytes that were not UTF-8
        joined, problem = _readable(joined), _not_utf8(header, row)
    raw = _clip(joined)
    if not any(cell.strip() for cell in row):
        return None
    if problem is not None:
        return RawRecord(line, None, raw, f"{problem}; save the file as UTF-8")
    if len(row) > len(header):
        return RawRecord(line, None, raw, f"{len(row)} values but the header has {len(header)} columns")
    fields = {name: (cell if cell != "" else None) for name, cell in zip(header, row, strict=False)}
    return RawRecord(line, fields, raw)


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

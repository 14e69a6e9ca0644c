"""Ingest reads JSON Lines and CSV a block of lines at a time with pyarrow: whatever pyarrow cannot read
is found line by line, so every bad record is still rejected alone, with its own line, and no good
record of the block is lost; line numbers hold across blank lines, CRLF and quoted multi-line values."""

from __future__ import annotations

import io
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthdeck.store.blocks import BOM, MAX_RECORD_BYTES, line_blocks, whole_line_blocks
from healthdeck.store.connection import Store
from healthdeck.store.ingest import IngestReport, ingest_files, stage_arrow
from healthdeck.store.readers import jsonl_pieces, read_jsonl
from healthdeck.store.schema import KINDS

NOW = datetime.now(UTC).replace(microsecond=0)
GOOD = 600  # several times the smallest piece a block is halved into


def request(i: int, **changes: Any) -> dict[str, Any]:
    record = {
        "kind": "requests",
        "event_id": f"r{i}",
        "ts": (NOW - timedelta(seconds=i)).isoformat(),
        "tenant_id": "t1",
        "endpoint": "/v1/train",
        "method": "POST",
        "status": 200,
        "latency_ms": 40.5,
    }
    return {**record, **changes}


def line(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)


def ingest(store: Store, path: Path, **options: Any) -> IngestReport:
    return ingest_files(store, [str(path)], rejects_path=path.with_suffix(".rejects.jsonl"), **options)


def rejects(report: IngestReport) -> dict[int, str]:
    assert report.rejects_file is not None
    entries = [orjson.loads(text) for text in Path(report.rejects_file).read_bytes().splitlines()]
    return {entry["line"]: entry["error"] for entry in entries}


# Lines pyarrow cannot read, or reads into types that text would not match, with the reason each gets.
BAD_JSON_LINES: list[tuple[bytes, str]] = [
    (b'{"event_id": "m1", "ts": ', "malformed JSON"),
    (b"null", "a record must be a JSON object"),
    (b"[1, 2]", "a record must be a JSON object"),
    (b"42", "a record must be a JSON object"),
    (line(request(9001)) + line(request(9002)), "malformed JSON"),  # two records on one line
    (line(request(9003, status=200.5)), 'field "status": expected a whole number, got 200.5'),
    (line(request(9004, status="0xC8")), 'field "status": expected a whole number, got 0xC8'),
    (line(request(9005, tenant_id=True)), 'field "tenant_id": expected text, got true'),
    (line(request(9006, tenant_id={"a": 1})), 'field "tenant_id": expected text, got {"a":1}'),
    (line(request(9007, kind="nope")), "unknown kind 'nope'"),
    (line(request(9008, extra={"x": [1]})), "unknown field 'extra' for kind requests"),
    (line(request(9009, _raw="x")), "unknown field '_raw' for kind requests"),
    (b'{"event_id": "u1", "endpoint": "caf\xe9"}', "malformed JSON"),  # not UTF-8
]


def test_bad_lines_inside_a_large_block_are_rejected_alone_with_their_line(store: Store, tmp_path: Path) -> None:
    lines = [line(request(i)) for i in range(GOOD)]
    for n, (bad, _) in enumerate(BAD_JSON_LINES):
        lines.insert(37 * (n + 1), bad)
    expected = {lines.index(bad) + 1: reason for bad, reason in BAD_JSON_LINES}
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest(store, path)
    assert (report.accepted, report.rejected) == (GOOD, len(BAD_JSON_LINES))
    found = rejects(report)
    assert sorted(found) == sorted(expected)
    for number, reason in expected.items():
        assert reason in found[number], (number, found[number])
    assert store.count("requests") == GOOD


def test_line_numbers_count_blank_lines_crlf_and_padding(store: Store, tmp_path: Path) -> None:
    body = [line(request(i)) + b"\r" for i in range(200)]
    body[50:50] = [b"", b"   ", b"\r", b"  " + line(request(900)) + b"  "]
    body.append(line(request(901, method="FETCH")) + b"\r")
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(body))
    report = ingest(store, path)
    assert (report.accepted, report.rejected) == (201, 1)
    assert list(rejects(report)) == [len(body)]


def test_whole_numbers_past_double_precision_keep_every_digit(store: Store, tmp_path: Path) -> None:
    # One fraction in a column makes pyarrow read all of it as doubles, which would round this id.
    big = 9007199254740993
    records = [request(i) for i in range(100)] + [
        request(100, request_bytes=big),
        request(101, request_bytes=2.0),
        request(102, latency_ms=7),
    ]
    report = ingest(store, write_lines(tmp_path / "big.jsonl", records))
    assert (report.accepted, report.rejected) == (103, 0)
    stored = store.con.execute("SELECT event_id, request_bytes FROM requests WHERE request_bytes IS NOT NULL")
    assert sorted(stored.fetchall()) == [("r100", big), ("r101", 2)]


def write_lines(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(line(record) + b"\n" for record in records))
    return path


def test_kinds_mixed_in_one_block_with_json_fields_keep_their_canonical_content(store: Store, tmp_path: Path) -> None:
    activity = {"kind": "activity", "ts": NOW.isoformat(), "tenant_id": "t1", "user_id": "u1", "event": "login"}
    records: list[dict[str, Any]] = []
    for i in range(150):
        records.append(request(i))
        records.append({**activity, "event_id": f"a{i}", "properties": {"b": i, "a": [1, {"z": None}]}})
    records.append({**activity, "event_id": "a0", "properties": '{"a": [1, {"z": null}], "b": 0}'})  # the same
    report = ingest(store, write_lines(tmp_path / "kinds.jsonl", records))
    assert (report.accepted, report.duplicates, report.rejected) == (300, 1, 0)
    assert report.by_kind == {"requests": 150, "activity": 150}
    stored = store.con.execute("SELECT CAST(properties AS VARCHAR) FROM activity WHERE event_id = 'a7'").fetchall()
    assert stored == [('{"a":[1,{"z":null}],"b":7}',)]


CSV_HEADER = b"event_id,ts,tenant_id,endpoint,method,status,latency_ms"


def csv_line(i: int, endpoint: str = "/v1/a") -> bytes:
    return f"c{i},{(NOW - timedelta(seconds=i)).isoformat()},t1,{endpoint},GET,200,1.5".encode()


def test_csv_blank_rows_quoted_newlines_and_bad_rows_keep_their_line(store: Store, tmp_path: Path) -> None:
    lines = [CSV_HEADER] + [csv_line(i) for i in range(300)]
    lines[100:100] = [b",,,,,,", b"  , ,", b""]  # blank rows: skipped, not records
    lines[150:150] = [csv_line(900, endpoint='"/v1/a,\nb"')]  # one record over two lines
    lines.insert(200, csv_line(901) + b",extra")
    lines.insert(250, csv_line(902, endpoint="/caf\xe9").replace(b"\xc3\xa9", b"\xe9"))
    lines.insert(260, csv_line(903).replace(b"GET", b"FETCH"))
    path = tmp_path / "rows.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    report = ingest(store, path, kind="requests")
    physical = b"\r\n".join(lines).split(b"\n")  # line numbers as a text editor shows them

    def number(marker: bytes) -> int:
        return next(n for n, text in enumerate(physical, 1) if marker in text)

    found = rejects(report)
    assert set(found) == {number(b"c901,"), number(b"c902,"), number(b"c903,")}
    assert found[number(b"c901,")] == "8 values but the header has 7 columns"
    assert found[number(b"c902,")] == 'not UTF-8 text: byte 0xe9 in column "endpoint"; save the file as UTF-8'
    assert "must be one of" in found[number(b"c903,")]
    assert (report.accepted, report.rejected) == (301, 3)
    multi = store.con.execute("SELECT endpoint FROM requests WHERE event_id = 'c900'").fetchall()
    assert multi == [("/v1/a,\nb",)]


@pytest.mark.parametrize("blank", [b",,,,,,", b"  , , , , , , ", b" \t,,,,,,"], ids=["commas", "spaces", "tab"])
def test_a_blank_row_in_a_block_read_whole_is_skipped_not_a_record(store: Store, tmp_path: Path, blank: bytes) -> None:
    # Without an empty line or a quote, a block is read whole by pyarrow, which takes a row of commas
    # or spaces for a record of empty values: such rows are found and the block read line by line.
    lines = [CSV_HEADER] + [csv_line(i) for i in range(300)]
    lines.insert(120, blank)
    path = tmp_path / "rows.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest(store, path, kind="requests")
    assert (report.accepted, report.rejected) == (300, 0)
    assert store.con.execute("SELECT count(*) FROM requests WHERE event_id = 'c119'").fetchall() == [(1,)]


def test_a_lone_carriage_return_in_a_csv_block_keeps_every_line_number(store: Store, tmp_path: Path) -> None:
    # pyarrow ends a row at "\r", and skips an empty line: together they would keep the row count of
    # the lines while shifting every number in between.
    lines = [CSV_HEADER] + [csv_line(i) for i in range(300)]
    lines[50] = lines[50] + b"\r" + csv_line(900)
    lines.insert(80, csv_line(901).replace(b"GET", b"FETCH"))
    lines.insert(100, b"")
    path = tmp_path / "rows.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest(store, path, kind="requests")
    assert rejects(report) == {
        81: 'field "method": must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS; got FETCH'
    }


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_lines_at_the_size_limit_are_read_and_one_byte_over_is_rejected(store: Store, tmp_path: Path, fmt: str) -> None:
    def sized(i: int, size: int) -> bytes:
        record = line(request(i, endpoint="")) if fmt == "jsonl" else csv_line(i, endpoint="")
        padding = size - len(record)
        return line(request(i, endpoint="x" * padding)) if fmt == "jsonl" else csv_line(i, endpoint="x" * padding)

    rows = [sized(1, MAX_RECORD_BYTES), sized(2, MAX_RECORD_BYTES + 1), sized(3, 100)]
    head = [CSV_HEADER] if fmt == "csv" else []
    path = tmp_path / f"sized.{fmt}"
    path.write_bytes(b"\n".join(head + rows) + b"\n")
    report = ingest(store, path, kind="requests")
    assert (report.accepted, report.rejected) == (2, 1)
    [(number, reason)] = rejects(report).items()
    assert number == 2 + len(head)
    assert reason == f"record is {MAX_RECORD_BYTES + 1} bytes, over the {MAX_RECORD_BYTES}-byte limit"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_line_over_the_limit_is_never_held_whole(store: Store, tmp_path: Path, fmt: str) -> None:
    # A 192 MB line among small ones: rejected by its line and size, its neighbours stored, and
    # Python's memory (where a read line would be) never holds half of it: the file is read in
    # chunks of 8 MB, and a line over the limit is skipped chunk by chunk, counting its bytes.
    huge = 192 << 20
    record = line(request(2, endpoint="x" * huge)) if fmt == "jsonl" else csv_line(2, endpoint="x" * huge)
    rows = [line(request(1)), record, line(request(3))] if fmt == "jsonl" else [csv_line(1), record, csv_line(3)]
    head = [CSV_HEADER] if fmt == "csv" else []
    path = tmp_path / f"huge.{fmt}"
    path.write_bytes(b"\n".join(head + rows) + b"\n")
    del record, rows
    tracemalloc.start()
    try:
        report = ingest(store, path, kind="requests")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (report.accepted, report.rejected) == (2, 1)
    size = huge + len(line(request(2, endpoint=""))) if fmt == "jsonl" else huge + len(csv_line(2, endpoint=""))
    assert rejects(report) == {2 + len(head): f"record is {size} bytes, over the {MAX_RECORD_BYTES}-byte limit"}
    assert peak < huge // 2, f"peak {peak:,} bytes of Python memory for a {huge:,}-byte line"


LINES = st.lists(
    st.sampled_from([b"", b"\r", b"{}", b'{"a": 1}', b"x" * 30, BOM + b"{}", b'"q\nr"', b'"x', b"a,b"]), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(
    lines=LINES,
    ending=st.sampled_from([b"", b"\n"]),
    bom=st.booleans(),
    max_lines=st.integers(1, 10),
    max_bytes=st.integers(1, 200),
    limit=st.integers(5, 40),
    read_bytes=st.integers(1, 64),
    whole_quotes=st.booleans(),
    first_bytes=st.one_of(st.none(), st.integers(1, 200)),
)
def test_blocks_read_whole_number_the_same_lines_as_blocks_split_into_lines(
    lines: list[bytes],
    ending: bytes,
    bom: bool,
    max_lines: int,
    max_bytes: int,
    limit: int,
    read_bytes: int,
    whole_quotes: bool,
    first_bytes: int | None,
) -> None:
    # Files are read in whole blocks (no split and join of each line), falling back to the line
    # reader from the first line over the limit (or, for CSV, the first block whose quotes do not
    # pair up): every line keeps its number, text or size, however small the first block.
    data = (BOM if bom else b"") + b"\n".join(lines) + ending
    options = {"max_lines": max_lines, "limit": limit, "whole_quotes": whole_quotes}
    sizes = {"max_bytes": max_bytes, "read_bytes": read_bytes, "first_bytes": first_bytes}
    whole = list(whole_line_blocks(io.BytesIO(data), **sizes, **options))
    split = list(line_blocks(io.BytesIO(data), **options))

    def numbered(blocks: list[Any]) -> list[tuple[int, bytes | int]]:
        return [(block.first_line + i, text) for block in blocks for i, text in enumerate(block.lines)]

    assert numbered(whole) == numbered(split)
    assert sum(block.size for block in whole) == sum(block.size for block in split)
    # (The line reader lets a block grow past max_lines to keep a quoted value whole.)
    assert all(0 < len(block.lines) <= max_lines for block in whole if block.text is not None or not whole_quotes)
    if whole_quotes:  # a quoted value spanning lines is never cut in two
        assert all(block.text.count(b'"') % 2 == 0 for block in whole[:-1] if block.text is not None)


def test_the_first_block_ends_after_first_bytes_and_the_others_after_max_bytes() -> None:
    data = b"".join(b"%09d\n" % i for i in range(100))  # 100 lines of 10 bytes
    whole = list(whole_line_blocks(io.BytesIO(data), max_lines=1000, max_bytes=300, read_bytes=50, first_bytes=100))
    assert [block.count for block in whole] == [10, 30, 30, 30]
    assert [block.first_line for block in whole] == [1, 11, 41, 71]
    # A first size above max_bytes is max_bytes.
    whole = list(whole_line_blocks(io.BytesIO(data), max_lines=1000, max_bytes=300, read_bytes=50, first_bytes=900))
    assert [block.count for block in whole] == [30, 30, 30, 10]


def test_blocks_of_lines_near_the_limit_stay_near_their_byte_bound() -> None:
    # 200 lines of almost 1 MB with the default 50,000 lines per batch: memory is bounded by bytes.
    data = (b"x" * (MAX_RECORD_BYTES - 1) + b"\n") * 200
    blocks = list(line_blocks(io.BytesIO(data), max_lines=50_000, max_bytes=16 * MAX_RECORD_BYTES))
    assert sum(len(block.lines) for block in blocks) == 200
    assert max(block.size for block in blocks) <= 17 * MAX_RECORD_BYTES


@pytest.mark.parametrize(
    "ts", [NOW.isoformat(), "2026-11-25T10:00:00Z", "2026-11-25 10:00:00.125+02:00"], ids=["iso", "zulu", "fraction"]
)
def test_usual_records_stay_on_the_vectorised_path(ts: str) -> None:
    # pyarrow would make timestamps of some spellings, which only the record-by-record path could stage.
    data = b"".join(line(request(i, ts=ts, deprecated=False, request_bytes=10)) + b"\n" for i in range(500))
    [block] = list(line_blocks(io.BytesIO(data), max_lines=50_000))
    [piece] = list(jsonl_pieces(block))
    assert not isinstance(piece, list)
    staged = stage_arrow(KINDS["requests"], piece)
    assert staged is not None and staged.column("ts").to_pylist()[:1] == [ts]


def test_a_block_of_one_kind_is_read_with_only_its_kinds_fields() -> None:
    # Declaring every kind's text fields made pyarrow build dozens of all-null columns per block.
    data = b"".join(line(request(i)) + b"\n" for i in range(200))
    [block] = list(line_blocks(io.BytesIO(data), max_lines=50_000))
    [piece] = list(jsonl_pieces(block))
    assert not isinstance(piece, list)
    assert set(piece.column_names) <= {*KINDS["requests"].columns, "kind", "_line"}
    assert set(piece.column_names) >= {*request(0), "_line"}


def test_a_text_field_the_first_line_lacks_is_still_read_as_text() -> None:
    # The first line (a tenant) has no "ts": pyarrow would make timestamps of the requests' times,
    # which only the record-by-record path could stage; the block is read again with every text field.
    tenant = {"kind": "tenants", "tenant_id": "t1", "name": "Acme", "tier": "PRO", "created_at": "2025-01-01T00:00:00Z"}
    data = line(tenant) + b"\n" + b"".join(line(request(i)) + b"\n" for i in range(200))
    [block] = list(line_blocks(io.BytesIO(data), max_lines=50_000))
    [piece] = list(jsonl_pieces(block))
    assert not isinstance(piece, list)
    assert piece.schema.field("ts").type == "string"
    assert piece.column("ts").to_pylist()[1] == request(0)["ts"]


def test_json_fields_are_staged_vectorised_with_sorted_keys_and_missing_keys_kept_missing(
    store: Store, tmp_path: Path
) -> None:
    activity = {"kind": "activity", "ts": NOW.isoformat(), "tenant_id": "t1", "user_id": "u1", "event": "login"}
    properties: list[Any] = [{"b": 1, "a": {"y": None, "x": 2}}, {}, {"a": None}, {"a": {"x": 2, "y": None}, "b": 1}]
    records = [{**activity, "event_id": f"a{i}", "properties": properties[i % 4]} for i in range(200)]
    data = b"".join(line(record) + b"\n" for record in records)
    [block] = list(line_blocks(io.BytesIO(data), max_lines=50_000))
    [piece] = list(jsonl_pieces(block))
    assert not isinstance(piece, list)

    def originals(lines: list[int]) -> list[dict[str, Any]]:
        return [orjson.loads(data.splitlines()[n - 1]) for n in lines]

    staged = stage_arrow(KINDS["activity"], piece, originals=originals)
    assert staged is not None
    assert staged.column("properties").to_pylist()[:4] == [
        '{"a":{"x":2,"y":null},"b":1}',
        "{}",
        '{"a":null}',
        '{"a":{"x":2,"y":null},"b":1}',
    ]
    report = ingest(store, write_lines(tmp_path / "activity.jsonl", records))
    assert (report.accepted, report.rejected) == (200, 0)
    stored = store.con.execute("SELECT DISTINCT CAST(properties AS VARCHAR) FROM activity ORDER BY 1").fetchall()
    assert stored == [('{"a":null}',), ('{"a":{"x":2,"y":null},"b":1}',), ("{}",)]


def test_reading_records_one_by_one_reads_no_further_than_the_record_asked_for() -> None:
    # The server's check that a body holds a record stops at its first one, whatever the body's size.
    data = io.BytesIO(b"\n" + line(request(1)) + b"\n" + (line(request(3)) + b"\n") * 200_000)
    first = next(read_jsonl(data))
    assert (first.line, first.fields) == (2, request(1))
    assert data.tell() <= 1 << 16


def test_reading_records_one_by_one_reads_little_past_a_long_first_line() -> None:
    long_line = line(request(1, endpoint="/" + "x" * 900_000)) + b"\n"
    data = io.BytesIO(long_line * 60)
    assert next(read_jsonl(data)).line == 1
    assert data.tell() <= len(long_line) + (1 << 16)

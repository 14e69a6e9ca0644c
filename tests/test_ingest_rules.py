"""Ingest loses nothing and changes nothing silently: every record is stored, a duplicate, or reported."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from healthdeck.store.connection import Store
from healthdeck.store.ingest import IngestReport, ingest_files
from healthdeck.store.schema import KINDS

from .conftest import run_cli, write_jsonl
from .test_ingest import NOW, request

CSV_HEADER = b"event_id,ts,tenant_id,endpoint,method,status,latency_ms\n"


def csv_row(i: int) -> bytes:
    return f"c{i},{(NOW - timedelta(seconds=i)).isoformat()},t1,/v1/a,GET,200,{i % 90}.5\n".encode()


def ingest(store: Store, path: Path, **options: Any) -> IngestReport:
    return ingest_files(store, [str(path)], rejects_path=path.with_suffix(".rejects.jsonl"), **options)


def reasons(report: IngestReport) -> list[str]:
    return [r.describe() for r in report.first_rejects]


def stored_ids(store: Store, table: str = "requests") -> list[str]:
    return sorted(row[0] for row in store.con.execute(f"SELECT event_id FROM {table}").fetchall())


# -- invalid UTF-8 in a CSV ---------------------------------------------------------------------


def test_csv_row_that_is_not_utf8_is_rejected_alone_and_no_good_row_is_lost(tmp_path: Path) -> None:
    # The case at a smaller scale: 1,200 good rows with batches of 500 committed two
    # batches, then the bad row dropped the 200 pending rows and the 10 rows after it.
    path = tmp_path / "requests.csv"
    bad = b"bad,2026-11-25T10:00:00Z,t1,/v1/caf\xe9,GET,200,1.5\n"
    path.write_bytes(
        CSV_HEADER + b"".join(csv_row(i) for i in range(1200)) + bad + b"".join(csv_row(i) for i in range(1200, 1210))
    )
    db, rejects = tmp_path / "store.duckdb", tmp_path / "rejects.jsonl"
    result = run_cli(
        "ingest",
        str(path),
        "--kind",
        "requests",
        "--batch-rows",
        "500",
        "-o",
        "json",
        "--rejects",
        str(rejects),
        "--db",
        str(db),
    )
    assert result.returncode == 1, result.stderr
    summary = orjson.loads(result.stdout)
    assert (summary["accepted"], summary["duplicates"], summary["rejected"]) == (1210, 0, 1)
    [entry] = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert entry["line"] == 1202
    assert entry["error"] == 'not UTF-8 text: byte 0xe9 in column "endpoint"; save the file as UTF-8'
    assert "/v1/caf\ufffd" in entry["record"]


def test_csv_header_that_is_not_utf8_refuses_the_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"event_id,caf\xe9\n" + csv_row(1))
    report = ingest(store, path, kind="requests")
    assert reasons(report) == [
        f'{path}: the header row is not UTF-8 text: byte 0xe9 in column "caf\ufffd"; save the file as UTF-8'
    ]


# -- duplicates and conflicts -------------------------------------------------------------------


def test_event_resent_with_other_content_is_a_conflict_and_the_stored_one_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    first = write_jsonl(tmp_path / "first.jsonl", [request(1), request(2)])
    assert run_cli("ingest", str(first), "--db", str(db)).returncode == 0
    again = write_jsonl(tmp_path / "again.jsonl", [request(1, latency_ms=999.0, status=503), request(2), request(3)])
    result = run_cli("ingest", str(again), "-o", "json", "--db", str(db))
    assert result.returncode == 1
    summary = orjson.loads(result.stdout)
    assert (summary["accepted"], summary["duplicates"], summary["rejected"]) == (1, 1, 1)
    [entry] = [orjson.loads(line) for line in Path(summary["rejects_file"]).read_bytes().splitlines()]
    assert entry["line"] == 1
    assert entry["error"] == 'conflicts with the stored record (same event_id "r1", different status, latency_ms)'
    result = run_cli(
        "sql", "SELECT status, latency_ms FROM requests WHERE event_id = 'r1'", "-o", "json", "--db", str(db)
    )
    assert orjson.loads(result.stdout) == [{"status": 200, "latency_ms": 41.0}]


def test_same_content_in_other_spellings_is_a_duplicate_not_a_conflict(store: Store, tmp_path: Path) -> None:
    ts = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    event = {"kind": "activity", "event_id": "a1", "tenant_id": "t1", "user_id": "u1", "event": "login"}
    zulu = {**event, "ts": "2026-11-25T10:00:00Z", "properties": {"a": 1, "b": [1, 2]}}
    ingest(store, write_jsonl(tmp_path / "a.jsonl", [zulu]))
    respelled = {**event, "ts": ts.astimezone().isoformat(), "properties": '{"b": [1,2], "a": 1}'}
    report = ingest(store, write_jsonl(tmp_path / "b.jsonl", [respelled, {**zulu, "ts": "2026-11-25 12:00:00+02:00"}]))
    assert (report.accepted, report.duplicates, report.rejected) == (0, 2, 0), reasons(report)


def test_two_records_with_one_id_in_a_batch_keep_the_first_and_reject_the_other(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "dups.jsonl", [request(1), request(2), request(1, method="GET"), request(1)])
    report = ingest(store, path)
    assert (report.accepted, report.duplicates, report.rejected) == (2, 1, 1)
    assert reasons(report) == [f'{path}:3: conflicts with line 1 (same event_id "r1", different method)']
    assert store.con.execute("SELECT method FROM requests WHERE event_id = 'r1'").fetchall() == [("POST",)]


def test_conflict_across_batches_of_one_file_names_the_stored_record(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "dups.jsonl", [request(1), request(2), request(1, tenant_id="t2")])
    report = ingest(store, path, batch_rows=2)
    assert reasons(report) == [f'{path}:3: conflicts with the stored record (same event_id "r1", different tenant_id)']
    assert (report.accepted, report.duplicates) == (2, 0)


def test_a_resent_id_is_recognised_within_a_day_of_its_stored_time_and_is_another_event_beyond(
    store: Store, tmp_path: Path
) -> None:
    # Ids are looked for only near the batch in time (REPEAT_WINDOW), so a batch's cost does not grow with the store.
    stored = [request(1), request(2), *(request(i, ts=(NOW - timedelta(days=30 + i)).isoformat()) for i in range(3, 9))]
    ingest(store, write_jsonl(tmp_path / "stored.jsonl", stored))
    moved = (NOW - timedelta(minutes=1, hours=23)).isoformat()  # within a day of the stored time
    far = (NOW - timedelta(minutes=2, days=2)).isoformat()  # two days from it
    path = write_jsonl(tmp_path / "again.jsonl", [request(1, ts=moved), request(2, ts=far), request(3)])
    report = ingest(store, path)
    assert reasons(report) == [f'{path}:1: conflicts with the stored record (same event_id "r1", different ts)']
    assert (report.accepted, report.duplicates) == (2, 0)
    assert stored_ids(store).count("r2") == 2  # another event: two days apart, it is not a re-send
    assert stored_ids(store).count("r3") == 2


def test_a_line_near_two_stored_events_of_its_id_is_one_conflict(store: Store, tmp_path: Path) -> None:
    apart = (NOW - timedelta(days=1, hours=19)).isoformat()  # more than a day apart: two events, one id
    ingest(store, write_jsonl(tmp_path / "stored.jsonl", [request(1)]))
    ingest(store, write_jsonl(tmp_path / "apart.jsonl", [request(1, ts=apart)]))
    between = (NOW - timedelta(hours=22)).isoformat()  # within a day of both
    path = write_jsonl(tmp_path / "between.jsonl", [request(1, ts=between, status=500)])
    report = ingest(store, path)
    assert len(reasons(report)) == 1 and reasons(report)[0].startswith(f"{path}:1: conflicts with the stored record")
    assert (report.accepted, report.duplicates, report.rejected) == (0, 0, 1)


def test_lines_of_one_id_in_a_batch_are_the_event_of_the_first_whatever_their_times(
    store: Store, tmp_path: Path
) -> None:
    ingest(store, write_jsonl(tmp_path / "stored.jsonl", [request(1), request(2)]))
    later = (NOW + timedelta(hours=-1, days=-3)).isoformat()
    path = write_jsonl(tmp_path / "again.jsonl", [request(1), request(1, ts=later), request(2, ts=later), request(2)])
    report = ingest(store, path)
    # r1: the first line is the stored event again; r2: the first line is another event, three days away.
    assert reasons(report) == [
        f'{path}:2: conflicts with the stored record (same event_id "r1", different ts)',
        f'{path}:4: conflicts with line 3 (same event_id "r2", different ts)',
    ]
    assert (report.accepted, report.duplicates) == (1, 1)
    assert stored_ids(store) == ["r1", "r2", "r2"]


def test_duplicates_are_found_whatever_the_batch_spans(store: Store, tmp_path: Path) -> None:
    # A batch spanning months looks at all of them: every re-sent record is a duplicate.
    records = [request(i, ts=(NOW - timedelta(days=i * 20)).isoformat()) for i in range(1, 6)]
    ingest(store, write_jsonl(tmp_path / "a.jsonl", records))
    report = ingest(store, write_jsonl(tmp_path / "b.jsonl", [records[0], records[4], request(9)]))
    assert (report.accepted, report.duplicates, report.rejected) == (1, 2, 0)


def test_entities_resent_with_new_content_are_still_replaced(store: Store, tmp_path: Path) -> None:
    ticket = {"kind": "tickets", "ticket_id": "T-1", "tenant_id": "t1", "priority": "P2"}
    opened = {**ticket, "opened_at": "2026-11-24T08:00:00Z", "status": "open"}
    ingest(store, write_jsonl(tmp_path / "a.jsonl", [opened]))
    report = ingest(store, write_jsonl(tmp_path / "b.jsonl", [{**opened, "status": "resolved"}]))
    assert (report.accepted, report.rejected) == (1, 0)
    assert store.con.execute("SELECT status FROM tickets").fetchall() == [("resolved",)]


# -- empty ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_id": ""}, 'field "event_id": an id must not be empty or blank'),
        ({"event_id": " \t"}, 'field "event_id": an id must not be empty or blank'),
        ({"tenant_id": ""}, 'field "tenant_id": an id must not be empty or blank'),
        ({"tenant_id": "t1 "}, 'field "tenant_id": an id must not start or end with spaces; got "t1 "'),
    ],
)
def test_empty_blank_or_padded_ids_are_rejected(
    store: Store, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    path = write_jsonl(tmp_path / "ids.jsonl", [request(1, **changes), request(2, **changes), request(3)])
    report = ingest(store, path)
    assert (report.accepted, report.rejected) == (1, 2)
    assert reasons(report) == [f"{path}:1: {message}", f"{path}:2: {message}"]
    assert stored_ids(store) == ["r3"]


def test_empty_id_of_an_entity_is_rejected(store: Store, tmp_path: Path) -> None:
    user = {"kind": "users", "user_id": "", "tenant_id": "t1", "signup_at": "2026-11-01T00:00:00Z"}
    report = ingest(store, write_jsonl(tmp_path / "users.jsonl", [user, {**user, "tenant_id": "t2"}]))
    assert report.rejected == 2 and 'field "user_id": an id must not be empty or blank' in reasons(report)[0]


# -- numbers are read, never coerced ------------------------------------------------------------

NOT_WHOLE = [200.5, "200.5", "0xC8", "0b11001000", "2e2", "20 0", "true"]


@pytest.mark.parametrize("status", NOT_WHOLE, ids=[repr(v) for v in NOT_WHOLE])
def test_whole_number_field_refuses_anything_but_a_decimal_integer(store: Store, tmp_path: Path, status: Any) -> None:
    report = ingest(store, write_jsonl(tmp_path / "n.jsonl", [request(1, status=status)]))
    assert report.rejected == 1 and 'field "status": expected a whole number, got ' in reasons(report)[0]
    assert store.count("requests") == 0


def test_underscored_number_is_refused_rather_than_read_as_a_thousand(store: Store, tmp_path: Path) -> None:
    records = [request(1, request_bytes="1_000"), request(2, latency_ms="1_000.5"), request(3, latency_ms="0x10")]
    report = ingest(store, write_jsonl(tmp_path / "n.jsonl", records))
    assert report.rejected == 3 and store.count("requests") == 0
    assert [r.error for r in report.first_rejects] == [
        'field "request_bytes": expected a whole number, got 1_000',
        'field "latency_ms": expected a number, got 1_000.5',
        'field "latency_ms": expected a number, got 0x10',
    ]


def test_decimal_integers_and_whole_floats_are_accepted(store: Store, tmp_path: Path) -> None:
    records = [
        request(1, status=" 201 "),
        request(2, status="+202"),
        request(3, status=203.0),
        request(4, status="204.00"),
    ]
    report = ingest(store, write_jsonl(tmp_path / "n.jsonl", [*records, request(5, latency_ms="1.5e1")]))
    assert (report.accepted, report.rejected) == (5, 0), reasons(report)
    rows = store.con.execute("SELECT status, latency_ms FROM requests ORDER BY event_id").fetchall()
    assert [r[0] for r in rows] == [201, 202, 203, 204, 200] and rows[-1][1] == 15.0


def test_csv_cells_follow_the_same_number_rules(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    rows = [("a", "0xC8", "1.5"), ("b", "200.5", "2"), ("c", "1_000", "3"), ("d", "200", "1_0"), ("e", "200.0", "4")]
    lines = [f"{i},{NOW.isoformat()},t1,/v1/a,GET,{status},{latency}\n".encode() for i, status, latency in rows]
    path.write_bytes(CSV_HEADER + b"".join(lines))
    report = ingest(store, path, kind="requests")
    assert [r.error for r in report.first_rejects] == [
        'field "status": expected a whole number, got 0xC8',
        'field "status": expected a whole number, got 200.5',
        'field "status": expected a whole number, got 1_000',
        'field "latency_ms": expected a number, got 1_0',
    ]
    assert store.con.execute("SELECT event_id, status FROM requests").fetchall() == [("e", 200)]


# -- Parquet columns of the wrong type ----------------------------------------------------------


def parquet_requests(path: Path, **columns: pa.Array) -> Path:
    table = pa.table(
        {
            "event_id": ["p1", "p2"],
            "ts": pa.array([NOW, NOW], pa.timestamp("us", tz="UTC")),
            "tenant_id": ["t1", "t2"],
            "endpoint": ["/v1/a", "/v1/b"],
            "method": ["GET", "GET"],
            "status": pa.array([200, 201], pa.int16()),
            "latency_ms": [1.5, 2.5],
        }
    )
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, values)
    pq.write_table(table, path)
    return path


WRONG_COLUMNS = [
    ("tenant_id", pa.array([{"a": "t1"}, {"a": "t2"}]), "struct<a: string>", "a string column"),
    ("endpoint", pa.array([["/v1/a"], ["/v1/b"]]), "list<element: string>", "a string column"),
    ("ts", pa.array([date(2026, 11, 25)] * 2), "date32[day]", "a timestamp column with a time zone"),
    ("event_id", pa.array([b"p1", b"p2"], pa.binary()), "binary", "a string column"),
    ("status", pa.array([True, False]), "bool", "an integer column (or whole floating-point values)"),
    (
        "latency_ms",
        pa.array(["1", "2"]).dictionary_encode().cast(pa.binary()),
        "binary",
        "an integer, floating-point or decimal column",
    ),
]


@pytest.mark.parametrize(("column", "values", "shown", "expected"), WRONG_COLUMNS, ids=[c[0] for c in WRONG_COLUMNS])
def test_parquet_column_of_a_wrong_type_rejects_every_record_naming_both_types(
    store: Store, tmp_path: Path, column: str, values: pa.Array, shown: str, expected: str
) -> None:
    path = parquet_requests(tmp_path / "wrong.parquet", **{column: values})
    report = ingest(store, path, kind="requests")
    message = f'field "{column}": the column\'s type is {shown}; expected {expected}'
    assert (report.accepted, report.rejected) == (0, 2)
    assert reasons(report) == [f"{path}:1: {message}", f"{path}:2: {message}"]
    entries = [orjson.loads(line) for line in path.with_suffix(".rejects.jsonl").read_bytes().splitlines()]
    assert [e["record"]["method"] for e in entries] == ["GET", "GET"]


def test_parquet_whole_floats_and_nanosecond_utc_timestamps_fit(store: Store, tmp_path: Path) -> None:
    path = parquet_requests(
        tmp_path / "ok.parquet",
        status=pa.array([200.0, 200.5]),
        ts=pa.array([NOW, NOW], pa.timestamp("ns", tz="UTC")),
    )
    report = ingest(store, path, kind="requests")
    assert reasons(report) == [f'{path}:2: field "status": expected a whole number, got 200.5']
    assert store.con.execute("SELECT event_id, status, ts FROM requests").fetchall() == [("p1", 200, NOW)]


def test_parquet_with_a_reserved_column_name_is_refused(store: Store, tmp_path: Path) -> None:
    path = parquet_requests(tmp_path / "reserved.parquet")
    pq.write_table(pq.read_table(path).append_column("_line", pa.array([7, 8])), path)
    report = ingest(store, path, kind="requests")
    assert reasons(report) == [f'{path}: column "_line" is a name healthdeck keeps for itself; rename it']


def test_record_with_a_staging_field_name_or_a_list_for_kind_is_rejected(store: Store, tmp_path: Path) -> None:
    records = [request(1, _line=99), request(2, kind=["requests"]), request(3)]
    report = ingest(store, write_jsonl(tmp_path / "odd.jsonl", records))
    assert sorted((r.line, r.error) for r in report.first_rejects) == [
        (1, "unknown field '_line' for kind requests"),
        (2, "unknown kind ['requests']; known kinds: " + ", ".join(KINDS)),
    ]
    assert stored_ids(store) == ["r3"]


def test_parquet_damaged_in_its_second_row_group_keeps_the_first_and_reports_the_rest(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "damaged.parquet"
    rows = 2000
    table = pa.table(
        {
            "event_id": [f"p{i}" for i in range(rows)],
            "ts": [NOW.isoformat()] * rows,
            "tenant_id": ["t1"] * rows,
            "endpoint": ["/v1/a"] * rows,
            "method": ["GET"] * rows,
            "status": [200] * rows,
            "latency_ms": [1.5] * rows,
        }
    )
    pq.write_table(table, path, row_group_size=1000, use_dictionary=False)
    column = pq.ParquetFile(path).metadata.row_group(1).column(0)
    data = bytearray(path.read_bytes())
    start, end = column.data_page_offset + 30, column.data_page_offset + column.total_compressed_size - 5
    data[start:end] = b"A" * (end - start)
    path.write_bytes(bytes(data))
    report = ingest(store, path, kind="requests", batch_rows=1000)
    assert report.accepted == 1000 and store.count("requests") == 1000
    [reason] = reasons(report)
    assert reason.startswith(f"{path}: unreadable from row 1001 on; those rows were not stored: ")


def test_csv_byte_that_is_not_utf8_beyond_the_header_columns_is_named_by_position(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_bytes(CSV_HEADER + csv_row(1).rstrip(b"\n") + b",caf\xe9\n" + csv_row(2))
    report = ingest(store, path, kind="requests")
    assert reasons(report) == [f"{path}:2: not UTF-8 text: byte 0xe9 in column 8; save the file as UTF-8"]
    assert stored_ids(store) == ["c2"]


def test_an_event_without_an_id_is_the_same_whether_its_batch_reads_its_number_as_whole(
    store: Store, tmp_path: Path
) -> None:
    """Such an event is identified by the text of its values: `2` read in a batch of whole numbers
    and in a batch with a fractional one must be one event (they were "2" and "2.0": stored twice)."""
    at = (NOW - timedelta(minutes=2)).isoformat()

    def sample(value: float) -> dict[str, Any]:
        return {"kind": "samples", "ts": at, "metric": "cpu_utilization_pct", "value": value}

    first = ingest(store, write_jsonl(tmp_path / "whole.jsonl", [sample(2)]))
    second = ingest(store, write_jsonl(tmp_path / "mixed.jsonl", [sample(2), sample(2.5)]))
    assert (first.accepted, second.accepted, second.duplicates) == (1, 1, 1)
    assert store.count("samples") == 2

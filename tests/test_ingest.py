"""Ingest: every kind lands, each class of bad input is rejected precisely, good records are kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
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

NOW = datetime.now(UTC).replace(microsecond=0)


def request(i: int, **changes: Any) -> dict[str, Any]:
    record = {
        "kind": "requests",
        "event_id": f"r{i}",
        "ts": (NOW - timedelta(minutes=i)).isoformat(),
        "tenant_id": "t1",
        "endpoint": "/v1/train",
        "method": "POST",
        "status": 200,
        "latency_ms": 40.0 + i,
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def ingest(store: Store, path: Path, **options: Any) -> IngestReport:
    return ingest_files(store, [str(path)], rejects_path=path.with_suffix(".rejects.jsonl"), **options)


def only_reject(report: IngestReport) -> str:
    assert report.rejected == 1, [r.describe() for r in report.first_rejects]
    return report.first_rejects[0].describe()


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_accepts_its_documented_example(store: Store, tmp_path: Path, name: str) -> None:
    path = write_jsonl(tmp_path / f"{name}.jsonl", [dict(KINDS[name].example)])
    report = ingest(store, path, kind=name)
    assert (report.accepted, report.rejected) == (1, 0), [r.describe() for r in report.first_rejects]
    assert store.count(name) == 1


BAD_INPUTS = [
    pytest.param(request(9, latency_ms="fast"), 'field "latency_ms": expected a number, got fast', id="wrong-type"),
    pytest.param(request(9, status=True), 'field "status": expected a number, got true', id="bool-for-number"),
    pytest.param(request(9, tenant_id=None), "missing required field 'tenant_id'", id="missing-field"),
    pytest.param(request(9, method="FETCH"), 'field "method": must be one of GET, POST', id="bad-enum"),
    pytest.param(request(9, status=700), 'field "status": must be at most 599, got 700', id="out-of-range"),
    pytest.param(
        request(9, ts="2026-11-25 10:00:00"), "timestamp needs a time of day and a time zone", id="zoneless-timestamp"
    ),
    pytest.param(request(9, ts="2026-11-25"), "timestamp needs a time of day and a time zone", id="date-only"),
    pytest.param(request(9, ts="yesterday-ish"), 'field "ts": not a timestamp: yesterday-ish', id="not-a-timestamp"),
    pytest.param(request(9, ts=(NOW + timedelta(days=3)).isoformat()), "is more than a day in the future", id="future"),
    pytest.param(request(9, kind="nonsense"), "unknown kind 'nonsense'", id="unknown-kind"),
    pytest.param(request(9, colour="blue"), "unknown field 'colour' for kind requests", id="unknown-field"),
    pytest.param('{"kind": "requests", "event_id": ', "malformed JSON", id="malformed-line"),
    pytest.param("[1, 2, 3]", "a record must be a JSON object", id="not-an-object"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_INPUTS)
def test_bad_record_is_rejected_with_line_and_reason_while_good_ones_land(
    store: Store, tmp_path: Path, bad: Any, message: str
) -> None:
    path = write_jsonl(tmp_path / "batch.jsonl", [request(1), bad, request(2)])
    report = ingest(store, path)
    assert message in only_reject(report)
    assert report.first_rejects[0].line == 2
    assert report.accepted == 2
    assert sorted(r[0] for r in store.con.execute("SELECT event_id FROM requests").fetchall()) == ["r1", "r2"]


def test_rejects_file_holds_line_reason_and_original_record(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "batch.jsonl", [request(1), request(2, method="FETCH")])
    report = ingest(store, path)
    assert report.rejects_file is not None
    entries = [orjson.loads(line) for line in Path(report.rejects_file).read_bytes().splitlines()]
    assert len(entries) == 1
    assert entries[0]["line"] == 2 and entries[0]["source"] == str(path)
    assert orjson.loads(entries[0]["record"])["method"] == "FETCH"


def test_record_over_size_limit_is_rejected_without_losing_neighbours(store: Store, tmp_path: Path) -> None:
    huge = orjson.dumps(request(5, endpoint="/x" * (5 << 20))).decode()  # a 10 MB line
    path = write_jsonl(tmp_path / "batch.jsonl", [request(1), huge, request(2)])
    report = ingest(store, path)
    assert "over the 1048576-byte limit" in only_reject(report)
    assert report.accepted == 2


def test_empty_file_is_reported(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    report = ingest(store, path)
    assert f"{path}: the file holds no records" == only_reject(report)


def test_missing_file_is_reported_and_other_files_still_land(store: Store, tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [request(1)])
    report = ingest_files(store, [str(tmp_path / "absent.jsonl"), str(good)], rejects_path=tmp_path / "r.jsonl")
    assert "absent.jsonl: cannot open: No such file or directory" in only_reject(report)
    assert report.accepted == 1


def test_required_attribute_depends_on_tier_event_type(store: Store, tmp_path: Path) -> None:
    event = {"timestamp": NOW.isoformat(), "event_type": "cold_start", "project_id": "p1", "tenant_id": "t1"}
    path = write_jsonl(tmp_path / "tier.jsonl", [event])
    report = ingest(store, path, kind="tier_events")
    assert "missing field 'startup_duration_ms', required when event_type is cold_start" in only_reject(report)


def test_repeated_ids_with_the_same_content_are_stored_once(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "dups.jsonl",
        [request(1), request(2), request(1, ts=f"{(NOW - timedelta(minutes=1)):%Y-%m-%dT%H:%M:%S}Z")],
    )
    first = ingest(store, path)
    assert (first.accepted, first.duplicates) == (2, 1)
    assert store.con.execute("SELECT latency_ms FROM requests WHERE event_id = 'r1'").fetchone() == (41.0,)
    second = ingest(store, path)
    assert (second.accepted, second.duplicates, second.rejected) == (0, 3, 0)
    assert store.count("requests") == 2


def test_records_without_id_deduplicate_by_content_across_timestamp_spellings(store: Store, tmp_path: Path) -> None:
    sample = {"kind": "samples", "metric": "cpu_utilization_pct", "value": 41.5, "labels": {"service": "api"}}
    zulu = {**sample, "ts": "2026-11-25T10:00:00Z"}
    offset = {**sample, "ts": "2026-11-25T12:00:00+02:00"}
    other = {**sample, "ts": "2026-11-25T10:01:00Z"}
    report = ingest(store, write_jsonl(tmp_path / "s.jsonl", [zulu, offset, other]))
    assert (report.accepted, report.duplicates) == (2, 1)


def test_entity_resent_with_changes_replaces_the_stored_one(store: Store, tmp_path: Path) -> None:
    tenant = {**KINDS["tenants"].example, "kind": "tenants"}
    ingest(store, write_jsonl(tmp_path / "a.jsonl", [tenant]))
    report = ingest(store, write_jsonl(tmp_path / "b.jsonl", [{**tenant, "tier": "BUSINESS"}, tenant]))
    # The last line of a batch is the newest state: the tenant is PRO again, one row.
    assert report.accepted == 0 and report.duplicates == 2
    assert store.con.execute("SELECT tier FROM tenants").fetchall() == [("PRO",)]
    report = ingest(store, write_jsonl(tmp_path / "c.jsonl", [{**tenant, "tier": "BUSINESS"}]))
    assert report.accepted == 1
    assert store.con.execute("SELECT tier FROM tenants").fetchall() == [("BUSINESS",)]


def test_mixed_kinds_in_one_file_are_routed_by_their_kind_field(store: Store, tmp_path: Path) -> None:
    tenant = {**KINDS["tenants"].example, "kind": "tenants"}
    payment = {**KINDS["payments"].example, "kind": "payments"}
    report = ingest(store, write_jsonl(tmp_path / "mixed.jsonl", [tenant, request(1), payment]))
    assert report.by_kind == {"tenants": 1, "requests": 1, "payments": 1}


def test_csv_with_empty_cells_and_a_bad_row(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text(
        "event_id,ts,tenant_id,endpoint,method,status,latency_ms,deprecated\n"
        f"c1,{NOW.isoformat()},t1,/v1/a,GET,200,12.5,\n"
        f"c2,{NOW.isoformat()},t1,/v1/a,GET,abc,12.5,true\n"
        f"c3,{NOW.isoformat()},t2,/v1/b,get,503,80,false\n"
    )
    report = ingest(store, path, kind="requests")
    assert 'requests.csv:3: field "status": expected a whole number, got abc' in only_reject(report)
    rows = store.con.execute("SELECT event_id, method, status, deprecated FROM requests ORDER BY 1").fetchall()
    assert rows == [("c1", "GET", 200, None), ("c3", "GET", 503, False)]


def test_parquet_typed_columns_and_zoneless_timestamps(store: Store, tmp_path: Path) -> None:
    table = pa.table(
        {
            "ts": pa.array([NOW, NOW], pa.timestamp("us", tz="UTC")),
            "metric": ["pods_ready", "pods_ready"],
            "value": [3.0, float("nan")],
        }
    )
    path = tmp_path / "samples.parquet"
    pq.write_table(table, path)
    report = ingest(store, path, kind="samples")
    assert 'samples.parquet:2: field "value": must be a finite number' in only_reject(report)
    zoneless = tmp_path / "zoneless.parquet"
    pq.write_table(table.set_column(0, "ts", pa.array([NOW.replace(tzinfo=None)] * 2, pa.timestamp("us"))), zoneless)
    report = ingest(store, zoneless, kind="samples")
    assert report.rejected == 2 and "timestamp has no time zone" in report.first_rejects[0].error


def test_cli_json_output_and_exit_codes(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    good = write_jsonl(tmp_path / "good.jsonl", [request(1), request(2)])
    result = run_cli("ingest", str(good), "--output", "json", "--db", str(db))
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert isinstance(summary.pop("records_per_s"), int)
    assert summary.pop("bytes_per_s") > 0
    assert summary == {"accepted": 2, "rejected": 0, "duplicates": 0, "rejects_file": None}
    bad = write_jsonl(tmp_path / "bad.jsonl", [request(3), request(4, status="x")])
    result = run_cli("ingest", str(bad), "-o", "json", "--db", str(db))
    assert result.returncode == 1
    summary = orjson.loads(result.stdout)
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert Path(summary["rejects_file"]).exists()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_bytes_read_are_the_files_sizes(store: Store, tmp_path: Path, fmt: str) -> None:
    # What bytes_per_s and the progress bar count: each file's bytes on disk, whatever its format.
    records = [{k: v for k, v in request(i).items() if k != "kind"} for i in range(1, 2001)]
    path = tmp_path / f"requests.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, records)
    elif fmt == "csv":
        path.write_text(",".join(records[0]) + "\n" + "".join(",".join(map(str, r.values())) + "\n" for r in records))
    else:
        pq.write_table(pa.Table.from_pylist(records), path, row_group_size=300)
    seen: list[tuple[int, int]] = []
    report = ingest_files(
        store, [str(path), str(path)], kind="requests", batch_rows=700, progress=lambda *n: seen.append(n)
    )
    assert (report.accepted, report.duplicates, report.rejected) == (2000, 2000, 0)
    assert report.bytes_read == 2 * path.stat().st_size == sum(size for size, _ in seen)
    assert sum(records for _, records in seen) == 4000 and len(seen) > 4


def test_progress_bar_shows_records_and_bytes_per_second(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "requests.jsonl", [request(i) for i in range(1, 3001)])
    command = ("ingest", str(path), "--batch-rows", "1000", "--db", str(tmp_path / "store.duckdb"))
    result = run_cli(*command, env={"TTY_COMPATIBLE": "1", "COLUMNS": "200"})  # stderr taken for a terminal
    assert result.returncode == 0, result.stderr
    assert re.search(r"[\d,]+ records/s", result.stderr) and re.search(r"[\d.]+ [kM]?B/s", result.stderr)


def test_cli_text_output_names_file_line_and_problem(tmp_path: Path) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", [request(1, method="FETCH")])
    result = run_cli("ingest", str(bad), "--db", str(tmp_path / "x.duckdb"))
    assert result.returncode == 1
    assert "accepted 0" in result.stdout
    assert f'{bad}:1: field "method": must be one of' in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_parquet_rows_of_unknown_kind_are_rejected_one_by_one(store: Store, tmp_path: Path) -> None:
    table = pa.table(
        {
            "kind": ["samples", "bogus", None, "samples"],
            "ts": pa.array([NOW] * 4, pa.timestamp("us", tz="UTC")),
            "metric": ["pods_ready"] * 4,
            "value": [3.0, 4.0, 5.0, 6.0],
        }
    )
    path = tmp_path / "mixed.parquet"
    pq.write_table(table, path)
    report = ingest(store, path)
    assert report.accepted == 2
    assert sorted((r.line, r.error.split(";")[0]) for r in report.first_rejects) == [
        (2, "unknown kind 'bogus'"),
        (3, "no kind given"),
    ]


def test_csv_with_byte_order_mark_and_csv_that_is_not_utf8(store: Store, tmp_path: Path) -> None:
    header = "event_id,ts,tenant_id,endpoint,method,status,latency_ms\n"
    row = f"b1,{NOW.isoformat()},t1,/v1/a,GET,200,12.5\n"
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (header + row).encode())
    assert ingest(store, bom, kind="requests").accepted == 1
    latin = tmp_path / "latin.csv"
    latin.write_bytes((header + row.replace("b1", "b2").replace("/v1/a", "/v1/caf\xe9")).encode("latin-1"))
    report = ingest(store, latin, kind="requests")
    assert 'latin.csv:2: not UTF-8 text: byte 0xe9 in column "endpoint"' in only_reject(report)


def test_jsonl_with_byte_order_mark(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(request(1)) + b"\n")
    assert ingest(store, path).accepted == 1

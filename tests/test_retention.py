"""Retention: settings kept in the store, `store expire`, and expiry inside a running server beside ingest."""

from __future__ import annotations

import re
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from healthdeck.api.tokens import Role
from healthdeck.engine.measures.base import MeasureContext, raw_expired_before, time_bound
from healthdeck.store.connection import open_store
from healthdeck.store.retention import EXPIRING, NEVER_EXPIRED, expiry_marks
from healthdeck.store.schema import KINDS
from tests.conftest import ingested, run_cli, write_jsonl
from tests.test_serve_server import NDJSON, Server, jsonl, make_tokens, tenant

NOW = datetime.now(UTC)


def request_at(n: int, days_ago: float) -> dict[str, Any]:
    return {
        "kind": "requests",
        "event_id": f"r-{n}",
        "ts": (NOW - timedelta(days=days_ago)).isoformat(),
        "tenant_id": "t-1",
        "endpoint": "/v1/things",
        "method": "GET",
        "status": 200,
        "latency_ms": 12.5,
    }


def sample_at(n: int, days_ago: float) -> dict[str, Any]:
    ts = (NOW - timedelta(days=days_ago)).isoformat()
    return {"kind": "samples", "event_id": f"s-{n}", "ts": ts, "metric": "cpu_utilization_pct", "value": 40.0}


def json_of(*args: str) -> Any:
    result = run_cli(*args, "--output", "json")
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def expired_by_table(answer: dict[str, Any]) -> dict[str, int]:
    return {t["table"]: t["expired"] for t in answer["tables"]}


def remaining_requests(db: Path) -> list[str]:
    with open_store(db, read_only=True) as store:
        return [row[0] for row in store.con.execute("SELECT event_id FROM requests ORDER BY event_id").fetchall()]


def test_every_kind_either_expires_or_is_kept_for_a_stated_reason() -> None:
    expiring = {spec.table for spec in EXPIRING}
    assert set(KINDS) == (expiring & set(KINDS)) | set(NEVER_EXPIRED)
    assert not expiring & set(NEVER_EXPIRED)


def test_settings_are_kept_in_the_store_and_shown_by_store_info(tmp_path: Path) -> None:
    db = str(ingested(tmp_path, [request_at(1, 1)]))
    assert json_of("store", "info", "--db", db)["retention"] == {"raw": None, "rollups": None}
    assert json_of("store", "retention", "--raw", "90d", "--rollups", "2y", "--db", db) == {
        "raw": "90d",
        "rollups": "2y",
    }
    assert json_of("store", "info", "--db", db)["retention"] == {"raw": "90d", "rollups": "2y"}
    assert json_of("store", "retention", "--raw", "30d", "--db", db) == {"raw": "30d", "rollups": "2y"}
    assert json_of("store", "retention", "--rollups", "keep", "--raw", "keep", "--db", db) == {
        "raw": None,
        "rollups": None,
    }


def test_unreadable_or_unsafe_settings_are_refused_in_one_line_and_change_nothing(tmp_path: Path) -> None:
    db = str(ingested(tmp_path, [request_at(1, 1)]))
    run_cli("store", "retention", "--raw", "90d", "--db", db)
    cases = {
        ("--raw", "ninety"): "--raw: cannot read duration 'ninety'",
        ("--raw", "90m"): "--raw 90m: a retention is at least 1d",
        ("--rollups", "30d"): "--rollups 30d is shorter than --raw 90d",
    }
    for option, message in cases.items():
        result = run_cli("store", "retention", *option, "--db", db)
        assert result.returncode == 2, result
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert json_of("store", "retention", "--db", db) == {"raw": "90d", "rollups": None}


def test_expire_deletes_only_what_is_older_than_the_retention_and_counts_it(tmp_path: Path) -> None:
    ages = [0.1, 1, 45, 89.9, 90.1, 120, 400]
    old_tenant = tenant("t-old", created_at=(NOW - timedelta(days=700)).isoformat())
    records = [request_at(n, age) for n, age in enumerate(ages)] + [sample_at(1, 200), sample_at(2, 3), old_tenant]
    db = ingested(tmp_path, records)
    assert json_of("store", "expire", "--db", str(db))["tables"] == []  # nothing set: everything kept
    run_cli("store", "retention", "--raw", "90d", "--db", str(db))

    dry = json_of("store", "expire", "--dry-run", "--db", str(db))
    assert dry["dry_run"] and expired_by_table(dry)["requests"] == 3 and expired_by_table(dry)["samples"] == 1
    assert len(remaining_requests(db)) == len(ages)

    done = json_of("store", "expire", "--db", str(db))
    assert expired_by_table(done) == {t: 0 for t in expired_by_table(done)} | {"requests": 3, "samples": 1}
    assert remaining_requests(db) == ["r-0", "r-1", "r-2", "r-3"]
    with open_store(db, read_only=True) as store:
        assert store.count("tenants") == 1 and store.count("samples") == 1  # an entity is never expired
    assert expired_by_table(json_of("store", "expire", "--db", str(db)))["requests"] == 0


def test_rollup_tables_follow_their_own_setting(tmp_path: Path) -> None:
    db = ingested(tmp_path, [request_at(1, 1), request_at(2, 200), request_at(3, 400)])
    run_cli("store", "retention", "--raw", "90d", "--rollups", "1y", "--db", str(db))
    expired = expired_by_table(json_of("store", "expire", "--db", str(db)))
    # Raw requests go after 90 days; their per-minute rollups stay a year (one row per minute here).
    assert (expired["requests"], expired["request_rollups"]) == (2, 1)
    assert "request_latency_sketch" not in expired  # the latency buckets are rows of request_rollups
    with open_store(db, read_only=True) as store:
        minutes = store.con.execute("SELECT count(*), sum(requests) FROM request_rollups").fetchone()
    assert minutes == (2, 2)  # the requests of 1 and 200 days ago, still counted


def test_a_record_older_than_the_raw_retention_is_rejected_and_the_rest_stored(tmp_path: Path) -> None:
    # Stored, it would be expired while its rollups stayed, and a re-send of it could then count twice.
    db = ingested(tmp_path, [request_at(1, 1)])
    run_cli("store", "retention", "--raw", "90d", "--rollups", "2y", "--db", str(db))
    late = write_jsonl(tmp_path / "late.jsonl", [request_at(2, 95), request_at(3, 89)])
    result = run_cli("ingest", str(late), "--db", str(db))
    assert result.returncode == 1
    assert result.stdout.startswith("accepted 1 ")
    assert f'{late}:1: field "ts": older than the store\'s raw retention (90d): ' in result.stderr
    assert remaining_requests(db) == ["r-1", "r-3"]
    with open_store(db, read_only=True) as store:
        assert store.con.execute("SELECT sum(requests) FROM request_rollups").fetchone() == (2,)


def test_the_cli_sees_the_memory_limit_duckdb_runs_with(tmp_path: Path) -> None:
    db = str(ingested(tmp_path, [request_at(1, 1)]))
    query = "SELECT current_setting('memory_limit') AS limit"
    answer = run_cli("sql", query, "--db", db, "--output", "json", env={"HEALTHDECK_MEMORY_LIMIT": "1GiB"})
    assert answer.returncode == 0, answer.stderr
    assert orjson.loads(answer.stdout) == [{"limit": "1.0 GiB"}]


OLD_DAYS, OLD_PER_DAY = 300, 2_000


def _old_requests(db: Path) -> int:
    """OLD_DAYS days of requests, all older than 90 days, written straight into the store."""
    with open_store(db) as store:
        store.con.execute(
            "INSERT INTO requests (event_id, ts, tenant_id, endpoint, method, status, latency_ms, _ingested_at) "
            "SELECT 'old-' || i, ?::TIMESTAMPTZ - to_seconds(i * 86400.0 / ?), 't-1', '/v1/old', 'GET', 200, 10, now() "
            "FROM range(?) AS t(i)",
            [NOW - timedelta(days=91), OLD_PER_DAY, OLD_DAYS * OLD_PER_DAY],
        )
        return store.count("requests")


def test_expiry_in_serve_runs_beside_ingest_and_loses_no_ingested_event(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    [token] = make_tokens(db, (Role.operator, None))
    old = _old_requests(db)
    server = Server(db, "--expire-every", "1s").start()
    posted: list[int] = []  # events accepted so far
    seen_during: list[int] = []  # old rows left while ingest went on: some, but not all
    done = threading.Event()

    def ingest() -> None:
        with server.client(token) as http:
            for batch in range(10_000):
                if done.is_set():
                    return
                events = [request_at(1_000_000 + batch * 100 + n, 0.01) for n in range(100)]
                answer = http.post("/v1/events", content=jsonl(events), headers=NDJSON).json()
                posted.append(answer["accepted"])
                left = http.get("/v1/store").json()["tables"]["requests"] - sum(posted)
                if 0 < left < old:
                    seen_during.append(left)

    try:
        poster = threading.Thread(target=ingest)
        poster.start()
        time.sleep(0.5)
        assert run_cli("store", "retention", "--raw", "90d", "--db", str(db)).returncode == 0  # through the server
        deadline = time.monotonic() + 120
        with server.client(token) as http:
            while time.monotonic() < deadline:
                if http.get("/v1/store").json()["tables"]["requests"] == sum(posted) and sum(posted):
                    break
                time.sleep(0.2)
        time.sleep(0.5)
        done.set()
        poster.join()
        through = json_of("store", "expire", "--db", str(db))  # the CLI runs it in the server, chunk by chunk
        assert expired_by_table(through)["requests"] == 0
    finally:
        done.set()
        code, stderr = server.stop(signal.SIGTERM)
    assert code == 0, stderr
    logged = re.findall(r"expired (\d+) rows of requests older than 90d", stderr)
    assert sum(map(int, logged)) == old, stderr
    assert seen_during, "no ingest batch was written while expiry was deleting"
    left = remaining_requests(db)
    assert len(left) == sum(posted) and not [e for e in left if e.startswith("old-")]


def _row_groups_read(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, int]:
    """(row groups scanned, row groups in all) of the query's table scan, from DuckDB's EXPLAIN ANALYZE."""
    plan = con.execute(f"EXPLAIN ANALYZE {sql}").fetchall()[0][1]
    read, total = re.search(r"Row Groups Scanned: (\d+) / (\d+)", plan).groups()  # type: ignore[union-attr]
    return int(read), int(total)


def test_after_expiry_the_engine_finds_the_oldest_and_newest_times_without_reading_every_row(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    make_tokens(db)
    _old_requests(db)  # about five row groups, from 91 to 391 days old
    with open_store(db) as store:
        moved = "* REPLACE ('new-' || event_id AS event_id, ts + INTERVAL 90 DAY AS ts)"  # 1 to 301 days old
        store.con.execute(f"INSERT INTO requests SELECT {moved} FROM requests")
    # Expiry keeps rows of both copies, spread over many row groups. With only one or two kept row groups,
    # a top-N run by two threads reads both whatever the statistics say (each thread takes one).
    run_cli("store", "retention", "--raw", "250d", "--db", str(db))
    assert expired_by_table(json_of("store", "expire", "--db", str(db)))["requests"] > 0
    # Two threads, as on this machine: the same plan on any machine (CI's may have more cores).
    with duckdb.connect(str(db), read_only=True, config={"threads": 2}) as con:
        oldest, newest = con.execute("SELECT min(ts), max(ts) FROM requests").fetchone()  # type: ignore[misc]
        for is_newest, expected in ((False, oldest), (True, newest)):
            sql = f"SELECT {time_bound('requests', newest=is_newest)}"
            assert con.execute(sql).fetchone() == (expected,)
            read, total = _row_groups_read(con, sql)
            assert total >= 6 and read <= total // 2, (read, total)
        assert _row_groups_read(con, "SELECT max(ts) FROM requests")[0] == total  # what a bare max() costs now


def _cpu_at(n: int, days_ago: float) -> dict[str, Any]:
    return {**sample_at(n, days_ago), "labels": {"service": "api"}}


def test_a_kpi_of_samples_says_its_raw_samples_were_expired_where_its_window_reaches_before_them(
    tmp_path: Path,
) -> None:
    db = str(ingested(tmp_path, [_cpu_at(n, days) for n, days in enumerate((40, 35, 30, 10, 5, 1))]))
    at = f"{NOW - timedelta(days=30, hours=-1):%Y-%m-%dT%H:%M:%SZ}"  # an hour after the sample of 30 days ago
    asked = ("metrics", "get", "--name", "cpu_utilization", "--at", at, "--window", "1d", "--db", db)
    assert json_of(*asked)["value"] == 40.0  # before expiry: measured
    run_cli("store", "retention", "--raw", "20d", "--db", db)
    expiry = json_of("store", "expire", "--db", db)
    assert expired_by_table(expiry)["samples"] == 3
    cutoff = datetime.fromisoformat(next(t["cutoff"] for t in expiry["tables"] if t["table"] == "samples"))
    after = json_of(*asked)
    assert after["value"] is None
    said = f"raw samples before {cutoff:%Y-%m-%d %H:%M} UTC were expired, and the rollups do not hold this KPI"
    assert said in after["explanation"]
    text = run_cli(*asked)
    assert f"expired: {said}" in text.stdout
    gone = f"raw samples before {cutoff:%Y-%m-%d %H:%M} UTC were expired"
    assert f"in the sources of these KPIs ({gone})." in text.stdout  # why there is no event at all
    recent = json_of("metrics", "get", "--name", "cpu_utilization", "--window", "2d", "--db", db)
    assert recent["value"] == 40.0 and "expired" not in recent["explanation"]  # a window after the cutoff


def test_the_mark_of_expired_rows_only_moves_forward_and_yields_to_older_rows_stored_since(tmp_path: Path) -> None:
    db = ingested(tmp_path, [_cpu_at(n, days) for n, days in enumerate((40, 30, 10))])
    run_cli("store", "retention", "--raw", "20d", "--db", str(db))
    started = datetime.now(UTC)  # not NOW: on a loaded machine this test may run minutes after the import
    run_cli("store", "expire", "--db", str(db))
    with open_store(db, read_only=True) as store:
        first_mark = expiry_marks(store.con)["samples"]
    assert started - timedelta(days=20) <= first_mark <= datetime.now(UTC) - timedelta(days=20)
    run_cli("store", "retention", "--raw", "35d", "--db", str(db))  # longer: deletes nothing, lowers nothing
    run_cli("store", "expire", "--db", str(db))
    with open_store(db, read_only=True) as store:
        assert expiry_marks(store.con) == {"samples": first_mark}
        assert raw_expired_before(MeasureContext(store), "samples") == first_mark
    older = write_jsonl(tmp_path / "older.jsonl", [_cpu_at(9, 25)])  # within 35 days, before the mark
    assert run_cli("ingest", str(older), "--db", str(db)).returncode == 0
    with open_store(db, read_only=True) as store:
        assert raw_expired_before(MeasureContext(store), "samples") is None  # rows before it are there again
    run_cli("store", "retention", "--raw", "22d", "--db", str(db))
    assert expired_by_table(json_of("store", "expire", "--db", str(db)))["samples"] == 1  # that row, 22 days back
    with open_store(db, read_only=True) as store:
        assert expiry_marks(store.con) == {"samples": first_mark}  # not lowered to 22 days back

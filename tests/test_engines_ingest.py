"""`healthdeck ingest --engine`: PostgreSQL and ClickHouse (chdb) get what a DuckDB store gets.

The same file ingested into DuckDB and into each engine gives the same report, the same rejects
(line and reason) and the same stored records; ingesting it again stores nothing new; an event
re-sent with other content is a conflict, an entity re-sent with other content replaces the old.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.engines.ddl import schema_statements
from healthdeck.engines.store import open_engine_store
from healthdeck.engines.url import parse_engine_url
from healthdeck.store.connection import open_store
from tests.conftest import run_cli, write_jsonl
from tests.engine_servers import PostgresServer, new_engine_url

TENANT = {
    "kind": "tenants",
    "tenant_id": "t1",
    "name": "Acme",
    "tier": "PRO",
    "plan": "pro",
    "created_at": "2026-11-01T00:00:00Z",
    "enterprise": False,
}


def request(event_id: str | None, **changes: Any) -> dict[str, Any]:
    record = {
        "kind": "requests",
        "event_id": event_id,
        "ts": "2026-11-19T10:00:00.250Z",
        "tenant_id": "t1",
        "endpoint": "/v1/x",
        "method": "GET",
        "status": 200,
        "latency_ms": 12.5,
        "tier": "PRO",
    }
    return {k: v for k, v in (record | changes).items() if v is not None}


RECORDS: list[Any] = [
    TENANT,
    request("r1"),
    request("r2", method="FETCH"),  # not a method
    request("r3", latency_ms=-1),  # below the minimum
    request(None, endpoint="/v1/y", status=503, ts="2026-11-19T10:00:03+02:00"),  # no id: its content's hash
    request("r4", tenant_id=" t1"),  # a padded id
    "not json",
    request("r5", consumer="", status=404),
    request("r5", consumer="", status=404),  # the same line twice: one record
    {
        "kind": "activity",
        "event_id": "a1",
        "ts": "2026-11-19T10:05:00Z",
        "tenant_id": "t1",
        "user_id": "u1",
        "event": "login",
        "properties": {"b": [1, 2], "a": "x"},
    },
]
CHANGED = [request("r1", status=500), TENANT | {"name": "Acme Inc"}, request("r6")]


@pytest.fixture(params=["postgres", "clickhouse"])
def engine_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield new_engine_url(request.param, request, tmp_path_factory)


def ingest(tmp: Path, name: str, records: list[Any], *target: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The JSON report of `healthdeck ingest` and its rejects (source, line, error), for --db or --engine."""
    data = write_jsonl(tmp / f"{name}.jsonl", records)
    rejects = tmp / f"{name}-{target[0].lstrip('-')}-rejects.jsonl"
    result = run_cli("ingest", str(data), "-o", "json", "--rejects", str(rejects), *target, cwd=tmp)
    assert result.returncode in (0, 1), result.stderr
    report = orjson.loads(result.stdout)
    found = [orjson.loads(line) for line in rejects.read_bytes().splitlines()] if rejects.exists() else []
    return {k: report[k] for k in ("accepted", "rejected", "duplicates")}, [
        {"line": r["line"], "error": r["error"]} for r in found
    ]


STORED = {
    "requests": "SELECT event_id, ts, tenant_id, endpoint, status, latency_ms, consumer FROM requests "
    "ORDER BY event_id",
    "tenants": "SELECT tenant_id, name, tier, created_at, enterprise FROM tenants ORDER BY tenant_id",
    "activity": "SELECT event_id, ts, properties FROM activity ORDER BY event_id",
}


def stored(*target: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a store holds, read through the engine's own connection (DuckDB SQL, transpiled for it)."""
    if target[0] == "--db":
        import duckdb

        with duckdb.connect(target[1], read_only=True) as con:
            return {name: [tuple(r) for r in con.execute(sql).fetchall()] for name, sql in STORED.items()}
    with open_engine_store(parse_engine_url(target[1])) as store:
        rows = {name: store.con.execute(sql).fetchall() for name, sql in STORED.items()}
    # JSON comes back as text from ClickHouse and as parsed values from psycopg: compare values.
    rows["activity"] = [(i, ts, _json(p)) for i, ts, p in rows["activity"]]
    return rows


def rolled_up(url: str) -> tuple[int, int, int]:
    """Requests counted in request_rollups, those of them in a latency bucket, and the 5xx among them."""
    with open_engine_store(parse_engine_url(url)) as store:
        sums = "sum(requests), sum(CASE WHEN bucket IS NOT NULL THEN requests ELSE 0 END), sum(errors_5xx)"
        requests, bucketed, errors = store.con.execute(f"SELECT {sums} FROM request_rollups").fetchall()[0]
    return int(requests), int(bucketed), int(errors)


def test_an_older_database_gets_its_rollups_built_from_its_requests(engine_url: str, tmp_path: Path) -> None:
    ingest(tmp_path, "first", RECORDS, "--engine", engine_url)
    with open_engine_store(parse_engine_url(engine_url)) as store:  # as healthdeck's schema 7 left it
        store.con.execute("TRUNCATE TABLE request_rollups")
        if store.dialect == "postgres":
            store.con.run("CREATE TABLE request_latency_sketch (bucket INTEGER)")  # its buckets' own table
            store.con.execute("UPDATE _healthdeck_meta SET value = '7' WHERE key = 'schema_version'")
        else:  # a ReplacingMergeTree: the last row inserted for the key is the one read
            store.con.run("CREATE TABLE request_latency_sketch (bucket Int32) ENGINE = Log")
            store.con.execute("INSERT INTO _healthdeck_meta VALUES ('schema_version', '7')")
    old = run_cli("health", "--engine", engine_url)
    assert old.returncode == 2 and "schema version 7" in old.stderr  # a reader never upgrades
    assert ingest(tmp_path, "again", RECORDS, "--engine", engine_url)[0]["accepted"] == 0
    assert rolled_up(engine_url) == (3, 3, 1)
    with open_engine_store(parse_engine_url(engine_url)) as store:
        tables = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'request_latency_sketch'"
        assert store.con.execute(tables).fetchall() == [(0,)]  # gone with the old layout


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str) else value


def test_ingest_rejects_and_stores_as_duckdb_does(engine_url: str, tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    expected, expected_rejects = ingest(tmp_path, "first", RECORDS, "--db", db)
    assert expected == {"accepted": 5, "rejected": 4, "duplicates": 1}  # the DuckDB store: the reference
    report, rejects = ingest(tmp_path, "first", RECORDS, "--engine", engine_url)
    assert (report, rejects) == (expected, expected_rejects)
    duck = stored("--db", db)
    duck["activity"] = [(i, ts, _json(p)) for i, ts, p in duck["activity"]]
    assert stored("--engine", engine_url) == duck

    assert rolled_up(engine_url) == (3, 3, 1)  # three requests, each in its latency bucket, one a 5xx

    again, again_rejects = ingest(tmp_path, "again", RECORDS, "--engine", engine_url)
    assert again == {"accepted": 0, "rejected": 4, "duplicates": 6}
    assert again_rejects == expected_rejects
    assert stored("--engine", engine_url) == duck  # nothing new: a retry is harmless
    assert rolled_up(engine_url) == (3, 3, 1)  # and counts nothing twice

    changed = ingest(tmp_path, "changed", CHANGED, "--db", db)
    assert ingest(tmp_path, "changed", CHANGED, "--engine", engine_url) == changed
    assert changed[1] == [
        {"line": 1, "error": 'conflicts with the stored record (same event_id "r1", different status)'}
    ]
    after = stored("--engine", engine_url)
    assert after["tenants"][0][1] == "Acme Inc"  # an entity re-sent with new content replaces the stored one
    assert [r[4] for r in after["requests"] if r[0] == "r1"] == [200]  # the stored event is kept
    assert len(after["requests"]) == len(duck["requests"]) + 1


def test_schema_is_created_once_and_can_be_applied_again(engine_url: str) -> None:
    url = parse_engine_url(engine_url)
    with open_engine_store(url, create=True, read_only=False) as store:
        before = {kind: store.count(kind) for kind in ("tenants", "requests")}
        for statement in schema_statements(url.kind, "healthdeck"):
            store.engine.run(statement)  # every statement may run again: an upgrade re-applies them
        assert {kind: store.count(kind) for kind in before} == before


def test_a_tenant_without_events_reads_as_in_duckdb(engine_url: str, tmp_path: Path) -> None:
    """An outer join's missing side is NULL on every engine: a silent tenant has no last activity (not 1970)."""
    silent = TENANT | {"tenant_id": "t2", "name": "Quiet"}
    payment = {"kind": "payments", "event_id": "p1", "ts": "2026-11-19T10:00:00Z", "tenant_id": "t1", "amount": 9.5}
    records = [TENANT, silent, request("r1"), payment | {"currency": "USD", "status": "failed"}]
    db = str(tmp_path / "store.duckdb")
    for target in (["--db", db], ["--engine", engine_url]):
        assert ingest(tmp_path, "tenants", records, *target)[0]["accepted"] == 4
    at = datetime(2026, 11, 30, tzinfo=UTC)
    catalog = load_checked_catalog()
    with open_store(db, read_only=True) as store:
        expected = Engine(store, catalog).churn_risk(at=at)
    with open_engine_store(parse_engine_url(engine_url)) as engine_store:
        got = Engine(engine_store, catalog).churn_risk(at=at)
    assert got == expected
    assert expected[1].indicators[0].fact.startswith("no activity since it was created")


def test_postgres_keeps_the_schema_rules_as_constraints(postgres_server: PostgresServer) -> None:
    import psycopg

    url = postgres_server.new_database()
    open_engine_store(parse_engine_url(url), create=True, read_only=False).close()
    good = {
        "event_id": "r1",
        "ts": "2026-11-19T10:00:00Z",
        "tenant_id": "t1",
        "endpoint": "/",
        "method": "GET",
        "status": 200,
        "latency_ms": 1.0,
        "_ingested_at": "2026-11-19T10:00:00Z",
    }
    insert = "INSERT INTO requests ({}) VALUES ({})"
    with psycopg.connect(url, autocommit=True) as con:
        for bad, error in [
            ({"method": "FETCH"}, psycopg.errors.CheckViolation),  # a choice
            ({"latency_ms": -1.0}, psycopg.errors.CheckViolation),  # a bound
            ({"tenant_id": " t1"}, psycopg.errors.CheckViolation),  # a padded id
            ({"endpoint": None}, psycopg.errors.NotNullViolation),  # a required field
        ]:
            row = good | bad
            with pytest.raises(error):
                con.execute(insert.format(", ".join(row), ", ".join(["%s"] * len(row))), list(row.values()))
        con.execute(insert.format(", ".join(good), ", ".join(["%s"] * len(good))), list(good.values()))
        with pytest.raises(psycopg.errors.UniqueViolation):  # the key
            con.execute(insert.format(", ".join(good), ", ".join(["%s"] * len(good))), list(good.values()))


def test_clickhouse_tables_are_sorted_by_tenant_and_time_and_keep_one_row_per_key(tmp_path: Path) -> None:
    url = parse_engine_url(f"chdb://{tmp_path}/ch")
    with open_engine_store(url, create=True, read_only=False) as store:
        (create,) = store.engine.run("SHOW CREATE TABLE requests").rows[0]
        (tenants,) = store.engine.run("SHOW CREATE TABLE tenants").rows[0]
    assert "ENGINE = ReplacingMergeTree\nORDER BY (tenant_id, ts, event_id)" in create
    assert "`ts` DateTime64(6, 'UTC')" in create
    assert "ENGINE = ReplacingMergeTree(_ingested_at)\nORDER BY (tenant_id)" in tenants

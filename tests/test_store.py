"""The store: where it lives, schema upgrades, refusing newer stores, one writer at a time, its sandbox."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from healthdeck.errors import HealthdeckError, StoreVersionError
from healthdeck.store.connection import DEFAULT_DB, open_store, resolve_db_path
from healthdeck.store.migrations import SCHEMA_VERSION, migrate, read_version

from .conftest import run_cli, write_jsonl


def test_db_path_prefers_flag_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEALTHDECK_DB", raising=False)
    assert resolve_db_path(None) == DEFAULT_DB == Path(".healthdeck/healthdeck.duckdb")
    monkeypatch.setenv("HEALTHDECK_DB", "/tmp/from-env.duckdb")
    assert resolve_db_path(None) == Path("/tmp/from-env.duckdb")
    assert resolve_db_path("/tmp/from-flag.duckdb") == Path("/tmp/from-flag.duckdb")


def _spend_file(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "spend.jsonl",
        [{"kind": "spend", "ts": "2026-11-01T00:00:00Z", "category": "marketing", "amount": 10}],
    )


def test_cli_uses_environment_store_and_default_store(tmp_path: Path) -> None:
    env_db = tmp_path / "env.duckdb"
    result = run_cli("ingest", str(_spend_file(tmp_path)), env={"HEALTHDECK_DB": str(env_db)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = run_cli("store", "info", "-o", "json", env={"HEALTHDECK_DB": str(env_db)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"spend": 1' in result.stdout
    result = run_cli("ingest", str(_spend_file(tmp_path)), cwd=tmp_path, env={"HEALTHDECK_DB": ""})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".healthdeck" / "healthdeck.duckdb").exists()


def _old_store(path: Path) -> Path:
    con = duckdb.connect(str(path))
    assert migrate(con, target=1) == 1  # a store from before the views existed
    con.close()
    return path


def test_older_store_is_upgraded_by_a_writable_open(tmp_path: Path) -> None:
    with open_store(_old_store(tmp_path / "old.duckdb")) as store:
        assert read_version(store.con) == SCHEMA_VERSION
        assert store.con.execute("SELECT count(*) FROM customer_summary").fetchone() == (0,)


def test_read_commands_refuse_an_older_store_untouched_until_store_upgrade(tmp_path: Path) -> None:
    path = _old_store(tmp_path / "old.duckdb")
    before = path.read_bytes()
    with pytest.raises(StoreVersionError, match="older than this healthdeck"):
        open_store(path, read_only=True)
    for command in (["store", "info"], ["sql", "SELECT count(*) FROM requests"], ["health"]):
        result = run_cli(*command, "--db", str(path))
        assert result.returncode == 2, (command, result.stderr)
        assert f"upgrade it with `healthdeck store upgrade --db {path}`" in result.stderr, command
    assert path.read_bytes() == before
    result = run_cli("store", "upgrade", "--db", str(path))
    assert result.returncode == 0, result.stderr
    assert f"schema version {SCHEMA_VERSION}" in result.stdout
    assert run_cli("store", "info", "--db", str(path)).returncode == 0


def test_newer_store_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    with open_store(path, create=True) as store:
        store.con.execute("UPDATE _healthdeck_meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreVersionError, match="schema version 999, newer than this healthdeck"):
        open_store(path)
    result = run_cli("store", "info", "--db", str(path))
    assert result.returncode == 2 and "newer than this healthdeck" in result.stderr


@contextmanager
def _held(path: Path, *, read_only: bool) -> Iterator[None]:
    """Another process holding the store open, as a reader or as a writer."""
    code = f"import duckdb,time; c=duckdb.connect({str(path)!r}, read_only={read_only}); print('held', flush=True); "
    holder = subprocess.Popen([sys.executable, "-c", code + "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_second_writer_gets_a_clear_error_and_the_store_is_intact(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    with open_store(path, create=True):
        pass
    with _held(path, read_only=False):
        started = time.monotonic()
        result = run_cli("ingest", str(_spend_file(tmp_path)), "--db", str(path))
        assert time.monotonic() - started < 60
        assert result.returncode == 2
        assert f"the store {path} is being written by another process (process " in result.stderr
        assert "Traceback" not in result.stderr
        reader = run_cli("store", "info", "--db", str(path))
        assert reader.returncode == 2 and "is being written by another process" in reader.stderr
    with open_store(path) as store:
        assert store.count("spend") == 0


def test_a_writer_blocked_by_a_reader_is_told_the_store_is_being_read(tmp_path: Path) -> None:
    path = tmp_path / "read.duckdb"
    with open_store(path, create=True):
        pass
    with _held(path, read_only=True):
        result = run_cli("ingest", str(_spend_file(tmp_path)), "--db", str(path))
        assert result.returncode == 2, result.stderr
        assert f"the store {path} is being read by another process (process " in result.stderr
        assert "written" not in result.stderr
        assert run_cli("store", "info", "--db", str(path)).returncode == 0  # readers share it


def test_memory_limit_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHDECK_MEMORY_LIMIT", "512MB")
    with open_store(tmp_path / "m.duckdb", create=True) as store:
        (limit,) = store.con.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    assert limit in ("512.0 MB", "488.2 MiB"), limit
    monkeypatch.setenv("HEALTHDECK_MEMORY_LIMIT", "lots'; DROP TABLE x; --")
    with pytest.raises(HealthdeckError, match="is not a size"):
        open_store(tmp_path / "m.duckdb")


# A child that commits request batches of 10,000 (below DuckDB's row group, so each goes to the
# write-ahead log, as an HTTP body does) and dies without closing the store: no checkpoint at exit.
_COMMITS_THEN_DIES = """
import os, sys
from datetime import UTC, datetime, timedelta
import pyarrow as pa
from healthdeck.store.connection import open_store
from healthdeck.store.ingest import IngestReport, ingest_table
from healthdeck.store.schema import KINDS

start = datetime.now(UTC) - timedelta(hours=2)
with open_store(sys.argv[1], create=True) as store:
    for batch in range(int(sys.argv[2])):
        ids = range(batch * 10_000, (batch + 1) * 10_000)
        table = pa.table({
            "event_id": [f"req-{i}" for i in ids],
            "ts": pa.array([start + timedelta(milliseconds=i * 50) for i in ids], pa.timestamp("us", "UTC")),
            "tenant_id": [f"t-{i % 300}" for i in ids],
            "endpoint": [f"/v1/items/{i % 97}" for i in ids],
            "method": ["GET"] * 10_000,
            "status": [500 if i % 50 == 0 else 200 for i in ids],
            "latency_ms": [float(i % 1000) for i in ids],
            "consumer": [f"consumer-{i}" for i in ids],
        })
        ingest_table(store, KINDS["requests"], table, source="child", sink=None, report=IngestReport())
    os._exit(0)
"""


def test_small_commits_are_checkpointed_in_large_steps_and_a_crash_replays_them(tmp_path: Path) -> None:
    """Commits below a row group stay in the log until it reaches 64 MB, not DuckDB's default 16 MB
    (see CHECKPOINT_AFTER); a process killed with that much log loses none of them."""
    db = tmp_path / "wal.duckdb"
    subprocess.run([sys.executable, "-c", _COMMITS_THEN_DIES, str(db), "16"], check=True, timeout=120)
    wal = db.with_name(db.name + ".wal")
    # About 34 MB of log; at DuckDB's default it would have been checkpointed at 16 MB.
    assert wal.stat().st_size > 24 * 2**20, "the log was checkpointed before it reached 24 MiB"
    with open_store(db) as store:
        stored = store.con.execute("SELECT count(*), count(*) FILTER (status >= 500) FROM requests").fetchone()
        rolled_up = store.con.execute("SELECT sum(requests), sum(errors_5xx) FROM request_rollups").fetchone()
    assert stored == (160_000, 3_200)
    assert rolled_up == (160_000, 3_200)

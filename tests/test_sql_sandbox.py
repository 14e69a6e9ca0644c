"""`healthdeck sql` reads the store and nothing else: each known way out is closed, and a runaway query stops."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from healthdeck.store.connection import open_store
from healthdeck.store.ingest import ingest_files
from healthdeck.store.migrations import migrate

from .conftest import run_cli, write_jsonl

RUNAWAY = "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = -1"
TENANT = {
    "kind": "tenants",
    "tenant_id": "t1",
    "name": "Acme",
    "tier": "PRO",
    "plan": "pro",
    "created_at": "2026-01-01T00:00:00Z",
    "enterprise": False,
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A closed store holding one tenant, so a subprocess can open it."""
    path = tmp_path / "store.duckdb"
    with open_store(path, create=True) as store:
        ingest_files(store, [str(write_jsonl(tmp_path / "t.jsonl", [TENANT]))], rejects_path=tmp_path / "r")
    return path


def _sql(db: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "healthdeck", "sql", "--db", str(db), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def _refused(result: subprocess.CompletedProcess[str], why: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert why in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def _tenants(db: Path) -> int:
    with open_store(db, read_only=True) as store:
        return store.count("tenants")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_blob('{secret}')",
        "SELECT * FROM glob('{folder}/*')",
        "SELECT * FROM read_json_auto('{folder}/*.txt')",
    ],
)
def test_no_file_can_be_read(db: Path, tmp_path: Path, query: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password-hash-of-root\n")
    result = _sql(db, query.format(secret=secret, folder=tmp_path))
    _refused(result, "file system operations are disabled")
    assert "password-hash-of-root" not in result.stdout + result.stderr
    assert "secret.txt" not in result.stdout


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("COPY (SELECT 1) TO '{target}'", "not a SELECT (DuckDB parses it as COPY)"),
        ("COPY tenants TO '{target}' (FORMAT csv)", "not a SELECT (DuckDB parses it as COPY)"),
        ("EXPORT DATABASE '{folder}'", "not a SELECT (DuckDB parses it as EXPORT)"),
        ("PRAGMA profile_output = '{target}'", "not a SELECT (DuckDB parses it as SET)"),
        ("PRAGMA enable_profiling", "not a SELECT (DuckDB parses it as PRAGMA)"),
        ("SET profile_output = '{target}'", "not a SELECT (DuckDB parses it as SET)"),
        ("CALL enable_profiling()", "not a SELECT (DuckDB parses it as CALL)"),
        ("CHECKPOINT", "not a SELECT"),
        ("CREATE TEMP TABLE t AS SELECT 1", "not a SELECT (DuckDB parses it as CREATE)"),
        ("SELECT 1; COPY (SELECT 1) TO '{target}'", "runs one statement, and the query holds 2"),
    ],
)
def test_no_file_can_be_written(db: Path, tmp_path: Path, query: str, why: str) -> None:
    target, folder = tmp_path / "victim.txt", tmp_path / "export"
    target.write_text("precious\n")
    before = _sha256(target)
    _refused(_sql(db, query.format(target=target, folder=folder)), why)
    assert _sha256(target) == before
    assert not folder.exists()


def test_a_select_cannot_reach_files_through_the_settings_either(db: Path, tmp_path: Path) -> None:
    # Settings are locked on every connection, so even a statement that got through could not reopen the sandbox.
    secret = tmp_path / "secret.txt"
    secret.write_text("password-hash-of-root\n")
    with open_store(db) as store:
        for setting in ("SET enable_external_access = true", "SET lock_configuration = false"):
            with pytest.raises(duckdb.Error):
                store.con.execute(setting)
        with pytest.raises(duckdb.PermissionException):
            store.con.execute(f"SELECT * FROM read_text('{secret}')")


def test_another_database_cannot_be_attached_or_changed(db: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE tenants AS SELECT 't1' AS tenant_id")
    con.close()
    before = _sha256(other)
    attach = f"ATTACH '{other}' AS x (READ_ONLY false); DELETE FROM x.tenants"
    _refused(_sql(db, attach), "runs one statement, and the query holds 2")
    _refused(_sql(db, f"ATTACH '{other}' AS x (READ_ONLY false)"), "not a SELECT (DuckDB parses it as ATTACH)")
    _refused(_sql(db, f"SELECT * FROM '{other}'"), "file system operations are disabled")
    assert _sha256(other) == before


def test_writes_are_refused_on_a_current_store_and_on_an_older_one(db: Path, tmp_path: Path) -> None:
    _refused(_sql(db, "DELETE FROM tenants"), "not a SELECT (DuckDB parses it as DELETE)")
    _refused(_sql(db, "SELECT 1; DELETE FROM tenants"), "runs one statement")
    assert _tenants(db) == 1
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    migrate(con, target=1)
    con.execute(
        "INSERT INTO tenants (tenant_id, name, tier, plan, created_at, enterprise, _record_hash, _ingested_at) "
        "VALUES ('t', 'n', 'PRO', 'p', now(), false, 'h', now())"
    )
    con.close()
    before = _sha256(old)
    _refused(_sql(old, "DELETE FROM tenants"), "older than this healthdeck")
    _refused(_sql(tmp_path / "new.duckdb", "DELETE FROM tenants"), "no store at")
    assert _sha256(old) == before
    assert not (tmp_path / "new.duckdb").exists()


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("INSTALL httpfs", "not a SELECT (DuckDB parses it as LOAD)"),
        ("LOAD httpfs", "not a SELECT (DuckDB parses it as LOAD)"),
        ("SELECT * FROM read_csv('https://example.com/data.csv')", "disabled"),
        ("SELECT * FROM 's3://bucket/data.parquet'", "disabled"),
    ],
)
def test_nothing_is_downloaded(db: Path, query: str, why: str) -> None:
    started = time.monotonic()
    _refused(_sql(db, query), why)
    assert time.monotonic() - started < 30  # refused at once, no network wait


def test_one_select_reads_the_store(db: Path) -> None:
    result = _sql(db, "SELECT tenant_id, name FROM tenants; ", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"tenant_id": "t1", "name": "Acme"}]


SEED_QUERY = Path(__file__).parent / "data" / "seed_sql" / "customer_health_score.sql"


def test_a_query_starting_with_a_comment_comes_from_a_file_stdin_or_after_a_lone_dashdash(db: Path) -> None:
    query = SEED_QUERY.read_text()
    assert query.startswith("--")
    runs = [
        _sql(db, "--file", str(SEED_QUERY), "-o", "json"),
        _sql(db, "-", "-o", "json", stdin=query),
        _sql(db, "-o", "json", "--", query),
    ]
    for result in runs:
        assert result.returncode == 0, result.stderr
        assert [row["tenant_id"] for row in json.loads(result.stdout)] == ["t1"]
    _refused(_sql(db, "--file", str(SEED_QUERY.with_name("missing.sql"))), "cannot read the query from --file")
    _refused(_sql(db, "SELECT 1", "--file", str(SEED_QUERY)), "not both")
    _refused(_sql(db), "no query")
    _refused(_sql(db, "-", stdin="-- only a comment\n"), "the query is empty")


def test_a_runaway_query_is_stopped_by_the_timeout_and_the_store_stays_usable(db: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    result = _sql(db, RUNAWAY, "--timeout", "1")
    assert time.monotonic() - started < 20
    _refused(result, "the query was stopped after 1 s (--timeout)")
    writer = run_cli(
        "ingest", str(write_jsonl(tmp_path / "t2.jsonl", [{**TENANT, "tenant_id": "t2"}])), "--db", str(db)
    )
    assert writer.returncode == 0, writer.stderr
    assert _tenants(db) == 2


def test_ctrl_c_interrupts_a_runaway_query_at_once(db: Path) -> None:
    query = db.parent / "q.sql"
    query.write_text(RUNAWAY)
    process = subprocess.Popen(
        [sys.executable, "-m", "healthdeck", "sql", "--file", str(query), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_in_a_terminal,
    )
    _wait_for_the_query(process, db)
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - interrupted < 5
    assert process.returncode == 130, stderr
    assert "the query was interrupted (Ctrl-C); the store is unchanged" in stderr and "Traceback" not in stderr
    assert _tenants(db) == 1


def _as_in_a_terminal() -> None:
    # A shell starts background jobs with Ctrl-C ignored, and the child would inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_the_query(process: subprocess.Popen[str], db: Path) -> None:
    """Until the process holds the store open (a reader), i.e. its query is running."""
    if not Path("/proc").is_dir():
        time.sleep(5)  # no /proc to look at: leave the process ample time to start
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if _holds(process.pid, db):
            time.sleep(0.5)
            return
        time.sleep(0.1)
    pytest.fail("the query never started")


def _holds(pid: int, db: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(db) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def test_json_output_writes_every_duckdb_type(db: Path) -> None:
    query = """
        SELECT sum(x::HUGEINT) * 100000000000000000000 AS huge, 12.50::DECIMAL(10, 2) AS money,
               DATE '2026-11-01' AS day, TIMESTAMPTZ '2026-11-01 10:00:00+00' AS at, TIME '10:30:00' AS clock,
               INTERVAL '1 day 2 hours 3 minutes 4.5 seconds' AS span, '\\xAA\\xBB'::BLOB AS bytes,
               [1, 2] AS list, {'a': 1, 'b': [DATE '2026-01-02']} AS struct, MAP {'k': 1} AS map,
               '00000000-0000-0000-0000-000000000001'::UUID AS id, 'nan'::DOUBLE AS nothing, NULL AS missing
        FROM (VALUES (2), (3)) v(x)
    """
    result = _sql(db, "-o", "json", "--", query)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "huge": 500000000000000000000,
            "money": 12.5,
            "day": "2026-11-01",
            "at": "2026-11-01T10:00:00+00:00",
            "clock": "10:30:00",
            "span": "P1DT2H3M4.5S",
            "bytes": "qrs=",
            "list": [1, 2],
            "struct": {"a": 1, "b": ["2026-01-02"]},
            "map": {"k": 1},
            "id": "00000000-0000-0000-0000-000000000001",
            "nothing": None,
            "missing": None,
        }
    ]

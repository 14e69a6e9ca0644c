"""Crash safety: a SIGKILLed ingest leaves a store that opens, holds whole batches only, and converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from healthdeck.store.connection import open_store

RECORDS = 400_000
BATCH = 20_000


def _write_requests(path: Path) -> None:
    start = datetime.now(UTC) - timedelta(days=2)
    with open(path, "wb") as f:
        for i in range(RECORDS):
            record = {
                "event_id": f"k{i}",
                "ts": (start + timedelta(milliseconds=300 * i)).isoformat(),
                "tenant_id": f"t{i % 50}",
                "endpoint": "/v1/infer",
                "method": "GET",
                "status": 200 if i % 97 else 503,
                "latency_ms": 10 + i % 90,
            }
            f.write(orjson.dumps(record) + b"\n")


def _committed_bytes(db: Path) -> int:
    """The size of the store's write-ahead log: DuckDB writes it only when a transaction commits.

    The database file itself is no sign of a commit: a large insert writes its blocks there
    before it commits, so a kill then leaves nothing stored.
    """
    wal = Path(str(db) + ".wal")
    return wal.stat().st_size if wal.exists() else 0


def _await_first_commit(db: Path, deadline: float) -> None:
    """Wait until a batch is committed: the log holds its records and has stopped growing.

    The log is written while a commit is under way; a kill then loses that batch whole, so the
    first batch is taken as committed once the log has held still for 50 ms (batches commit ~0.1 s apart).
    """
    size, since = 0, time.monotonic()
    while time.monotonic() < deadline:
        now, current = time.monotonic(), _committed_bytes(db)
        if current != size:
            size, since = current, now
        elif size >= 100_000 and now - since >= 0.05:
            return
        time.sleep(0.01)


def _ingest(path: Path, db: Path) -> subprocess.Popen[bytes]:
    args = ["ingest", str(path), "--kind", "requests", "--batch-rows", str(BATCH), "--db", str(db)]
    return subprocess.Popen([sys.executable, "-m", "healthdeck", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_mid_ingest_then_rerun_gives_exact_totals(tmp_path: Path) -> None:
    data, db = tmp_path / "requests.jsonl", tmp_path / "crash.duckdb"
    _write_requests(data)
    with open_store(db, create=True):
        pass
    assert _committed_bytes(db) == 0  # closing the new store checkpointed it
    victim = _ingest(data, db)
    deadline = time.monotonic() + 120
    _await_first_commit(db, deadline)
    assert victim.poll() is None, "ingest finished before it could be killed; make the input larger"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL

    with open_store(db) as store:
        survived = store.count("requests")
    assert 0 < survived < RECORDS
    assert survived % BATCH == 0, "a batch was partly stored"

    rerun = _ingest(data, db)
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr.decode()
    with open_store(db) as store:
        total, distinct, errors = store.con.execute(
            "SELECT count(*), count(DISTINCT event_id), count(*) FILTER (WHERE status = 503) FROM requests"
        ).fetchone()
    assert total == distinct == RECORDS
    assert errors == len([i for i in range(RECORDS) if i % 97 == 0])

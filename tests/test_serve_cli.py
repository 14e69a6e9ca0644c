"""The CLI while `healthdeck serve` holds the store: every command prints what it prints directly.

Each command runs once on the store directly, then again through a real server on the
same data; the two outputs must be the same (JSON compared parsed, text compared as is).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from healthdeck.api.local import address_path
from healthdeck.api.tokens import Role
from healthdeck.store.connection import open_store
from tests.conftest import ingested, run_cli, write_jsonl
from tests.test_serve_server import NDJSON, Server, jsonl, make_tokens, request_event

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KPI = "api_latency_p95"


def records() -> list[dict[str, Any]]:
    """A day of uptime samples and 2,000 requests before AT, a few failing."""
    samples = [
        {"kind": "samples", "ts": (AT - timedelta(minutes=m)).isoformat(), "metric": "up", "value": 1.0}
        for m in range(1, 1441)
    ]
    requests = [
        {
            "kind": "requests",
            "event_id": f"r{i}",
            "ts": (AT - timedelta(seconds=3 * i + 1)).isoformat(),
            "tenant_id": "t1",
            "endpoint": "/v1/infer",
            "method": "GET",
            "status": 500 if i % 100 == 0 else 200,
            "latency_ms": 60.0 + i % 10,
        }
        for i in range(2000)
    ]
    return samples + requests


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingested(tmp_path_factory.mktemp("served"), records())


at = AT.isoformat()
COMMANDS: list[tuple[str, ...]] = [
    ("health", "--at", at, "-o", "json"),
    ("health", "--at", at, "--full"),
    ("status", "--at", at),
    ("metrics", "get", "--name", KPI, "--at", at, "-o", "json"),
    ("metrics", "export", "--start", (AT - timedelta(hours=3)).isoformat(), "--end", at, "--format", "json"),
    ("metrics", "compare", "--period1", "2026-11-19", "--period2", "2026-11-20", "-o", "json"),
    ("store", "info"),
    ("sql", "SELECT status, count(*) AS n, max(ts) AS newest FROM requests GROUP BY status ORDER BY status"),
    ("sql", "SELECT status, avg(latency_ms) AS mean FROM requests GROUP BY status ORDER BY status", "-o", "json"),
    ("tokens", "list", "-o", "json"),
    # Errors: the same line and exit code.
    ("sql", "DELETE FROM requests"),
    ("metrics", "get", "--name", "no_such_kpi"),
]


def run_all(db: Path, commands: list[tuple[str, ...]]) -> list[subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(lambda command: run_cli(*command, "--db", str(db)), commands))


def same_output(command: tuple[str, ...], direct: str, served: str) -> None:
    if "json" in command:
        assert orjson.loads(served) == orjson.loads(direct), command
    else:
        assert served == direct, command


def test_every_command_prints_the_same_through_a_running_server(db: Path) -> None:
    direct = run_all(db, COMMANDS)
    assert [r.returncode for r in direct] == [0] * 10 + [2, 2], [r.stderr for r in direct]
    server = Server(db).start()
    try:
        assert address_path(db).stat().st_mode & 0o777 == 0o600
        served = run_all(db, COMMANDS)
        watch = run_cli("metrics", "watch", "--name", KPI, "--count", "1", "--db", str(db))
        created = orjson.loads(run_cli("tokens", "create", "--role", "viewer", "-o", "json", "--db", str(db)).stdout)
        with server.client(created["token"]) as client:
            assert client.get("/v1/store").status_code == 200
            assert run_cli("tokens", "revoke", created["id"], "--db", str(db)).returncode == 0
            assert client.get("/v1/store").status_code == 401
    finally:
        code, _ = server.stop()
    assert code == 0 and not address_path(db).exists()
    for command, before, through in zip(COMMANDS, direct, served, strict=True):
        assert (through.returncode, through.stderr) == (before.returncode, before.stderr), command
        same_output(command, before.stdout, through.stdout)
    assert watch.returncode == 0, watch.stderr
    assert "healthdeck —" in watch.stdout and "p95" in watch.stdout.lower()


BATCH = [{**r, "event_id": f"new{i}"} if r["kind"] == "requests" else r for i, r in enumerate(records()[-300:])] + [
    {"kind": "requests", "event_id": "bad"},  # rejected: no ts, tenant, endpoint…
    {"kind": "nonsense"},
]


def test_ingest_through_a_server_stores_deduplicates_and_rejects_like_ingest(db: Path, tmp_path: Path) -> None:
    alone, served = tmp_path / "alone", tmp_path / "served"
    for folder in (alone, served):
        folder.mkdir()
        shutil.copy(db, folder / "store.duckdb")
        write_jsonl(folder / "batch.jsonl", BATCH)

    def ingest(folder: Path, *options: str, stdin: str | None = None) -> tuple[int, str, str]:
        files = (
            ["-"] if stdin else [str(folder / "batch.jsonl"), str(folder / "missing.jsonl"), str(folder / "gone.csv")]
        )
        command = [*files, "--db", str(folder / "store.duckdb"), "--rejects", str(folder / "rejects.jsonl")]
        result = subprocess.run(
            [sys.executable, "-m", "healthdeck", "ingest", *command, *options],
            input=stdin or "",
            capture_output=True,
            text=True,
            timeout=120,
        )
        stdout = re.sub(r'"(records|bytes)_per_s": \d+', r'"\1_per_s": 0', result.stdout)  # timings
        return result.returncode, *(text.replace(str(folder), "<dir>") for text in (stdout, result.stderr))

    # Twice: the second time every good record is a duplicate; then one record from standard input.
    runs = [(), ("-o", "json")]
    direct = [ingest(alone, *options) for options in runs]
    server = Server(served / "store.duckdb").start()
    try:
        through = [ingest(served, *options) for options in runs]
        piped = ingest(served, "-o", "json", stdin=orjson.dumps(BATCH[0]).decode())
    finally:
        server.stop()
    assert through == direct
    assert direct[0][0] == 1 and "accepted 300" in direct[0][1] and "missing.jsonl: cannot open" in direct[0][2]
    rejects = [(f / "rejects.jsonl").read_text().replace(str(f), "<dir>") for f in (alone, served)]
    assert rejects[0] == rejects[1] and rejects[0].count("\n") == 8  # 2 bad records, 2 missing files, twice
    assert orjson.loads(piped[1])["duplicates"] == 1
    query = ("sql", "SELECT event_id, ts, latency_ms FROM requests ORDER BY event_id", "-o", "json")
    kept = [run_cli(*query, "--db", str(folder / "store.duckdb")).stdout for folder in (alone, served)]
    assert kept[0] == kept[1] and "new1" in kept[0]


def test_only_the_address_files_secret_opens_the_local_routes_and_a_killed_servers_file_is_removed(
    db: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store.duckdb"
    shutil.copy(db, store)
    server = Server(store, "--no-auth").start()  # even with every token check off
    try:
        assert httpx.get(f"{server.url}/v1/local/whoami").status_code == 401
        assert httpx.post(f"{server.url}/v1/local/call", content=b"x").status_code == 401
        assert "/v1/local/" not in httpx.get(f"{server.url}/openapi.json").text
    finally:
        server.stop(signal.SIGKILL)
    assert address_path(store).exists()  # nobody removed it
    result = run_cli("store", "info", "-o", "json", "--db", str(store))
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["tables"]["requests"] == 2000
    assert not address_path(store).exists()


SIMULATE = ("simulate", "--tenants", "3", "--days", "1", "--seed", "1", "--requests-per-day", "500", "-o", "json")


def test_simulate_runs_inside_a_running_server_and_again_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "sim.duckdb"
    make_tokens(db)  # an empty store
    args = SIMULATE
    server = Server(db).start()
    try:
        first = run_cli(*args, "--db", str(db))
        again = run_cli(*args, "--db", str(db))
        counted = run_cli("sql", "SELECT count(*) AS n FROM requests", "-o", "json", "--db", str(db))
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0, stderr
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    added = orjson.loads(first.stdout)
    assert added["accepted"] > 0 and orjson.loads(again.stdout)["accepted"] == 0
    assert orjson.loads(counted.stdout) == [{"n": added["by_kind"]["requests"]}]
    with open_store(db, read_only=True) as store:  # the server is gone: the records are in the store
        assert store.count("requests") == added["by_kind"]["requests"]


def test_events_simulated_inside_the_server_are_duplicates_when_posted_again(tmp_path: Path) -> None:
    """`simulate` runs on the server's writer, which keeps the hashes of the ids it stores
    (store/recent_ids.py): a simulated request posted again is a duplicate, not a second request."""
    db = tmp_path / "sim.duckdb"
    [token] = make_tokens(db, (Role.operator, None))
    server = Server(db).start()
    try:
        with server.client(token) as http:
            live = {**request_event(1), "ts": datetime.now(UTC).isoformat()}  # its window's hashes are read now
            assert http.post("/v1/events", content=jsonl([live]), headers=NDJSON).json()["accepted"] == 1
            simulated = run_cli(*SIMULATE, "--append", "--db", str(db))
            assert simulated.returncode == 0, simulated.stderr
            newest = "SELECT * EXCLUDE (_ingested_at) FROM requests WHERE event_id <> 'r-1' ORDER BY ts DESC LIMIT 1"
            [row] = orjson.loads(run_cli("sql", newest, "-o", "json", "--db", str(db)).stdout)
            record = {key: value for key, value in row.items() if value is not None}
            answer = http.post("/v1/events?kind=requests", content=jsonl([record]), headers=NDJSON).json()
            assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (0, 1, 0)
            same_id = f"SELECT count(*) AS n FROM requests WHERE event_id = '{record['event_id']}'"
            assert orjson.loads(run_cli("sql", same_id, "-o", "json", "--db", str(db)).stdout) == [{"n": 1}]
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0, stderr

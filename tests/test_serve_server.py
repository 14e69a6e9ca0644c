"""`healthdeck serve` as a real process: start, stop, crash, restart, tokens, --no-auth.

`Server` (used by every test_serve_* module) runs `python -m healthdeck serve` on a free
loopback port and talks real HTTP to it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from healthdeck.api.tokens import Role, create_token
from healthdeck.store.connection import open_store
from tests.conftest import run_cli

HOST = "127.0.0.1"
# How long a server may take to start or stop before it is taken for hung: on a 2-core CI machine under
# the suite's load (both xdist workers, browsers, other servers), a start took over 30 s.
HANG_SECONDS = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A running `healthdeck serve` subprocess on a free loopback port."""

    def __init__(self, db: Path, *options: str, env: dict[str, str] | None = None) -> None:
        # Scheduled evaluation costs a full evaluation at start; only the tests of it turn it on.
        scheduled = "--evaluate-every" in options
        self.db, self.options = db, options if scheduled else (*options, "--evaluate-every", "off")
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        command = ["serve", "--port", str(self.port), "--db", str(self.db), *self.options]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "healthdeck", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        # Wait for the server's state, ready or exited: on a loaded 2-core machine starting takes over
        # 30 s, and a probe over 1 s. The deadline only stops a server that hangs.
        deadline = time.monotonic() + HANG_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=HANG_SECONDS).status_code == 200:
                    return self
            except httpx.TransportError:  # not listening yet
                time.sleep(0.05)
        self.process.kill()  # never leave a server behind
        self.process.communicate()
        raise AssertionError(f"serve did not become ready in {HANG_SECONDS} s")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        assert self.process is not None
        self.process.send_signal(sig)
        _, stderr = self.process.communicate(timeout=HANG_SECONDS)
        return self.process.returncode, stderr.decode()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=HANG_SECONDS)


def make_tokens(db: Path, *specs: tuple[Role, str | None]) -> list[str]:
    """Create the store (if new) and one token per (role, project); return their texts."""
    with open_store(db, create=True) as store:
        return [create_token(store.con, role=role, project=project)[1] for role, project in specs]


def jsonl(records: list[Any]) -> bytes:
    return b"".join((r.encode() if isinstance(r, str) else orjson.dumps(r)) + b"\n" for r in records)


NDJSON = {"Content-Type": "application/x-ndjson"}


def tenant(tenant_id: str, **changes: Any) -> dict[str, Any]:
    record = {
        "kind": "tenants",
        "tenant_id": tenant_id,
        "name": f"Tenant {tenant_id}",
        "tier": "PRO",
        "plan": "pro-monthly",
        "created_at": "2026-10-01T09:30:00Z",
        "enterprise": False,
    }
    return {**record, **changes}


def request_event(n: int, tenant_id: str = "t-1") -> dict[str, Any]:
    return {
        "kind": "requests",
        "event_id": f"r-{n}",
        "ts": "2026-11-25T10:00:00Z",
        "tenant_id": tenant_id,
        "endpoint": "/v1/things",
        "method": "GET",
        "status": 200,
        "latency_ms": 12.5,
    }


def test_a_server_killed_with_9_loses_nothing_and_a_stopped_one_releases_the_store(
    stopped_at_the_end: list[Server], tmp_path: Path
) -> None:
    db = tmp_path / "store.duckdb"
    [token] = make_tokens(db, (Role.operator, None))
    first = Server(db).start()
    stopped_at_the_end.append(first)
    acknowledged = 0
    with first.client(token) as http:
        for batch in range(3):
            records = [request_event(batch * 1000 + n) for n in range(1000)]
            acknowledged += http.post("/v1/events", content=jsonl(records), headers=NDJSON).json()["accepted"]
    first.stop(signal.SIGKILL)
    second = Server(db).start()
    stopped_at_the_end.append(second)
    with second.client(token) as http:
        assert http.get("/v1/store").json()["tables"]["requests"] == acknowledged == 3000
        again = http.post("/v1/events", content=jsonl([request_event(2999)]), headers=NDJSON).json()
        assert (again["accepted"], again["duplicates"]) == (0, 1)  # a client retrying after the crash
    _only_one_server_per_store_and_port(second, tmp_path / "other.duckdb")
    code, stderr = second.stop()
    assert code == 0 and "Traceback" not in stderr, stderr
    assert not Path(f"{db}.wal").exists(), "the store was not checkpointed on SIGTERM"
    with open_store(db) as store:  # released: a writer may open it again
        assert store.count("requests") == 3000


def _only_one_server_per_store_and_port(running: Server, other_db: Path) -> None:
    same_store = run_cli("serve", "--port", str(free_port()), "--db", str(running.db))
    assert same_store.returncode == 2
    assert "is being written by another process" in same_store.stderr
    same_port = run_cli("serve", "--port", str(running.port), "--db", str(other_db))
    assert same_port.returncode == 2
    assert f"cannot listen on {HOST}:{running.port}" in same_port.stderr
    assert "healthdeck serves" not in same_port.stderr  # it never said it was serving
    assert "Traceback" not in same_store.stderr + same_port.stderr


def test_a_demo_server_says_it_has_no_auth_evaluates_on_schedule_and_keeps_history(tmp_path: Path) -> None:
    # A local time zone must not leak into the server's reads: its cursors evaluate in UTC too.
    new_york = {"TZ": "America/New_York"}
    server = Server(tmp_path / "store.duckdb", "--no-auth", "--evaluate-every", "1s", env=new_york).start()
    try:
        with server.client() as http:
            assert http.get("/health").json()["auth"].startswith("off")
            recent = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
            records = [{**request_event(n), "ts": recent} for n in range(20)]
            assert http.post("/v1/events", content=jsonl(records), headers=NDJSON).status_code == 200
            history = _history_with(http, points=2)
    finally:
        code, stderr = server.stop()
    assert code == 0
    assert "warning: --no-auth" in stderr
    assert set(history["areas"]) == {"service", "customer", "business", "capacity"}
    assert len(history["kpi"]["points"]) == 1  # its catalog frequency is 1m: one row a minute, not one a cycle
    assert {p["at"][-6:] for p in history["overall"]} == {"+00:00"}
    with open_store(server.db) as store:  # kept in the store, for the next start
        assert store.count("health_history") > 0


def _history_with(http: httpx.Client, *, points: int) -> dict[str, Any]:
    """The history once it holds `points` evaluations with a score (the first ones may predate the ingest)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        history = http.get("/v1/history", params={"since": "1h", "kpi": "api_latency_p95"}).json()
        if sum(p["score"] is not None for p in history["overall"]) >= points:
            return dict(history)
        time.sleep(0.2)
    raise AssertionError(f"fewer than {points} scheduled evaluations in 120 s")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # 192.0.2.1 is a documentation address: even a broken check could not bind it.
        (["--no-auth", "--host", "192.0.2.1"], "not a loopback address"),
        (["--evaluate-every", "soon"], "--evaluate-every: cannot read duration 'soon'"),
    ],
    ids=["no-auth-beyond-loopback", "bad-schedule"],
)
def test_unsafe_or_unreadable_options_are_refused(tmp_path: Path, options: list[str], message: str) -> None:
    result = run_cli("serve", *options, "--db", str(tmp_path / "s.duckdb"))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "s.duckdb").exists()  # refused before the store is touched


WEB_STACK = ("fastapi", "starlette", "uvicorn", "prometheus_client", "httpx")
BUILD_THE_CLI = (
    "import sys, typer.main; from healthdeck.cli.app import app; typer.main.get_command(app); print(*sys.modules)"
)


def test_building_the_cli_does_not_import_the_web_stack() -> None:
    loaded = subprocess.run([sys.executable, "-c", BUILD_THE_CLI], capture_output=True, text=True, check=True)
    assert not [name for name in loaded.stdout.split() if name.split(".")[0] in WEB_STACK]


def test_tokens_commands_create_list_revoke_and_the_server_honours_them(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    created = run_cli("tokens", "create", "--role", "admin", "--name", "ops", "--output", "json", "--db", db)
    assert created.returncode == 0, created.stderr
    admin = orjson.loads(created.stdout)
    assert admin["role"] == "admin" and admin["token"].startswith("hd_")
    server = Server(tmp_path / "store.duckdb").start()
    try:
        with server.client(admin["token"]) as http:
            viewer = http.post("/v1/tokens", json={"role": "viewer", "project": "t-1"}).json()
            assert viewer["project"] == "t-1"
            assert httpx.get(f"{server.url}/v1/projects/t-1", headers=bearer(viewer["token"])).status_code == 404
            assert http.delete(f"/v1/tokens/{viewer['id']}").json()["revoked_at"] is not None
            assert httpx.get(f"{server.url}/v1/projects/t-1", headers=bearer(viewer["token"])).status_code == 401
    finally:
        server.stop()
    listed = run_cli("tokens", "list", "--output", "json", "--db", db)
    assert [(t["name"], t["revoked_at"] is None) for t in orjson.loads(listed.stdout)] == [("ops", True), (None, False)]
    assert admin["token"] not in listed.stdout
    assert run_cli("tokens", "revoke", admin["id"], "--db", db).returncode == 0


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}

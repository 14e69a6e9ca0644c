"""`healthdeck serve --demo`: the simulation goes on live through the server's own HTTP ingest.

A real server on a free loopback port, a small simulation (50 tenants × 2 days) and a 1-second feed.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from healthdeck.api.tokens import Role, create_token, find_token
from healthdeck.store.connection import open_store
from tests.conftest import run_cli
from tests.test_serve_server import Server, free_port

DEMO = ("--demo", "--demo-tenants", "50", "--demo-days", "2", "--demo-interval", "1s")
# How long a live request may take to arrive on a loaded machine (the feed sends one batch a second).
LIVE_WAIT_S = 60


def _newest_request(client_server: Server, token: str) -> datetime:
    with client_server.client(token) as client:
        answer = client.post("/v1/sql", json={"query": "SELECT max(ts) AS newest FROM requests"})
    assert answer.status_code == 200, answer.text
    return datetime.fromisoformat(answer.json()["rows"][0]["newest"])


def _next_live_request(client_server: Server, token: str, *, after: datetime) -> datetime:
    """The newest request once one newer than `after` is stored. The feed sends a batch a second, but
    under load its first batches can take longer to arrive: waited for, up to LIVE_WAIT_S."""
    deadline = time.monotonic() + LIVE_WAIT_S
    while (newest := _newest_request(client_server, token)) <= after:
        assert time.monotonic() < deadline, f"no live request arrived in {LIVE_WAIT_S} s"
        time.sleep(0.5)
    return newest


def _live_health(client_server: Server, *, after: datetime) -> dict[str, Any]:
    """`/health` once its newest event is newer than `after`: it is cached for 5 s and evaluated
    again after that, which a loaded machine can take some seconds more to do (it once showed an
    event 13 s old), so it is waited for, up to LIVE_WAIT_S, rather than held to a fixed age."""
    deadline = time.monotonic() + LIVE_WAIT_S
    with client_server.client() as client:
        while True:
            quick: dict[str, Any] = client.get("/health").json()
            if quick["newest_event"] and datetime.fromisoformat(quick["newest_event"]) > after:
                return quick
            assert time.monotonic() < deadline, f"no event newer than {after} in /health: {quick}"
            time.sleep(0.5)


def _live_counts(db: Path, since: datetime, until: datetime) -> tuple[int, int, int]:
    """Requests and samples stored in [since, until], and the requests before `since` (the simulated
    window). `until` is a live request's time, itself counted: on a loaded machine the first live
    batch to arrive may hold that one request alone."""
    with open_store(db) as store:
        query = "SELECT count(*) FROM {} WHERE ts >= ? AND ts <= ?"
        requests = store.con.execute(query.format("requests"), [since, until]).fetchone()
        samples = store.con.execute(query.format("samples"), [since, until]).fetchone()
        window = store.con.execute("SELECT count(*) FROM requests WHERE ts < ?", [since]).fetchone()
    assert requests and samples and window
    return int(requests[0]), int(samples[0]), int(window[0])


def _window_end(db: Path) -> datetime:
    with open_store(db) as store:
        row = store.con.execute("SELECT value FROM _healthdeck_meta WHERE key = 'simulations'").fetchone()
    assert row
    return datetime.fromisoformat(re.findall(r'"end": "([^"]+)"', row[0])[-1])


def test_demo_keeps_events_coming_restarts_without_duplicates_and_stops_on_sigint(
    stopped_at_the_end: list[Server], tmp_path: Path
) -> None:
    db = tmp_path / "demo.duckdb"
    with open_store(db, create=True) as store:
        _, token = create_token(store.con, role=Role.viewer, name="test")
    server = Server(db, *DEMO).start()
    stopped_at_the_end.append(server)
    first = _newest_request(server, token)
    later = _next_live_request(server, token, after=first)
    quick = _live_health(server, after=first)
    assert quick["stale"] is False
    code, stderr = server.stop(signal.SIGINT)
    assert code == 0, stderr
    assert not db.with_name(db.name + ".serve.json").exists()

    printed = re.search(r"demo token \(viewer[^)]*\): (\S+)", stderr)
    assert printed, stderr
    with open_store(db) as store:
        demo_token = find_token(store.con, printed.group(1))
    assert demo_token is not None and demo_token.role is Role.viewer
    assert f"{server.url}/ui/login#token={printed.group(1)}" in stderr  # the console, signed in as it

    since, until = _window_end(db), later
    before = _live_counts(db, since, until)
    assert before[0] > 0 and before[1] > 0
    again = Server(db, *DEMO).start()
    stopped_at_the_end.append(again)
    time.sleep(2)
    code, stderr = again.stop(signal.SIGINT)
    assert code == 0, stderr
    assert "simulating" not in stderr  # the window was not simulated again
    assert _live_counts(db, since, until) == before


def test_demo_refuses_an_address_beyond_this_machine(tmp_path: Path) -> None:
    result = run_cli("serve", "--demo", "--host", "0.0.0.0", "--db", str(tmp_path / "s.duckdb"))
    assert result.returncode == 2
    assert "--demo serves only on this machine" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_while_the_demo_is_simulated_says_how_to_finish_it(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    command = [sys.executable, "-m", "healthdeck", "serve", "--db", str(db), "--port", str(free_port())]
    # 200 tenants × 30 days take well over the second it is given here once it says it simulates.
    process = subprocess.Popen([*command, "--demo", "--demo-tenants", "200"], stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    said = process.stderr.readline()
    assert "simulating" in said, said
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted while simulating" in stderr and "Traceback" not in stderr
    assert not db.with_name(db.name + ".serve.json").exists()

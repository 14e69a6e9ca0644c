"""A real `healthdeck serve` on a free loopback port, and the store it serves, for the benchmarks that measure it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from healthdeck.api.tokens import Role, create_token
from healthdeck.store.connection import open_store

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(db: Path, port: int, *options: str) -> subprocess.Popen[bytes]:
    """Start `healthdeck serve` on the store and wait (up to a minute) until it is ready."""
    command = [sys.executable, "-m", "healthdeck", "serve", "--port", str(port), "--db", str(db), *options]
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    for _ in range(1200):
        try:
            if httpx.get(f"http://{HOST}:{port}/readyz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the server did not start")


def bench_store(given: Path | None, folder: Path) -> tuple[Path, str]:
    """The store to serve (`given`, else 200 tenants × 30 days simulated into `folder`) and a viewer token.

    A given store is not copied: the server writes its history into it.
    """
    db = given or folder / "store.duckdb"
    if given is None:
        command = [sys.executable, "-m", "healthdeck", "simulate", "--tenants", "200", "--days", "30", "--db", str(db)]
        subprocess.run(command, check=True, capture_output=True)
    with open_store(db) as store:
        requests = store.count("requests")
        _, token = create_token(store.con, role=Role.viewer, name="bench")
    print(f"store: {db.name}, {requests:,} requests (simulate --tenants 200 --days 30 unless --db)")
    return db, token

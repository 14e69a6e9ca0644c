"""A real `healthdeck serve` on a free loopback port, for the benchmarks that measure it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

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

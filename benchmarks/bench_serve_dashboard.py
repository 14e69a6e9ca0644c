"""Benchmark: the dashboard under 50 concurrent clients, and the server's evaluation cycle.

On a simulated store (`healthdeck simulate --tenants 200 --days 30` unless --db is given):
- `GET /api/projects/_all/metrics/dashboard`: p50/p95/p99 latency with 50 concurrent clients
  (asyncio + httpx on loopback, bounded by a request count and a time limit); baseline in the
  same run: the same endpoint with 1 client; floor: `GET /livez` (no token, no store) with 50.
- evaluation cycle: `healthdeck_evaluation_seconds` as the server reports it (mean over its
  evaluations, scheduled ones included); baseline: the engine's `health()` in this process on
  the same store, before the server starts.

    .venv/bin/python benchmarks/bench_serve_dashboard.py [--db STORE] [--clients 50] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from healthdeck.api.tokens import Role, create_token
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store.connection import open_store

HOST = "127.0.0.1"
DASHBOARD = "/api/projects/_all/metrics/dashboard"
TIME_LIMIT_SECONDS = 60.0


def _simulated_store(folder: Path) -> Path:
    db = folder / "store.duckdb"
    command = [sys.executable, "-m", "healthdeck", "simulate", "--tenants", "200", "--days", "30", "--db", str(db)]
    subprocess.run(command, check=True, capture_output=True)
    return db


def _in_process_health(db: Path, repeat: int = 3) -> float:
    """Median seconds of the engine's `health()` on `db`, after one warm-up run."""
    with open_store(db, read_only=True) as store:
        engine = Engine(store, load_checked_catalog())
        engine.health()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            engine.health()
            times.append(time.perf_counter() - started)
        engine.save_compiled()
    return statistics.median(times)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _start_server(db: Path, port: int, every: str) -> subprocess.Popen[bytes]:
    command = ["serve", "--port", str(port), "--db", str(db), "--evaluate-every", every]
    server = subprocess.Popen([sys.executable, "-m", "healthdeck", *command], stderr=subprocess.DEVNULL)
    for _ in range(1200):
        try:
            if httpx.get(f"http://{HOST}:{port}/readyz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the server did not start")


async def _load(url: str, token: str, *, clients: int, requests: int, path: str = DASHBOARD) -> list[float]:
    """`requests` reads of `path` shared by `clients` concurrent clients; each latency in seconds."""
    latencies: list[float] = []
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:

        async def client(share: int) -> None:
            for _ in range(share):
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                (await http.get(path)).raise_for_status()
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
    return latencies


def _percentiles(latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=100)
    return (
        f"{len(latencies)} requests, p50 {cuts[49] * 1000:.1f} ms, p95 {cuts[94] * 1000:.1f} ms, "
        f"p99 {cuts[98] * 1000:.1f} ms, max {max(latencies) * 1000:.0f} ms"
    )


def _evaluation_seconds(url: str, token: str) -> tuple[float, int]:
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}).text
    total = float(re.search(r"^healthdeck_evaluation_seconds_sum (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]
    count = int(float(re.search(r"^healthdeck_evaluation_seconds_count (\S+)$", text, re.M).group(1)))  # type: ignore[union-attr]
    return total / count, count


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", type=Path, help="a store to use (a copy is not made: the server writes its history)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--evaluate-every", default="10s", help="the server's --evaluate-every during the run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or _simulated_store(Path(tmp))
        with open_store(db) as store:
            requests = store.count("requests")
            _, token = create_token(store.con, role=Role.viewer, name="bench")
        print(f"store: {db.name}, {requests:,} requests (simulate --tenants 200 --days 30 unless --db)")
        in_process = _in_process_health(db)
        port = _free_port()
        server = _start_server(db, port, args.evaluate_every)
        url = f"http://{HOST}:{port}"
        try:
            one = asyncio.run(_load(url, token, clients=1, requests=200))
            many = asyncio.run(_load(url, token, clients=args.clients, requests=args.requests))
            floor = asyncio.run(_load(url, token, clients=args.clients, requests=args.requests, path="/livez"))
            cycle, evaluations = _evaluation_seconds(url, token)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
    print(f"baseline, dashboard with 1 client: {_percentiles(one)}")
    print(f"dashboard with {args.clients} concurrent clients: {_percentiles(many)}")
    p95_one, p95_many = statistics.quantiles(one, n=100)[94], statistics.quantiles(many, n=100)[94]
    print(f"ratio p95 {args.clients} clients / 1 client: {p95_many / p95_one:.1f} (target p95 < 50 ms)")
    print(f"floor, GET /livez (no token, no store) with {args.clients} clients: {_percentiles(floor)}")
    print(f"baseline, engine health() in process: {in_process:.2f} s (median of 3, warm)")
    print(f"server evaluation: {cycle:.2f} s mean over {evaluations} evaluations; ratio {cycle / in_process:.2f}")


if __name__ == "__main__":
    main()

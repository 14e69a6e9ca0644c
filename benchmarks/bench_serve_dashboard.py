"""Benchmark: the dashboard under 50 concurrent clients, and the server's evaluation cycle.

On a simulated store (`healthdeck simulate --tenants 200 --days 30` unless --db is given):
- `GET /api/projects/_all/metrics/dashboard`: p50/p95/p99 latency with 50 concurrent clients on
  loopback, from wrk (Debian's `wrk`: a C load generator, so the clients do not take the server's
  CPU) when it is installed, else asyncio + httpx in this process; bounded by time (wrk) or by a
  request count and a time limit (httpx). Baseline in the same run: the same endpoint with 1
  client; floor: `GET /livez` (no token, no store) with 50.
- evaluation cycle: `healthdeck_evaluation_seconds` as the server reports it (mean over its
  evaluations, scheduled ones included); baseline: the engine's `health()` in this process on
  the same store, before the server starts.

    .venv/bin/python benchmarks/bench_serve_dashboard.py [--db STORE] [--clients 50] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store.connection import open_store
from serving import HOST, bench_store, free_port, start_server  # benchmarks/ is the script's folder

DASHBOARD = "/api/projects/_all/metrics/dashboard"
TIME_LIMIT_SECONDS = 60.0


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


# wrk prints p50/p95/p99 (microseconds) through its Lua hook; its --latency table has no p95.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("PCT %d %d %d %d %d\\n", summary.requests, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def _wrk(url: str, token: str, *, clients: int, seconds: int, path: str = DASHBOARD) -> str:
    """wrk's figures for `path` with `clients` connections over `seconds`, as `_percentiles` prints them."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        command = ["wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{seconds}s", "-s", script.name]
        command += ["-H", f"Authorization: Bearer {token}", f"{url}{path}"]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    count, p50, p95, p99, top = map(int, re.search(r"^PCT (.*)$", out, re.M).group(1).split())  # type: ignore[union-attr]
    ms = {name: f"{us / 1000:.1f} ms" for name, us in (("p50", p50), ("p95", p95), ("p99", p99), ("max", top))}
    return f"{count} requests, " + ", ".join(f"{name} {value}" for name, value in ms.items())


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


def _httpx_figures(url: str, token: str, clients: int, requests: int) -> None:
    one = asyncio.run(_load(url, token, clients=1, requests=200))
    many = asyncio.run(_load(url, token, clients=clients, requests=requests))
    floor = asyncio.run(_load(url, token, clients=clients, requests=requests, path="/livez"))
    print(f"baseline, dashboard with 1 client: {_percentiles(one)}")
    print(f"dashboard with {clients} concurrent clients: {_percentiles(many)}")
    p95_one, p95_many = statistics.quantiles(one, n=100)[94], statistics.quantiles(many, n=100)[94]
    print(f"ratio p95 {clients} clients / 1 client: {p95_many / p95_one:.1f} (target p95 < 50 ms)")
    print(f"floor, GET /livez (no token, no store) with {clients} clients: {_percentiles(floor)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", type=Path, help="a store to use (a copy is not made: the server writes its history)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--evaluate-every", default="10s", help="the server's --evaluate-every during the run")
    parser.add_argument("--seconds", type=int, default=20, help="how long wrk loads each route")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, token = bench_store(args.db, Path(tmp))
        in_process = _in_process_health(db)
        port = free_port()
        server = start_server(db, port, "--evaluate-every", args.evaluate_every)
        url = f"http://{HOST}:{port}"
        try:
            if shutil.which("wrk"):
                print("load generator: wrk")
                print(f"baseline, dashboard with 1 client: {_wrk(url, token, clients=1, seconds=args.seconds)}")
                print(
                    f"dashboard, {args.clients} clients: {_wrk(url, token, clients=args.clients, seconds=args.seconds)}"
                )
                floor_figures = _wrk(url, token, clients=args.clients, seconds=args.seconds, path="/livez")
                print(f"floor, GET /livez with {args.clients} clients: {floor_figures}")
            else:
                print("load generator: asyncio + httpx in this process (install wrk for a load that leaves the CPU)")
                _httpx_figures(url, token, args.clients, args.requests)
            cycle, evaluations = _evaluation_seconds(url, token)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
    print(f"baseline, engine health() in process: {in_process:.2f} s (median of 3, warm)")
    print(f"server evaluation: {cycle:.2f} s mean over {evaluations} evaluations; ratio {cycle / in_process:.2f}")


if __name__ == "__main__":
    main()

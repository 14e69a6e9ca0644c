"""Benchmark: `healthdeck health --full` on the simulated 30-day demo store.

Prints the time of a full health evaluation (every scored KPI over its window and the previous
one), and, as the baseline measured in the same run, one hand-written DuckDB query that scans every
request once (count, errors, p95 latency): the ratio says how many full scans the health check costs.

    .venv/bin/python benchmarks/bench_health.py [--db PATH] [--tenants 500 --days 30] [--repeat 5]

Without --db it simulates a store in a temporary folder first (about a minute for the default size).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store.connection import open_store
from timing import timed_runs  # benchmarks/ is the script's folder

BASELINE_SQL = "SELECT count(*), count(*) FILTER (WHERE status >= 500), quantile_cont(latency_ms, 0.95) FROM requests"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    db = args.db
    if db is None:
        from healthdeck.sim import simulate

        db = Path(tempfile.mkdtemp()) / "bench.duckdb"
        with open_store(db, create=True) as store:
            started = time.perf_counter()
            simulate(store, tenants=args.tenants, days=args.days)
            print(f"simulated {args.tenants} tenants × {args.days} days in {time.perf_counter() - started:.1f} s")
    catalog = load_checked_catalog()
    with open_store(db, read_only=True) as store:
        requests = store.count("requests")
        engine = Engine(store, catalog)
        health = timed_runs(args.repeat, lambda: engine.health())
        scan = timed_runs(args.repeat, lambda: store.con.execute(BASELINE_SQL).fetchall())
    kpis = len(catalog.scored())
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; store: {db} ({requests:,} requests)")
    (health_wall, health_cpu), (scan_wall, scan_cpu) = health, scan
    print(
        f"health --full ({kpis} KPIs, each over 2–3 windows), median of {args.repeat}: "
        f"{statistics.median(health_wall):.3f} s wall / {statistics.median(health_cpu):.3f} s CPU"
    )
    print(
        f"baseline, one full scan of requests: {statistics.median(scan_wall):.3f} s wall / "
        f"{statistics.median(scan_cpu):.3f} s CPU"
    )
    ratios = [
        statistics.median(h) / statistics.median(b) for h, b in ((health_wall, scan_wall), (health_cpu, scan_cpu))
    ]
    print(f"ratio health / one scan: {ratios[0]:.1f} wall / {ratios[1]:.1f} CPU")


if __name__ == "__main__":
    main()

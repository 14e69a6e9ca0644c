"""How fast `simulate` fills a store, against bulk-inserting the same requests with no checks.

    .venv/bin/python benchmarks/bench_simulate.py [--tenants 500 --days 30 --requests-per-day N --scenario S]

Runs `simulate` into a temporary store (generation plus ingest: validation,
deduplication, insert), then, as a baseline, generates the same request rows
and inserts them straight into a fresh store's `requests` table
(`INSERT INTO requests SELECT ... FROM arrow_table`). Prints seconds, rows per
second and the ratio simulate / baseline. It asserts nothing about time.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from healthdeck.sim import simulate
from healthdeck.sim.config import make_config
from healthdeck.sim.traffic import day_requests
from healthdeck.sim.world import build_world
from healthdeck.store.connection import open_store
from healthdeck.store.ingest import IngestReport
from healthdeck.store.schema import KINDS

# A fixed end keeps runs comparable (and identical in content).
END = datetime(2026, 11, 2, 13, 37, tzinfo=UTC)


def main() -> None:
    args = _arguments()
    options: dict[str, Any] = {
        "tenants": args.tenants,
        "days": args.days,
        "seed": args.seed,
        "end": END,
        "requests_per_day": args.requests_per_day,
        "scenario": args.scenario,
    }
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as scratch:
        simulated, cpu, report = _time_simulate(Path(scratch) / "simulated.duckdb", options)
        generated, inserted, rows = _time_baseline(Path(scratch) / "baseline.duckdb", options)
    requests = report.by_kind.get("requests", 0)
    baseline = generated + inserted
    print(f"simulate  {args.tenants} tenants x {args.days} days, seed {args.seed}, scenario {args.scenario}")
    print(
        f"  simulate   {simulated:7.1f} s  {report.accepted:>12,} rows  {report.accepted / simulated:>10,.0f} rows/s"
        f"  ({requests:,} requests, {requests / simulated:,.0f}/s; rejected {report.rejected})"
    )
    print(
        f"  baseline   {baseline:7.1f} s  {rows:>12,} rows  {rows / baseline:>10,.0f} rows/s"
        f"  (generate {generated:.1f} s + bulk insert {inserted:.1f} s, requests only)"
    )
    print(f"  CPU        {cpu:7.1f} s  simulate's user + system time (steadier than wall time on a busy machine)")
    print(f"  ratio      {simulated / baseline:7.2f}   simulate / baseline")
    print(f"  peak RSS   {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.0f} MB")
    for kind, count in sorted(report.by_kind.items(), key=lambda item: -item[1]):
        print(f"    {kind:<20} {count:>12,}")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests-per-day", type=int, default=None, help="default: ~1,200 per tenant")
    parser.add_argument("--scenario", default="demo", help="a simulate preset (default: demo)")
    return parser.parse_args()


def _time_simulate(path: Path, options: dict[str, Any]) -> tuple[float, float, IngestReport]:
    """Wall seconds, CPU seconds (all threads) and the report of one `simulate` run."""
    with open_store(path, create=True) as store:
        started, cpu = time.perf_counter(), _cpu_seconds()
        report = simulate(store, **options)
        return time.perf_counter() - started, _cpu_seconds() - cpu, report


def _time_baseline(path: Path, options: dict[str, Any]) -> tuple[float, float, int]:
    """The same request rows, generated the same way, inserted with no validation and no dedup."""
    columns = ", ".join(f'"{name}"' for name in KINDS["requests"].columns)
    world = build_world(make_config(**options))
    generated = inserted = 0.0
    rows = 0
    with open_store(path, create=True) as store:
        for day in range(world.cfg.days):
            started = time.perf_counter()
            batch = day_requests(world, day).table
            generated += time.perf_counter() - started
            started = time.perf_counter()
            store.con.register("batch", batch)
            store.con.execute(f"INSERT INTO requests ({columns}, _ingested_at) SELECT *, now() FROM batch")
            store.con.unregister("batch")
            inserted += time.perf_counter() - started
            rows += batch.num_rows
    return generated, inserted, rows


if __name__ == "__main__":
    main()

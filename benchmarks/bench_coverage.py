"""Benchmark: what coverage after expiry costs, the store's time bounds with the rollups' beside them.

Every report reads each table's first and newest time in one query (measures/base.py, BOUNDS_SQL);
it now reads the rollups' first and last minute too, so that a KPI the rollups answer is covered
where raw requests expired. Printed, on a copy of a simulated store before and after expiring its
raw requests (`--raw`, default 10d: a 30-day store then answers its older weeks from the rollups):
that query against the one without the rollups (the baseline, in the same run), and the engine's
full report over a 30-day window ending before the raw cutoff. Wall and CPU time, medians.

    .venv/bin/python benchmarks/bench_coverage.py [--db STORE] [--raw 10d] [--repeat 21]

STORE is copied first and not changed; without --db, `healthdeck simulate --tenants 50 --days 30`
makes one in a temporary folder (1.8 M requests).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from healthdeck.engine.measures.base import BOUNDS_SQL, time_bound
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store.connection import Store, open_store
from healthdeck.store.retention import expire, parse_retention, write_retention
from healthdeck.store.schema import KINDS
from timing import timed_runs

# The query before the rollups' bounds were added: the baseline.
KINDS_ONLY = " UNION ALL ".join(
    f"SELECT '{kind}', {time_bound(kind, newest=False)}, {time_bound(kind, newest=True)}" for kind in KINDS
)


def medians(repeat: int, step: object) -> tuple[float, float]:
    walls, cpus = timed_runs(repeat, step)  # type: ignore[arg-type]
    return statistics.median(walls), statistics.median(cpus)


def bounds_figures(store: Store, repeat: int, label: str) -> None:
    base = medians(repeat, lambda: store.con.execute(KINDS_ONLY).fetchall())
    now = medians(repeat, lambda: store.con.execute(BOUNDS_SQL).fetchall())
    print(
        f"{label}: bounds with rollups {now[0] * 1000:.2f} ms wall ({now[1] * 1000:.2f} ms CPU); "
        f"kinds only {base[0] * 1000:.2f} ms ({base[1] * 1000:.2f} ms); ratio {now[0] / base[0]:.2f} "
        f"(CPU {now[1] / base[1]:.2f})"
    )


def report_figures(store: Store, at: datetime, repeat: int, label: str) -> dict[str, float | None]:
    """Time the full report over 30-day windows ending at `at`; answer each KPI's value."""
    engine = Engine(store, load_checked_catalog())
    wall, cpu = medians(repeat, lambda: engine.health(at=at, window=timedelta(days=30)))
    report = engine.health(at=at, window=timedelta(days=30))
    with_data = sum(1 for r in report.results() if r.value is not None)
    print(f"{label}: full report at {at:%Y-%m-%d %H:%M}, 30-day windows: {wall:.3f} s wall ({cpu:.3f} s CPU), "
          f"{with_data} KPIs with data, score {report.score}")  # fmt: skip
    return {r.kpi.id: r.value for r in report.results()}


def compare_values(before: dict[str, float | None], after: dict[str, float | None]) -> None:
    kept = [kpi for kpi, value in after.items() if value is not None]
    same = [kpi for kpi in kept if after[kpi] == before[kpi]]
    print(f"after expiry {len(kept)} KPIs have data, {len(same)} of them the value they had before: {', '.join(same)}")
    for kpi in sorted(set(kept) - set(same)):
        print(f"  {kpi}: {before[kpi]} before, {after[kpi]} after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--raw", default="10d")
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "store.duckdb"
        if args.db is None:
            simulate = ("simulate", "--tenants", "50", "--days", "30", "-q", "--db", str(copy))
            subprocess.run([sys.executable, "-m", "healthdeck", *simulate], check=True)
        else:
            shutil.copy(args.db, copy)
        with open_store(copy) as store:
            newest = store.con.execute("SELECT max(ts) FROM requests").fetchone()[0].astimezone(UTC)
            # Its window lies past a 10-day raw retention; on whole minutes, as the rollups count there
            # (a window ending mid-minute is measured over its whole minutes: a rate then differs by ~1e-5).
            at = (newest - timedelta(days=12)).replace(second=0, microsecond=0)
            bounds_figures(store, args.repeat, "before expiry")
            before = report_figures(store, at, max(args.repeat // 4, 3), "before expiry")
            write_retention(store, changes={"raw": parse_retention("--raw", args.raw)})
            gone = sum(table.expired for table in expire(store, now=newest))
            print(f"expired {gone:,} raw rows older than {args.raw} before {newest:%Y-%m-%d %H:%M}")
            bounds_figures(store, args.repeat, "after expiry")
            compare_values(before, report_figures(store, at, max(args.repeat // 4, 3), "after expiry"))
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()

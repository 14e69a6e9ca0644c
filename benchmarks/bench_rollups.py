"""Benchmark: windowed p95 latency and 5xx rate from the per-minute rollups against raw requests.

Prints, on a simulated store, the p95 latency and the 5xx error rate over the last 30 days, 7 days,
1 day and 1 hour (windows not aligned to the minute), computed as the engine computes them from the
rollups and sketches (store/rollups.py) and, as the baseline in the same run, from raw requests
(HEALTHDECK_ROLLUPS=off). The shorter windows place the engine's threshold (rollup.MIN_WINDOW).
Then the cost of maintaining the rollups at ingest: the same batches of requests ingested into two
new stores, with and without the roll-up step, newest first and then ordered by tenant; and the
time migration 7 takes to build the rollups of the whole store in place. Wall and CPU time (every
thread) throughout.

    .venv/bin/python benchmarks/bench_rollups.py [--db PATH] [--tenants 200 --days 30] [--repeat 5]

Without --db it simulates a store in a temporary folder first (7 M requests take about a minute).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

import pyarrow as pa

from healthdeck.engine.measures import rollup
from healthdeck.engine.measures.base import MeasureContext, Window
from healthdeck.engine.measures.generic import Aggregate, where_predicates, windowed_aggregate
from healthdeck.store import ingest, rollups
from healthdeck.store.connection import Store, open_store
from healthdeck.store.ingest import IngestReport, ingest_table
from healthdeck.store.schema import KINDS

P95 = Aggregate(table="requests", agg="quantile", column="latency_ms", q=0.95)
ERRORS = Aggregate(table="requests", where={"status": {"gte": 500, "lte": 599}})
ALL = Aggregate(table="requests")
INGEST_ROWS = 1_000_000
INGEST_ORDERS = {"newest first": "ts DESC", "ordered by tenant": "tenant_id, ts DESC"}


class Timer:
    """Wall-clock and CPU seconds (every thread of this process) of a `with` block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def median_timer(repeat: int, action: Callable[[], object]) -> tuple[float, float]:
    """(median wall, median CPU) seconds of `action` over `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        with Timer() as timer:
            action()
        walls.append(timer.wall)
        cpus.append(timer.cpu)
    return statistics.median(walls), statistics.median(cpus)


def p95_and_error_rate(store: Store, window: Window, *, rollups: bool) -> tuple[float | None, float | None]:
    """The two KPIs as the engine computes them from the rollups, or from raw requests, in a fresh
    context (no answer is remembered); the rollups are read whatever the window's length."""
    ctx = MeasureContext(store)

    def value(spec: Aggregate) -> float | None:
        if not rollups:
            return windowed_aggregate(ctx, spec, window)
        where = partial(where_predicates, spec=spec)
        shape = ("aggregate", "rollups", spec.model_dump_json())  # the engine's own shape and template
        return ctx.windowed_scalar(shape, window, lambda w: rollup.expression(ctx, spec, w, where=where))

    p95, errors, total = value(P95), value(ERRORS), value(ALL)
    return p95, (100 * errors / total if errors is not None and total else None)


def queries(store: Store, repeat: int) -> None:
    newest = store.con.execute("SELECT max(ts) FROM requests").fetchall()[0][0]
    end = newest + timedelta(microseconds=1)  # as the engine clips a window at the newest event
    lengths = {"30 days": timedelta(days=30), "7 days": timedelta(days=7), "1 day": timedelta(days=1)}
    for label, length in {**lengths, "1 hour": timedelta(hours=1)}.items():
        window = Window(end - length, end)
        timings, answers = {}, {}
        os.environ[rollup.ROLLUPS_ENV] = "off"  # the raw path, whatever the window's length
        for mode in ("on", "off"):
            answer = partial(p95_and_error_rate, store, window, rollups=mode == "on")
            answers[mode] = answer()  # also compiles and caches the SQL templates
            timings[mode] = median_timer(repeat, answer)
        (wall_on, cpu_on), (wall_off, cpu_off) = timings["on"], timings["off"]
        print(
            f"p95 + 5xx rate over {label}: rollups {wall_on * 1000:.0f} ms wall / {cpu_on * 1000:.0f} ms CPU; "
            f"raw requests (baseline) {wall_off * 1000:.0f} ms / {cpu_off * 1000:.0f} ms; "
            f"ratio {wall_on / wall_off:.2f} wall, {cpu_on / cpu_off:.2f} CPU"
        )
        print(f"  answers (p95 ms, 5xx %): rollups {_shown(answers['on'])}, raw {_shown(answers['off'])}")
    os.environ.pop(rollup.ROLLUPS_ENV)


def _shown(values: tuple[float | None, float | None]) -> str:
    return ", ".join("-" if v is None else f"{v:.4f}" for v in values)


def ingest_overhead(store: Store, folder: Path) -> None:
    """The newest INGEST_ROWS requests ingested again into new stores, with and without rollups,
    newest first and ordered by tenant (each batch then spans the minutes of every other)."""
    columns = ", ".join(f'"{f.name}"' for f in KINDS["requests"].fields)
    newest = f"SELECT {columns} FROM requests ORDER BY ts DESC LIMIT {INGEST_ROWS}"
    for number, (label, order) in enumerate(INGEST_ORDERS.items()):
        table = store.con.sql(f"SELECT * FROM ({newest}) ORDER BY {order}").to_arrow_table()
        _with_and_without_rollups(table, folder / f"ingest-{number}", label=label)


def _with_and_without_rollups(table: pa.Table, folder: Path, *, label: str) -> None:
    folder.mkdir()
    batches = [table.slice(offset, ingest.BATCH_ROWS) for offset in range(0, table.num_rows, ingest.BATCH_ROWS)]
    kept = ingest.roll_up_fresh
    timers: dict[str, Timer] = {}
    for run, mode in enumerate(("without", "with") * 2):  # the best of two, each into a new store
        ingest.roll_up_fresh = kept if mode == "with" else _no_roll_up  # type: ignore[assignment]
        timer = _ingest_all(folder / f"ingest-{run}.duckdb", batches)
        if mode not in timers or timer.wall < timers[mode].wall:
            timers[mode] = timer
    ingest.roll_up_fresh = kept
    with_, without = timers["with"], timers["without"]
    print(
        f"ingest {table.num_rows:,} requests {label} in {len(batches)} batches: with rollups {with_.wall:.2f} s wall / "
        f"{with_.cpu:.2f} s CPU; without (baseline) {without.wall:.2f} s / {without.cpu:.2f} s; "
        f"ratio {with_.wall / without.wall:.2f} wall, {with_.cpu / without.cpu:.2f} CPU"
    )


def _no_roll_up(con: object) -> None:
    """The ingest baseline: the requests stored, no rollup maintained."""


def _ingest_all(db: Path, batches: list[pa.Table]) -> Timer:
    with open_store(db, create=True) as target, Timer() as timer:
        for batch in batches:
            ingest_table(target, KINDS["requests"], batch, source="bench", sink=None, report=IngestReport())
    return timer


def migration(db: Path, folder: Path) -> None:
    """Migration 7 on a copy of the store made to look like version 6 (no rollups yet)."""
    older = folder / "v6.duckdb"
    shutil.copy(db, older)
    with open_store(older) as store:
        requests = store.count("requests")
        store.con.execute(f"DROP TABLE {rollups.ROLLUPS}")
        store.con.execute("UPDATE _healthdeck_meta SET value = '6' WHERE key = 'schema_version'")
    with Timer() as timer:
        open_store(older).close()
    with open_store(older, read_only=True) as store:
        rows = store.count(rollups.ROLLUPS)
    print(
        f"migration 7 on {requests:,} requests: {timer.wall:.2f} s wall / {timer.cpu:.2f} s CPU; "
        f"{rows:,} rollup rows ({rows / requests:.2f} per request)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    db = args.db
    if db is None:
        from healthdeck.sim import simulate

        db = folder / "bench.duckdb"
        with open_store(db, create=True) as store, Timer() as timer:
            simulate(store, tenants=args.tenants, days=args.days)
        print(f"simulated {args.tenants} tenants × {args.days} days in {timer.wall:.1f} s")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    with open_store(db, read_only=True) as store:
        print(f"store: {db} ({store.count('requests'):,} requests)")
        queries(store, args.repeat)
        ingest_overhead(store, folder)
    migration(db, folder)
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()

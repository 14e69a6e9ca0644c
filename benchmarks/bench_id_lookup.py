"""Benchmark: what a small batch costs when the store already holds a busy day of requests.

Ingest looks each new event_id up among the events stored within a day of it (store/ingest.py,
REPEAT_WINDOW): a re-sent event is a duplicate, or a conflict, and not a second event. DuckDB has
no index it can join with, so the lookup reads every id stored in that day. A live platform commits
small batches (an HTTP body of 10,000 events) next to a full day of earlier ones, which makes the
cost of a batch grow with the events of a day, not with the store's history. This measures it.

For each `--per-day` volume it builds a store holding that many requests spread over the past 24
hours (random ids, as UUIDs are), then commits `--batches` batches of `--batch` new requests of the
last minute, the way the server's writer does (`ingest_table`, one transaction each, the log
checkpointed at the end), and prints wall and CPU time per batch and the lookup's share of it; then
the same batches into a copy of the store that keeps the hashes of recent ids in memory, as the
server's does (store/recent_ids.py): they are read first, as the server's writer does when it
starts (`warm_recent_ids`, timed on its own), then a first batch (timed on its own too) and the
batches measured. The baseline, in the same run: the same batches into an empty store.

    .venv/bin/python benchmarks/bench_id_lookup.py [--per-day 1000000,4000000] [--batch 10000] [--batches 10]

Building the stores takes a while (4 M requests: about 20 s); they go to a temporary folder.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from healthdeck.store.connection import open_store
from healthdeck.store.ingest import BATCH_ROWS, IngestReport, ingest_table, warm_recent_ids
from healthdeck.store.recent_ids import RecentIds
from healthdeck.store.schema import KINDS

REQUESTS = KINDS["requests"]
# The statement of store/ingest.py that finds which of a batch's ids are stored near it in time.
LOOKUP = "CREATE OR REPLACE TEMP TABLE _known"


def requests(count: int, *, start: datetime, spacing: timedelta) -> pa.Table:
    """`count` requests from `start`, `spacing` apart, with random ids."""
    rows = range(count)
    return pa.table(
        {
            "event_id": [uuid.uuid4().hex for _ in rows],
            "ts": pa.array([start + spacing * i for i in rows], pa.timestamp("us", "UTC")),
            "tenant_id": [f"t-{i % 500:04d}" for i in rows],
            "endpoint": [f"/v1/items/{i % 97}" for i in rows],
            "method": ["GET"] * count,
            "status": [500 if i % 97 == 0 else 200 for i in rows],
            "latency_ms": [float(5 + i * 7919 % 1000) for i in rows],
        }
    )


def build(db: Path, per_day: int, now: datetime) -> None:
    """A store holding `per_day` requests spread over the 24 hours before `now`."""
    spacing = timedelta(days=1) / max(per_day, 1)
    with open_store(db, create=True) as store:
        for first in range(0, per_day, BATCH_ROWS):
            count = min(BATCH_ROWS, per_day - first)
            table = requests(count, start=now - timedelta(days=1) + spacing * first, spacing=spacing)
            ingest_table(store, REQUESTS, table, source="day", sink=None, report=IngestReport())


class StatementClock:
    """The store's connection, timing each statement by its first words."""

    def __init__(self, con: Any) -> None:
        self._con, self.seconds = con, defaultdict(float)

    def execute(self, sql: str, *args: Any) -> Any:
        started = time.perf_counter()
        result = self._con.execute(sql, *args)
        self.seconds["lookup" if sql.startswith(LOOKUP) else "other"] += time.perf_counter() - started
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def commit_batches(
    db: Path, *, batch: int, batches: int, now: datetime, recent: bool = False
) -> tuple[float, float, float, float, float]:
    """Wall and CPU seconds per batch, the id lookup's seconds per batch, and the warm-up's and the
    first batch's wall seconds. With `recent`, the store keeps the hashes of recent ids, as the
    server's does: they are read first (the warm-up), then a first batch and the batches measured."""
    starts = [now - timedelta(minutes=1) + timedelta(seconds=number) for number in range(batches + 1)]
    tables = [requests(batch, start=start, spacing=timedelta(milliseconds=0.1)) for start in starts]
    warm = first = 0.0
    with open_store(db) as store:
        if recent:
            store.recent_ids = RecentIds()
            warm = time.perf_counter()
            warm_recent_ids(store)
            warm = time.perf_counter() - warm
            first = time.perf_counter()
            ingest_table(store, REQUESTS, tables[-1], source="live", sink=None, report=IngestReport())
            first = time.perf_counter() - first
        clock = StatementClock(store.con)
        store.con = clock
        wall, cpu = time.perf_counter(), time.process_time()
        for table in tables[:batches]:
            ingest_table(store, REQUESTS, table, source="live", sink=None, report=IngestReport())
        store.con.execute("CHECKPOINT")  # the log's rows written into the file: part of what a batch costs
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        store.con = clock._con
    lookup = clock.seconds["lookup"]
    return wall / batches, cpu / batches, lookup / batches, warm, first


def shown(figures: tuple[float, float, float, float, float]) -> str:
    wall, cpu, lookup, *_ = figures
    return f"{wall * 1000:7.1f} ({cpu * 1000:7.1f})  lookup {lookup * 1000:6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--per-day", default="1000000,4000000", help="requests already stored in the past day")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    now = datetime.now(UTC)
    folder = Path(tempfile.mkdtemp(prefix="bench-id-lookup-"))
    try:
        empty = folder / "empty.duckdb"
        with open_store(empty, create=True):
            pass
        base = commit_batches(empty, batch=args.batch, batches=args.batches, now=now)
        print(f"{args.batches} batches of {args.batch:,} requests, wall ms (CPU ms) per batch, the id lookup's wall ms")
        print(f"  empty store (baseline)        {shown(base)}")
        for per_day in (int(n) for n in args.per_day.split(",")):
            db = folder / f"day-{per_day}.duckdb"
            build(db, per_day, now)
            shutil.copy(db, folder / "copy.duckdb")
            figures = commit_batches(db, batch=args.batch, batches=args.batches, now=now)
            ratio = f"ratio {figures[0] / base[0]:.2f} ({figures[1] / base[1]:.2f} CPU)"
            print(f"  {per_day:>11,} in the past day {shown(figures)}  {ratio}")
            kept = commit_batches(folder / "copy.duckdb", batch=args.batch, batches=args.batches, now=now, recent=True)
            ratio = f"ratio {kept[0] / base[0]:.2f} ({kept[1] / base[1]:.2f} CPU)"
            timings = f"warm-up {kept[3] * 1000:.0f} ms, first batch {kept[4] * 1000:.0f} ms"
            print(f"  {'':>11}  recent ids kept {shown(kept)}  {ratio}; {timings}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark: how long the command line takes to start, against what Python and the engine need anyway.

Prints medians over several runs of
- the floor: `python -c pass` and `python -c "import duckdb"` (no command can start faster);
- `python -m healthdeck --help`;
- `python -m healthdeck health` on a small simulated store, and the engine's own time for the same
  health check in a warm process (Engine.health, imports and catalog already loaded).
The difference between the last two is the start-up overhead: imports, catalog loading, opening the store.

    .venv/bin/python benchmarks/bench_startup.py [--db PATH] [--repeat 7]

Without --db it simulates a small store (5 tenants × 3 days) in a temporary folder first.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGET_SECONDS = 0.3  # the goal for `--help` and for health's start-up overhead


def _median_seconds(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _run(*args: str) -> Callable[[], object]:
    def run() -> object:
        return subprocess.run([sys.executable, *args], check=True, capture_output=True)

    return run


def _small_store() -> Path:
    from healthdeck.sim import simulate
    from healthdeck.store.connection import open_store

    db = Path(tempfile.mkdtemp()) / "startup.duckdb"
    with open_store(db) as store:
        simulate(store, tenants=5, days=3)
    return db


def _engine_seconds(db: Path, repeat: int) -> float:
    """Engine.health in this (warm) process: the work any `health` run has to do."""
    from healthdeck.engine.session import Engine, load_checked_catalog
    from healthdeck.store.connection import open_store

    catalog = load_checked_catalog()
    with open_store(db, read_only=True) as store:
        engine = Engine(store, catalog)
        engine.health()  # the first evaluation in a process sets Ibis up; not part of the steady cost
        seconds = _median_seconds(repeat, engine.health)
        engine.save_compiled()
    return seconds


def _line(label: str, seconds: float, floor: float) -> None:
    print(f"{label:<44} {seconds:6.3f} s   ({seconds / floor:5.1f} × python -c pass)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    db = args.db or _small_store()
    health = _run("-m", "healthdeck", "health", "--db", str(db))
    health()  # compiles the store's SQL templates once, as the first run on any store does
    floor = _median_seconds(args.repeat, _run("-c", "pass"))
    duckdb = _median_seconds(args.repeat, _run("-c", "import duckdb"))
    help_ = _median_seconds(args.repeat, _run("-m", "healthdeck", "--help"))
    cli = _median_seconds(args.repeat, health)
    engine = _engine_seconds(db, args.repeat)
    overhead = cli - engine
    print(f"medians of {args.repeat} runs; store {db}")
    _line("python -c pass (floor)", floor, floor)
    _line("python -c 'import duckdb'", duckdb, floor)
    _line("healthdeck --help", help_, floor)
    _line("healthdeck health (small store)", cli, floor)
    _line("engine alone (Engine.health, warm process)", engine, floor)
    _line("health start-up overhead (health - engine)", overhead, floor)
    print(f"ratio health / engine alone: {cli / engine:.1f}")
    for label, seconds in (("--help", help_), ("health start-up overhead", overhead)):
        print(f"{label}: {'within' if seconds <= TARGET_SECONDS else 'OVER'} the {TARGET_SECONDS} s target")


if __name__ == "__main__":
    main()

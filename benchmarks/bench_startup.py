"""Benchmark: how long the command line takes to start, against what Python and the engine need anyway.

Prints medians over several runs, as wall-clock time and as CPU time (user + system; on a machine
shared with other work the CPU column is the steadier one), of
- the floor: `python -c pass` and `python -c "import duckdb"` (no command can start faster);
- `python -m healthdeck --help`;
- `python -m healthdeck health` on a small simulated store, and the engine's own time for the same
  health check in a warm process (Engine.health, imports and catalog already loaded).
The difference between the last two is the start-up overhead: imports, catalog loading, opening the store.
Each command runs once first, so the store's SQL templates are compiled and the validated shipped
packs are cached (the warm caches every run after the first finds; the packs' cache in the temporary
folder, not the user's) and Python's bytecode is cached, as in an installed copy: the commands run
with their bytecode cache in a temporary folder even when PYTHONDONTWRITEBYTECODE is set (pass
--no-bytecode-cache to measure a checkout that compiles every module from source on every run).

    .venv/bin/python benchmarks/bench_startup.py [--db PATH] [--repeat 7] [--no-bytecode-cache]

Without --db it simulates a small store (5 tenants × 3 days) in a temporary folder first.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGET_SECONDS = 0.3  # the goal for `--help` and for health's start-up overhead
Timing = tuple[float, float]  # (wall, cpu) seconds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _median(repeat: int, action: Callable[[], object], cpu_clock: Callable[[], float]) -> Timing:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), cpu_clock()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu_clock() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _command(repeat: int, *args: str) -> Timing:
    """A Python command in a fresh process."""
    run = lambda: subprocess.run([sys.executable, *args], check=True, capture_output=True, env=ENV)  # noqa: E731
    return _median(repeat, run, _children_cpu)


ENV = dict(os.environ)


def _cache_bytecode(scratch: Path) -> None:
    """Let the commands keep their compiled bytecode (outside the source tree) as an installed copy does."""
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    ENV["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")


def _cache_catalog(scratch: Path) -> None:
    """Keep the validated shipped packs in the scratch folder, for the commands and the engine alike."""
    os.environ["HEALTHDECK_CACHE_DIR"] = ENV["HEALTHDECK_CACHE_DIR"] = str(scratch / "catalog-cache")


def _small_store(scratch: Path) -> Path:
    from healthdeck.sim import simulate
    from healthdeck.store.connection import open_store

    db = scratch / "startup.duckdb"
    with open_store(db, create=True) as store:
        simulate(store, tenants=5, days=3)
    return db


def _engine(db: Path, repeat: int) -> Timing:
    """Engine.health in this (warm) process: the work any `health` run has to do."""
    from healthdeck.engine.session import Engine, load_checked_catalog
    from healthdeck.store.connection import open_store

    catalog = load_checked_catalog()
    with open_store(db, read_only=True) as store:
        engine = Engine(store, catalog)
        engine.health()  # the first evaluation in a process reads the template file; not the steady cost
        timing = _median(repeat, engine.health, time.process_time)
        engine.save_compiled()
    return timing


def _line(label: str, timing: Timing) -> None:
    print(f"{label:<44} {timing[0]:7.3f} s {timing[1]:7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-bytecode-cache", action="store_true", help="leave PYTHONDONTWRITEBYTECODE as it is")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        _measure(args, Path(scratch))


def _measure(args: argparse.Namespace, scratch: Path) -> None:
    if not args.no_bytecode_cache:
        _cache_bytecode(scratch)
    _cache_catalog(scratch)
    db = args.db or _small_store(scratch)
    for warm_up in (["--help"], ["health", "--db", str(db)]):  # bytecode, and the store's SQL templates
        _command(1, "-m", "healthdeck", *warm_up)
    figures = {
        "python -c pass (floor)": _command(args.repeat, "-c", "pass"),
        "python -c 'import duckdb'": _command(args.repeat, "-c", "import duckdb"),
        "healthdeck --help": _command(args.repeat, "-m", "healthdeck", "--help"),
        "healthdeck health (small store)": _command(args.repeat, "-m", "healthdeck", "health", "--db", str(db)),
        "engine alone (Engine.health, warm process)": _engine(db, args.repeat),
    }
    health, engine = figures["healthdeck health (small store)"], figures["engine alone (Engine.health, warm process)"]
    figures["health start-up overhead (health - engine)"] = (health[0] - engine[0], health[1] - engine[1])
    bytecode = "not cached" if args.no_bytecode_cache else "cached"
    print(f"medians of {args.repeat} runs; store {db}; bytecode {bytecode}\n{'':<44} {'wall':>9} {'cpu':>9}")
    for label, timing in figures.items():
        _line(label, timing)
    print(f"ratio health / engine alone: {health[0] / engine[0]:.1f} (wall), {health[1] / engine[1]:.1f} (cpu)")
    for label in ("healthdeck --help", "health start-up overhead (health - engine)"):
        verdicts = [
            f"{'within' if t <= TARGET_SECONDS else 'OVER'} ({kind})"
            for kind, t in zip(("wall", "cpu"), figures[label], strict=True)
        ]
        print(f"{label}: {', '.join(verdicts)} the {TARGET_SECONDS} s target")


if __name__ == "__main__":
    main()

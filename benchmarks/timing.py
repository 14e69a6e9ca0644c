"""Timing runs of a step, wall-clock and CPU, for the benchmarks (each reduces the runs as it reports)."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed_runs(repeat: int, step: Callable[[], object]) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of `repeat` runs of `step`."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus

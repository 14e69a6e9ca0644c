"""Independent, reproducible random streams: one per (purpose, day) of a run."""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, purpose: str, index: int = 0) -> np.random.Generator:
    """The generator for `purpose` (and window day `index`) of the run seeded with `seed`.

    Built like `SeedSequence(seed).spawn(...)` children (a spawn key under the root
    seed), so streams are independent, and any day can be regenerated on its own
    without replaying the days before it.
    """
    key = (zlib.crc32(purpose.encode()), index)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def stochastic_round(rng: np.random.Generator, expected: float) -> int:
    """An integer whose mean is `expected` (so small rates still happen sometimes)."""
    whole = int(np.floor(expected))
    return whole + int(rng.random() < expected - whole)


def at_least_one(rng: np.random.Generator, expected: float, eligible: int) -> int:
    """How many of `eligible` things happen: about `expected`, at least one, at most `eligible`."""
    if eligible <= 0:
        return 0
    return int(min(eligible, max(1, stochastic_round(rng, expected))))


def weighted_index(rng: np.random.Generator, weights: np.ndarray, count: int) -> np.ndarray:
    """`count` indexes into `weights`, each drawn with probability proportional to its weight."""
    cdf = np.cumsum(weights)
    return np.searchsorted(cdf, rng.random(count) * cdf[-1], side="right").astype(np.int64)

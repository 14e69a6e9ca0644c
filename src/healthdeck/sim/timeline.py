"""Which plan tier each tenant is on at any moment, as billing moved them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TierTimeline:
    """Tiers at the window start plus every later change, sorted by time."""

    initial: np.ndarray
    change_us: np.ndarray
    change_tenant: np.ndarray
    change_tier: np.ndarray

    @classmethod
    def build(cls, initial: np.ndarray, changes: list[tuple[int, int, int]]) -> TierTimeline:
        """From (µs, tenant, new tier) changes in any order."""
        ordered = sorted(changes)
        column = np.array(ordered, dtype=np.int64).reshape(-1, 3)
        return cls(initial=initial.copy(), change_us=column[:, 0], change_tenant=column[:, 1], change_tier=column[:, 2])

    def at(self, moment_us: int) -> np.ndarray:
        """Every tenant's tier at `moment_us`."""
        tiers = self.initial.copy()
        done = np.searchsorted(self.change_us, moment_us, side="right")
        tiers[self.change_tenant[:done]] = self.change_tier[:done]
        return tiers

    def final(self) -> np.ndarray:
        return self.at(np.iinfo(np.int64).max)

    def rows(self, tenant: np.ndarray, ts_us: np.ndarray) -> np.ndarray:
        """The tier of each (tenant, time) row; loops over the few changes inside the rows' span."""
        if len(ts_us) == 0:
            return np.zeros(0, dtype=np.int64)
        first, last = int(ts_us.min()), int(ts_us.max())
        tiers = self.at(first)[tenant]
        lo = np.searchsorted(self.change_us, first, side="right")
        hi = np.searchsorted(self.change_us, last, side="right")
        for i in range(lo, hi):
            hit = (tenant == self.change_tenant[i]) & (ts_us >= self.change_us[i])
            tiers[hit] = self.change_tier[i]
        return tiers

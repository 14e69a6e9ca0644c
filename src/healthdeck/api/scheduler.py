"""Scheduled evaluation: the server evaluates the scored KPIs on a cadence and keeps the result.

Each cycle evaluates on a read cursor (beside ingest), then writes the history rows
through the single writer. Stopping waits for the cycle in progress, so the store is
never closed under a running evaluation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from healthdeck.api.history import history_rows, keep, last_kept
from healthdeck.api.owner import StoreOwner
from healthdeck.api.prometheus import ServerMetrics
from healthdeck.engine.health import HealthReport

log = logging.getLogger("healthdeck.serve")


class Scheduler:
    """Evaluates every `every` and keeps `retention` of history, from start until `stop()`."""

    def __init__(
        self,
        owner: StoreOwner,
        metrics: ServerMetrics,
        *,
        every: timedelta,
        retention: timedelta,
        on_evaluated: Callable[[HealthReport], None],
    ) -> None:
        self.owner, self.metrics = owner, metrics
        self.every, self.retention = every, retention
        # Called on the event loop with each evaluation once it is kept; it must not wait.
        self.on_evaluated = on_evaluated
        self._stop = asyncio.Event()

    async def run(self) -> None:
        kept = await self.owner.write(last_kept)
        while not self._stop.is_set():
            try:
                report = await asyncio.to_thread(self.metrics.evaluate)
                rows = history_rows(report, last_kept=kept)
                await self.owner.write(partial(keep, rows=rows, retention=self.retention))
                self.on_evaluated(report)
            except Exception as exc:  # a failed cycle is reported; the next one tries again
                log.error("scheduled evaluation failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.every.total_seconds())

    def stop(self) -> None:
        self._stop.set()

"""Tenants' live streams: after each scheduled evaluation, each streamed tenant's own evaluation.

Only tenants with at least one subscriber are evaluated, at most `per_round` of them per
scheduled evaluation, the least recently evaluated first: with more, they take turns. They are
evaluated one after another on a worker thread, through the tenants' dashboard cache, so a
dashboard request and the stream share one evaluation. A round still running when the next
scheduled evaluation is kept starts again right after it, once: evaluations that come meanwhile
are not queued.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from healthdeck.api.live import LiveProjects, health_event

if TYPE_CHECKING:
    from healthdeck.api.routes.dashboard import TenantDashboards

log = logging.getLogger("healthdeck.serve")


class TenantRounds:
    """Evaluates the streamed tenants after each scheduled evaluation, from start until `stop()`."""

    def __init__(self, live: LiveProjects, dashboards: TenantDashboards, *, per_round: int) -> None:
        self.live, self.dashboards, self.per_round = live, dashboards, per_round
        self._due: datetime | None = None  # the newest scheduled evaluation not yet followed by a round
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_round: dict[str, int] = {}  # streamed tenant -> the round it was last evaluated in
        self._rounds = 0

    def evaluated(self, at: datetime) -> None:
        """A scheduled evaluation made at `at` is kept. Called on the event loop; never waits."""
        self._due = at
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            if self._due is None:
                continue
            since, self._due = self._due, None
            for tenant in self._next_tenants():
                if self._stopping:
                    return
                await self._publish(tenant, since)

    async def _publish(self, tenant: str, since: datetime) -> None:
        try:
            report = await asyncio.to_thread(self.dashboards.evaluated_since, tenant, since)
        except Exception as exc:  # one tenant's failure is reported; the others and the next round go on
            log.error("live evaluation of tenant %r failed: %s", tenant, exc)
            return
        self.live.publish(tenant, health_event(report))

    def _next_tenants(self) -> list[str]:
        """This round's tenants: the streamed ones least recently evaluated, at most `per_round`."""
        self._rounds += 1
        watched = self.live.watched()
        turns = {tenant: self._last_round.get(tenant, 0) for tenant in watched}  # forgets unwatched tenants
        chosen = sorted(watched, key=turns.__getitem__)[: self.per_round]
        self._last_round = turns | dict.fromkeys(chosen, self._rounds)
        return chosen

    def stop(self) -> None:
        """Stop after the tenant being evaluated, if any."""
        self._stopping = True
        self._wake.set()

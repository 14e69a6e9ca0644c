"""Start-up backfill: a store that was just ingested or simulated gets one kept evaluation per past day.

When `serve` starts (with scheduled evaluation), each past day of the history's retention (at most
the last 30) that has no kept evaluation — none during the day nor at its end — and that ends after
the store's first event is evaluated as of its end (midnight UTC), oldest first, and kept as the
scheduler keeps its evaluations. It runs beside everything else: each evaluation on a read cursor
(one at a time, as every evaluation of the server), its rows written by the single writer.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, time, timedelta
from functools import partial

from healthdeck.api.history import history_rows, keep
from healthdeck.api.owner import StoreOwner
from healthdeck.engine.health import HealthReport
from healthdeck.engine.measures.base import time_bound
from healthdeck.store.connection import Store
from healthdeck.store.schema import KINDS

log = logging.getLogger("healthdeck.serve")
LONGEST = timedelta(days=30)
DAY = timedelta(days=1)
# Kinds whose times are facts about an entity (when a tenant was created, a user signed up), often
# long before anything was recorded: they do not say when the store's events begin.
_NOT_EVENTS = ("tenants", "users")


def first_event(store: Store) -> datetime | None:
    """The time of the store's earliest event (None: no event yet)."""
    firsts = " UNION ALL ".join(f"SELECT {time_bound(kind, newest=False)}" for kind in KINDS if kind not in _NOT_EVENTS)
    row = store.con.execute(f"SELECT min(first) FROM ({firsts}) AS t(first)").fetchone()  # names from the schema
    return row[0] if row else None


def missing_day_ends(store: Store, *, now: datetime, retention: timedelta) -> list[datetime]:
    """The ends (midnight UTC) of the past days to evaluate, oldest first."""
    first = first_event(store)
    if first is None:
        return []
    today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    oldest = now - min(retention, LONGEST)
    ends = [today - i * DAY for i in range(LONGEST.days + 1)]
    candidates = [end for end in ends if end > oldest and end > first]
    kept = {
        at
        for (at,) in store.con.execute(
            "SELECT evaluated_at FROM health_history WHERE level = 'overall' AND evaluated_at > ?",
            [min(candidates, default=today) - DAY],
        ).fetchall()
    }
    return sorted(end for end in candidates if not any(end - DAY < at <= end for at in kept))


async def backfill_days(owner: StoreOwner, *, retention: timedelta, stop: asyncio.Event) -> None:
    """Evaluate and keep each missing past day, until done or `stop` is set (the day in progress finishes)."""
    try:
        ends = await asyncio.to_thread(_missing, owner, retention)
        last_kept: dict[str, datetime] = {}
        for end in ends:
            if stop.is_set():
                return
            report = await asyncio.to_thread(_evaluate, owner, end)
            await owner.write(partial(keep, rows=history_rows(report, last_kept=last_kept), retention=retention))
    except Exception as exc:  # the server goes on without the past days' history
        log.error("backfilling the history of past days failed: %s", exc)


def _missing(owner: StoreOwner, retention: timedelta) -> list[datetime]:
    with owner.reader() as store:  # off the event loop: it scans each table's first time
        return missing_day_ends(store, now=datetime.now(UTC), retention=retention)


def _evaluate(owner: StoreOwner, at: datetime) -> HealthReport:
    with owner.engine() as hd:
        return hd.health(at=at)

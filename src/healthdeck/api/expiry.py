"""Scheduled expiry: the server applies the store's retention (store/retention.py) while it runs.

The plan is read on a read cursor; each chunk (a day of one table) is deleted by the single writer
as a job of its own, so ingest batches that arrive meanwhile are written between two chunks and
readers never wait. Settings are read afresh each time: `healthdeck store retention` takes effect
at the next run without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from functools import partial

from healthdeck.api.owner import StoreOwner
from healthdeck.store.retention import ExpiryPlan, TableExpiry, delete_chunk, expired, plan_expiry

log = logging.getLogger("healthdeck.serve")


async def expire_on_schedule(owner: StoreOwner, *, every: timedelta, stop: asyncio.Event) -> None:
    """Expire at start, then every `every`, until `stop` is set."""
    while not stop.is_set():
        try:
            for table in await expire_once(owner, stop=stop):
                if table.expired:  # at the level serve prints: what was deleted is worth seeing
                    log.warning("expired %d rows of %s older than %s", table.expired, table.table, table.kept_for)
        except Exception as exc:  # a failed run is reported; the next one tries again
            log.error("scheduled expiry failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every.total_seconds())


async def expire_once(owner: StoreOwner, *, stop: asyncio.Event) -> list[TableExpiry]:
    """One expiry run, chunk by chunk on the writer; a stop between chunks ends it early."""
    plan = await asyncio.to_thread(_plan, owner, datetime.now(UTC))
    deleted: list[int] = []
    for chunk in plan.chunks:
        if stop.is_set():
            break
        deleted.append(await owner.write(partial(delete_chunk, chunk=chunk)))
    done = ExpiryPlan(plan.tables, plan.chunks[: len(deleted)])
    return expired(done, deleted)


def _plan(owner: StoreOwner, now: datetime) -> ExpiryPlan:
    with owner.reader() as store:
        return plan_expiry(store, now=now)

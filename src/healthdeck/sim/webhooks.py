"""Webhooks: tenants with an endpoint get one per notable event, retried up to three attempts.

Attempts fail 1.2% of the time (timeouts or 5xx from the receiver), retries 30%;
one tenant has a flaky receiver that fails a quarter of first attempts. Overall
~97-98% of attempts are delivered. Each webhook is also a job on the
"webhooks" queue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthdeck.sim.activity import DEPLOY, EVENTS, TRAIN_DONE, UPLOAD, DayActivity
from healthdeck.sim.arrow import kind_table, numbered, pick
from healthdeck.sim.config import US_PER_MIN, US_PER_S
from healthdeck.sim.jobs import JobBatch
from healthdeck.sim.rand import stream
from healthdeck.sim.world import World

TOPICS = ("training.completed", "model.deployed", "dataset.uploaded", "etl.completed")
ACTIVITY_TOPICS = np.array([TRAIN_DONE, DEPLOY, UPLOAD])
FIRST_FAILURE, RETRY_FAILURE, BROKEN_FAILURE, BROKEN_RETRY_FAILURE = 0.012, 0.30, 0.25, 0.5
RETRY_DELAY_US = (0, 60 * US_PER_S, 10 * US_PER_MIN)


@dataclass(frozen=True)
class Webhooks:
    """Delivery attempts and the webhook jobs behind them."""

    deliveries: pa.Table
    jobs: JobBatch


@dataclass(frozen=True)
class Triggers:
    """Events to notify tenants of: who, when, and which topic (index into TOPICS)."""

    tenant: np.ndarray
    ts_us: np.ndarray
    topic: np.ndarray


def activity_triggers(world: World, activity: DayActivity) -> Triggers:
    """Completed trainings, deployments and uploads of subscribed tenants."""
    topic_of = np.full(len(EVENTS), -1)
    topic_of[ACTIVITY_TOPICS] = np.arange(len(ACTIVITY_TOPICS))
    rows = np.flatnonzero((topic_of[activity.event] >= 0) & _subscribed(world)[activity.tenant])
    return Triggers(activity.tenant[rows], activity.ts_us[rows], topic_of[activity.event[rows]])


def etl_triggers(world: World, etl: JobBatch) -> Triggers:
    """Successful ETL runs of subscribed tenants."""
    done = np.flatnonzero((etl.outcome == 0) & _subscribed(world)[etl.tenant])
    return Triggers(etl.tenant[done], etl.finished_us[done], np.full(len(done), len(TOPICS) - 1))


def _subscribed(world: World) -> np.ndarray:
    return pc.is_valid(world.pop.webhook_target).to_numpy(zero_copy_only=False)


def deliver(world: World, label: str, triggers: Triggers) -> Webhooks:
    """Deliver each trigger: a webhook job and its one to three attempts. `label` keeps ids unique."""
    rng = stream(world.cfg.seed, "webhooks-" + label)
    tenant, n = triggers.tenant, len(triggers.tenant)
    enqueued = triggers.ts_us + 200_000
    started = enqueued + (rng.lognormal(np.log(0.4), 0.6, n) * US_PER_S).astype(np.int64)
    flaky = np.isin(tenant, _broken_receivers(world))
    failed = [rng.random(n) < np.where(flaky, BROKEN_FAILURE, FIRST_FAILURE)]
    for _ in range(2):
        failed.append(failed[-1] & (rng.random(n) < np.where(flaky, BROKEN_RETRY_FAILURE, RETRY_FAILURE)))
    attempts = 1 + failed[0].astype(np.int64) + failed[1].astype(np.int64)
    deliveries, finished = _attempts(rng, world, label, tenant, started, failed, attempts)
    jobs = JobBatch(
        "webhooks",
        numbered(f"job-{label}-hook-", np.arange(n), width=5),
        pick(TOPICS, triggers.topic),
        tenant,
        enqueued,
        started,
        finished,
        np.where(_last_failed(failed, attempts), 1, 0),
        attempts - 1,
    )
    return Webhooks(deliveries=deliveries, jobs=jobs)


def _broken_receivers(world: World) -> np.ndarray:
    rng = stream(world.cfg.seed, "webhook-receivers")
    candidates = np.flatnonzero(_subscribed(world))
    return rng.choice(candidates, size=min(1, len(candidates)), replace=False) if len(candidates) else candidates


def _last_failed(failed: list[np.ndarray], attempts: np.ndarray) -> np.ndarray:
    stacked = np.stack(failed) if failed[0].size else np.zeros((3, 0), dtype=bool)
    return stacked[attempts - 1, np.arange(len(attempts))]


def _attempts(
    rng: np.random.Generator,
    world: World,
    label: str,
    tenant: np.ndarray,
    started: np.ndarray,
    failed: list[np.ndarray],
    attempts: np.ndarray,
) -> tuple[pa.Table, np.ndarray]:
    """One row per attempt; returns them and when each webhook's last attempt ended."""
    n = len(tenant)
    rows_t, rows_ts, rows_ok, rows_attempt, rows_ms = [], [], [], [], []
    at = started.copy()
    finished = started.copy()
    for k in range(3):
        made = attempts > k
        at = at + RETRY_DELAY_US[k] + (rng.integers(0, 15, n) * US_PER_S if k else 0)
        latency = np.where(failed[k] & (rng.random(n) < 0.5), 10_000.0, rng.lognormal(np.log(180), 0.6, n))
        rows_t.append(tenant[made])
        rows_ts.append(at[made])
        rows_ok.append(~failed[k][made])
        rows_attempt.append(np.full(int(made.sum()), k + 1))
        rows_ms.append(np.round(latency[made], 1))
        finished = np.where(made, at + (latency * 1_000).astype(np.int64), finished)
    return _delivery_table(world, label, rows_t, rows_ts, rows_ok, rows_attempt, rows_ms), finished


def _delivery_table(
    world: World,
    label: str,
    tenant: list[np.ndarray],
    ts: list[np.ndarray],
    ok: list[np.ndarray],
    attempt: list[np.ndarray],
    latency: list[np.ndarray],
) -> pa.Table:
    t, when, delivered = np.concatenate(tenant), np.concatenate(ts), np.concatenate(ok)
    number, ms = np.concatenate(attempt), np.concatenate(latency)
    keep = (when >= world.cfg.start_us) & (when < world.cfg.end_us)
    order = np.argsort(when[keep], kind="stable")
    t, when, delivered, number, ms = (a[keep][order] for a in (t, when, delivered, number, ms))
    return kind_table(
        "webhook_deliveries",
        {
            "event_id": numbered(world.cfg.id_prefix("hook") + f"{label}-", np.arange(len(t))),
            "ts": when,
            "tenant_id": pick(world.pop.ids, t),
            "target": pick(world.pop.webhook_target, t),
            "status": pick(("failed", "delivered"), delivered.astype(np.int64)),
            "attempt": number.astype(np.int32),
            "latency_ms": ms,
        },
    )

"""Background jobs on five queues, one window day at a time.

training: one per training started by a user (from the activity generator).
etl: a nightly import/sync/export per PRO+ tenant, scheduled on the hour between
01:00 and 04:00 UTC (ENTERPRISE also at 14:00) and drained by eight workers, so
the queue fills and empties a few times every night.
default: emails and exports caused by user actions. agentic_sessions:
interactive or batch sessions of PRO+ tenants, P50 ~5 min, P95 < 15 min,
~87% succeeded. webhooks: see webhooks.py. A job is written once with its
state at the window end: still queued, running, or finished.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from healthdeck.sim import plans
from healthdeck.sim.activity import EXPORT, INVITE, SIGNUP, UPLOAD, DayActivity
from healthdeck.sim.arrow import NO_TIME, kind_table, numbered, pick
from healthdeck.sim.config import US_PER_MIN, US_PER_S, SimConfig
from healthdeck.sim.rand import stream, weighted_index
from healthdeck.sim.shape import minute_weights, next_time_of_day
from healthdeck.sim.world import World

QUEUES = ("training", "etl", "default", "webhooks", "agentic_sessions")
STATUSES = ("succeeded", "failed", "canceled", "queued", "running")
OUTCOME_SHARE = np.array([0.87, 0.09, 0.04])
ETL_WORKERS = 8
SESSIONS_PER_DAY = np.array([0.0, 0.0, 1.0, 4.0, 10.0])


@dataclass(frozen=True)
class JobBatch:
    """Jobs of one queue (times in µs; finished_us is for finished jobs, as outcome says)."""

    queue: str
    job_ids: pa.Array
    job_type: pa.Array
    tenant: np.ndarray
    enqueued_us: np.ndarray
    started_us: np.ndarray
    finished_us: np.ndarray
    outcome: np.ndarray  # 0 succeeded, 1 failed, 2 canceled
    retries: np.ndarray
    records: np.ndarray | None = None


def activity_jobs(world: World, date: int, activity: DayActivity) -> list[JobBatch]:
    """The training and default-queue jobs caused by the user actions of calendar date `date`."""
    rng = stream(world.cfg.seed, "activity-jobs", date)
    return [_training(activity, date), _default(rng, activity, date)]


def window_jobs(world: World, day: int) -> list[JobBatch]:
    """The scheduled ETL runs and the agent sessions of window day `day`."""
    rng = stream(world.cfg.seed, "jobs", day)
    return [_etl(rng, world, day), _agentic(rng, world, day)]


def _training(activity: DayActivity, date: int) -> JobBatch:
    jobs = activity.trainings
    n = len(jobs.tenant)
    job_type = pick(("fine_tune", "dp_fine_tune", "evaluate"), np.arange(n) % 3)
    retries = np.where(jobs.status == 1, 2, 0)
    return JobBatch(
        "training",
        jobs.job_ids,
        job_type,
        jobs.tenant,
        jobs.enqueued_us,
        jobs.started_us,
        jobs.finished_us,
        jobs.status,
        retries,
    )


def _outcomes(rng: np.random.Generator, n: int, failure_share: float = 0.09) -> tuple[np.ndarray, np.ndarray]:
    """Outcome and retries: failed jobs used up their 3 retries, some successes needed one or two."""
    share = np.array([1 - failure_share - 0.04, failure_share, 0.04])
    outcome = weighted_index(rng, share, n)
    retries = np.where(outcome == 1, 3, weighted_index(rng, np.array([0.88, 0.09, 0.03]), n))
    return outcome, np.where(outcome == 2, 0, retries)


def _etl(rng: np.random.Generator, world: World, day: int) -> JobBatch:
    """Nightly runs drained by the ETL workers; the records moved scale with the tenant's plan."""
    tiers = world.billing.timeline.at(world.cfg.day_start_us(day))
    tenant, enqueued, burst = _etl_schedule(rng, world, day, tiers)
    n = len(tenant)
    records = (np.array([0, 0, 2e4, 2e5, 2e6])[tiers[tenant]] * rng.lognormal(0, 0.8, n)).astype(np.int64)
    duration = ((60 + records / 2_000 * rng.lognormal(0, 0.3, n)) * US_PER_S).astype(np.int64)
    # The workers take each burst in arrival order: the wait grows with the position in the burst.
    _, first, which = np.unique(burst, return_index=True, return_inverse=True)
    position = np.arange(n) - first[which]
    started = enqueued + (position // ETL_WORKERS) * 150 * US_PER_S + rng.integers(1, 20, n) * US_PER_S
    outcome, retries = _outcomes(rng, n, failure_share=0.04)
    job_type = pick(("import", "sync", "export"), weighted_index(rng, np.array([0.5, 0.3, 0.2]), n))
    ids = numbered(f"job-{day:03d}-etl-", np.arange(n), width=5)
    return JobBatch("etl", ids, job_type, tenant, enqueued, started, started + duration, outcome, retries, records)


def _etl_schedule(
    rng: np.random.Generator, world: World, day: int, tiers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tenant, enqueued, burst) of the day's ETL runs, in enqueue order."""
    start = world.cfg.day_start_us(day)
    eligible = (tiers >= plans.PRO) & (world.pop.usage(day) > 0)
    nightly = np.flatnonzero(eligible)
    midday = np.flatnonzero(eligible & (tiers == plans.ENTERPRISE))
    tenant = np.concatenate([nightly, midday])
    # Tenants schedule their nightly run at 01:00-04:00 UTC (cron on the hour); ENTERPRISE adds 14:00.
    burst = np.concatenate([rng.integers(0, 4, len(nightly)), np.full(len(midday), 4)])
    at = np.array([next_time_of_day(start, hour) for hour in (1.0, 2.0, 3.0, 4.0, 14.0)])
    enqueued = at[burst] + rng.integers(0, 300, len(tenant)) * US_PER_S
    order = np.argsort(enqueued, kind="stable")
    return tenant[order], enqueued[order], burst[order]


def _default(rng: np.random.Generator, activity: DayActivity, date: int) -> JobBatch:
    """Emails and exports queued by user actions: seconds of wait, seconds of work."""
    kinds = {SIGNUP: "welcome_email", INVITE: "send_invite_email", EXPORT: "report_export", UPLOAD: "dataset_validate"}
    rows = np.flatnonzero(np.isin(activity.event, list(kinds)))
    n = len(rows)
    codes = np.array(list(kinds))
    job_type = pick(list(kinds.values()), _code_index(codes, activity.event[rows]))
    enqueued = activity.ts_us[rows] + US_PER_S
    started = enqueued + (rng.lognormal(np.log(2.0), 0.8, n) * US_PER_S).astype(np.int64)
    work = np.where(activity.event[rows] == EXPORT, 30.0, 6.0) * rng.lognormal(0, 0.6, n)
    outcome, retries = _outcomes(rng, n, failure_share=0.02)
    return JobBatch(
        "default",
        numbered(f"job-{date:03d}-default-", np.arange(n), width=5),
        job_type,
        activity.tenant[rows],
        enqueued,
        started,
        started + (work * US_PER_S).astype(np.int64),
        outcome,
        retries,
    )


def _code_index(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    lookup = np.full(int(codes.max()) + 1, -1)
    lookup[codes] = np.arange(len(codes))
    return lookup[values]


def _agentic(rng: np.random.Generator, world: World, day: int) -> JobBatch:
    """Agent sessions: half interactive, P50 ~4.5-5.5 minutes, P95 under 15 minutes."""
    cfg, pop = world.cfg, world.pop
    tiers = world.billing.timeline.at(cfg.day_start_us(day))
    tenant = np.repeat(np.arange(pop.size), rng.poisson(SESSIONS_PER_DAY[tiers] * pop.usage(day)))
    n = len(tenant)
    minute = weighted_index(rng, minute_weights(cfg, day), n)
    enqueued = cfg.day_start_us(day) + minute * US_PER_MIN + rng.integers(0, US_PER_MIN, n)
    interactive = rng.random(n) < 0.5
    started = enqueued + (rng.lognormal(np.log(4.0), 0.9, n) * US_PER_S).astype(np.int64)
    minutes = rng.lognormal(np.where(interactive, np.log(4.5), np.log(5.5)), 0.5, n)
    outcome, retries = _outcomes(rng, n)
    return JobBatch(
        "agentic_sessions",
        numbered(f"job-{day:03d}-agent-", np.arange(n), width=5),
        pick(("batch", "interactive"), interactive.astype(np.int64)),
        tenant,
        enqueued,
        started,
        started + (minutes * US_PER_MIN).astype(np.int64),
        outcome,
        np.minimum(retries, 1),
    )


def jobs_table(cfg: SimConfig, batches: list[JobBatch], tenant_ids: pa.Array) -> pa.Table:
    """All batches as job records in their state at the window end (jobs enqueued outside it are dropped)."""
    tables = [_batch_table(cfg, batch, tenant_ids) for batch in batches]
    return pa.concat_tables(tables)


def _batch_table(cfg: SimConfig, batch: JobBatch, tenant_ids: pa.Array) -> pa.Table:
    end = cfg.end_us
    keep = (batch.enqueued_us >= cfg.start_us) & (batch.enqueued_us < end)
    started = np.where(batch.started_us < end, batch.started_us, NO_TIME)[keep]
    finished = np.where(batch.finished_us < end, batch.finished_us, NO_TIME)[keep]
    status = np.where(started == NO_TIME, 3, np.where(finished == NO_TIME, 4, batch.outcome[keep]))
    records = batch.records[keep] if batch.records is not None else None
    return kind_table(
        "jobs",
        {
            "job_id": batch.job_ids.filter(pa.array(keep)),
            "queue": pa.array([batch.queue] * int(keep.sum()), pa.string()),
            "job_type": batch.job_type.filter(pa.array(keep)),
            "tenant_id": pick(tenant_ids, batch.tenant[keep]),
            "enqueued_at": batch.enqueued_us[keep],
            "started_at": started,
            "finished_at": finished,
            "status": pick(STATUSES, status),
            "retries": batch.retries[keep].astype(np.int32),
            "records": records if records is not None else pa.nulls(int(keep.sum()), pa.int64()),
        },
    )

"""What users do in the product, one UTC date at a time.

Each user is active on a day with a probability set by their engagement, the
weekday and their tenant's usage profile. New users follow a retention curve
(active on day 1 after signup ~65%, day 7 ~49%, day 30 ~33%, before engagement), and 40% of them
complete a first training within their first week (their activation). An
active user has one session: a login, then a few actions a couple of minutes
apart, drawn from the handful of features that user works with (one to six of
the nine, so about 60% of active users use three or more in a month: the
specification's "feature adoption" is GOOD above 50%). Every training started becomes a job on the "training" queue, and
completes (with a training_job_completed action) when that job succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthdeck.sim import plans
from healthdeck.sim.arrow import json_objects, kind_table, numbered, pick
from healthdeck.sim.config import MIN_PER_DAY, US_PER_DAY, US_PER_MIN, US_PER_S, SimConfig
from healthdeck.sim.rand import stream, weighted_index
from healthdeck.sim.shape import WEEKDAY_FACTOR, weekday, weights_at
from healthdeck.sim.world import World

EVENTS = (
    "login",
    "signup",
    "dashboard_view",
    "inference_run",
    "dataset_upload",
    "training_job_started",
    "training_job_completed",
    "model_deploy",
    "report_export",
    "invite_member",
    "privacy_budget_check",
    "api_key_created",
)
LOGIN, SIGNUP, DASHBOARD, INFERENCE, UPLOAD, TRAIN_START, TRAIN_DONE, DEPLOY, EXPORT, INVITE = range(10)
# Chances of each follow-up action (training_job_completed only ever follows a job).
ACTION_SHARE = np.array([0, 0, 0.26, 0.22, 0.09, 0.12, 0, 0.05, 0.07, 0.03, 0.11, 0.05])
ACTIONS_PER_SESSION = np.array([2.5, 3.5, 5.0, 6.0, 7.0])
RETURN_FLOOR, RETURN_SPAN, RETURN_DECAY_DAYS = 0.32, 0.38, 7.5
ESTABLISHED_DAILY = 0.33
# How many of the follow-up features a user works with (1 to 6), and how likely each breadth is.
BREADTH_SHARE = np.array([0.16, 0.22, 0.24, 0.18, 0.12, 0.08])
MODELS = ("small", "base", "large")


@dataclass(frozen=True)
class DayActivity:
    """The day's actions and the jobs and webhooks they cause."""

    table: pa.Table
    tenant: np.ndarray
    user: np.ndarray
    ts_us: np.ndarray
    event: np.ndarray
    trainings: TrainingJobs


@dataclass(frozen=True)
class TrainingJobs:
    """The training jobs started on one date (times in µs; status 0 succeeded, 1 failed, 2 canceled)."""

    tenant: np.ndarray
    enqueued_us: np.ndarray
    started_us: np.ndarray
    finished_us: np.ndarray
    status: np.ndarray
    model: np.ndarray
    job_ids: pa.Array


def day_activity(world: World, date: int) -> DayActivity:
    """Generate the user actions of UTC calendar date `date` (counted from the window's first date).

    Activity goes by calendar date, not window day, because retention (active on
    the day after signup, 7 days after...) is measured in dates.
    """
    rng = stream(world.cfg.seed, "activity", date)
    user, start_us, activating = _sessions(rng, world, date)
    users = world.users
    tier = world.billing.timeline.at(world.cfg.date_start_us(date) + US_PER_DAY // 2)[users.tenant[user]]
    size = 1 + rng.poisson(ACTIONS_PER_SESSION[tier] * users.engagement[user])
    session = np.repeat(np.arange(len(user)), size)
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    nth = np.arange(len(session)) - first[session]
    event = _events(rng, _days_since_signup(world, date)[user[session]], nth, activating[session])
    first_training = activating[session] & (nth == 1)
    event = _within_habits(world, user[session], event, keep=first_training)
    gaps = rng.exponential(150.0, len(session)) * US_PER_S
    gaps[first] = 0
    elapsed = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first], size)
    ts = start_us[session] + elapsed.astype(np.int64)
    return _finish(rng, world, date, user[session], ts, event, activating[session])


def _days_since_signup(world: World, date: int) -> np.ndarray:
    """Per user: calendar dates from signup to `date` (0 on the signup date, negative before)."""
    signup_date = np.floor_divide(world.users.signup_us - world.cfg.first_midnight_us, US_PER_DAY)
    return date - signup_date


def _sessions(rng: np.random.Generator, world: World, date: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who is active on `date`, when their session starts, and whether it is their activation day."""
    cfg, users, pop = world.cfg, world.users, world.pop
    start = cfg.date_start_us(date)
    since = _days_since_signup(world, date)
    member = (users.removed_us > start) & (since >= 0)
    decline = pop.usage(cfg.window_day(start + US_PER_DAY // 2)) / pop.level
    factor = WEEKDAY_FACTOR[weekday(np.array([start]))[0]] / WEEKDAY_FACTOR.mean()
    returning = RETURN_FLOOR + RETURN_SPAN * np.exp(-(since - 1) / RETURN_DECAY_DAYS)
    daily = np.where(since > 45, ESTABLISHED_DAILY, returning) * users.engagement * factor
    daily = np.minimum(daily, 0.95) * np.minimum(decline[users.tenant], 1.0)
    activating = users.activates & (since == users.activation_day) & (decline[users.tenant] > 0)
    signing_up = since == 0
    active = member & (signing_up | activating | (rng.random(users.size) < daily))
    user = np.flatnonzero(active)
    times = start + np.arange(MIN_PER_DAY, dtype=np.int64) * US_PER_MIN
    minute = weighted_index(rng, weights_at(cfg, times), len(user))
    session = times[minute] + rng.integers(0, US_PER_MIN, len(user))
    # The signup session starts at signup; an activation session comes after it on the same date.
    session = np.where(signing_up[user], users.signup_us[user], session)
    session = np.where(activating[user], np.maximum(session, users.signup_us[user] + US_PER_MIN), session)
    return user, session, activating[user]


def _events(rng: np.random.Generator, since: np.ndarray, nth: np.ndarray, activating: np.ndarray) -> np.ndarray:
    """Action per row: signup or login first, then follow-ups; the activation session trains."""
    event = weighted_index(rng, ACTION_SHARE, len(since))
    # Only activating users train in their first week, so activation stays a clean 40%.
    fresh = since < 7
    event[fresh & (event == TRAIN_START)] = DASHBOARD
    event[activating & (nth == 1)] = TRAIN_START
    event[nth == 0] = np.where(since[nth == 0] == 0, SIGNUP, LOGIN)
    return event


def _feature_habits(world: World) -> tuple[np.ndarray, np.ndarray]:
    """Per user and event, whether the user works with that feature (a weighted draw of 1 to 6 of
    them); and each user's favourite. Drawn from its own stream, so every date sees the same habits.
    """
    rng = stream(world.cfg.seed, "feature-habits")
    n = world.users.size
    # Gumbel top-k: the k largest of log(weight) + Gumbel noise are a weighted draw without replacement.
    with np.errstate(divide="ignore"):
        keys = np.log(ACTION_SHARE)[None, :] + rng.gumbel(size=(n, len(EVENTS)))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    breadth = 1 + weighted_index(rng, BREADTH_SHARE, n)
    habits = rank < breadth[:, None]
    habits[:, [LOGIN, SIGNUP, TRAIN_DONE]] = True
    return habits, np.argmin(rank, axis=1)


def _within_habits(world: World, user: np.ndarray, event: np.ndarray, *, keep: np.ndarray) -> np.ndarray:
    """Actions outside the user's habits become the user's favourite feature (except those to `keep`)."""
    habits, favourite = _feature_habits(world)
    outside = ~habits[user, event] & ~keep
    return np.where(outside, favourite[user], event)


def _finish(
    rng: np.random.Generator,
    world: World,
    date: int,
    user: np.ndarray,
    ts: np.ndarray,
    event: np.ndarray,
    activating: np.ndarray,
) -> DayActivity:
    """Add training completions, drop what falls outside the window or after a removal, build the table."""
    cfg, users = world.cfg, world.users
    trainings = _trainings(rng, world, date, user, ts, event, activating)
    user, ts, event, job = _with_completions(cfg, trainings, user, ts, event)
    keep = (ts >= cfg.start_us) & (ts < cfg.end_us) & (ts < users.removed_us[user])
    order = np.argsort(ts[keep], kind="stable")
    user, ts, event, job = (column[keep][order] for column in (user, ts, event, job))
    tenant = users.tenant[user]
    table = kind_table(
        "activity",
        {
            "event_id": numbered(cfg.id_prefix("act") + f"{date}-", np.arange(len(ts))),
            "ts": ts,
            "tenant_id": pick(world.pop.ids, tenant),
            "user_id": pick(users.ids, user),
            "event": pick(EVENTS, event),
            "properties": _properties(rng, event, job, trainings),
        },
    )
    return DayActivity(table=table, tenant=tenant, user=user, ts_us=ts, event=event, trainings=trainings)


def _with_completions(
    cfg: SimConfig, trainings: TrainingJobs, user: np.ndarray, ts: np.ndarray, event: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The actions plus a training_job_completed per succeeded job, and each row's job (-1 for none)."""
    starters = np.flatnonzero(event == TRAIN_START)
    job = np.full(len(event), -1)
    job[starters] = np.arange(len(starters))
    succeeded = (trainings.status == 0) & (trainings.finished_us < cfg.end_us)
    done = np.flatnonzero(succeeded & (trainings.enqueued_us >= cfg.start_us))
    return (
        np.concatenate([user, user[starters[done]]]),
        np.concatenate([ts, trainings.finished_us[done]]),
        np.concatenate([event, np.full(len(done), TRAIN_DONE)]),
        np.concatenate([job, done]),
    )


def _trainings(
    rng: np.random.Generator,
    world: World,
    date: int,
    user: np.ndarray,
    ts: np.ndarray,
    event: np.ndarray,
    activating: np.ndarray,
) -> TrainingJobs:
    """A job per training started: a wait for a GPU, ~12 minutes of training, 88% succeed."""
    rows = np.flatnonzero(event == TRAIN_START)
    n = len(rows)
    enqueued = ts[rows]
    # GPUs fill up over the window (see capacity), so training waits longer for one towards the end.
    filling = np.clip((enqueued - world.cfg.start_us) / (world.cfg.end_us - world.cfg.start_us), 0.0, 1.0)
    started = enqueued + (rng.lognormal(np.log(60 * (1 + 3 * filling)), 1.0, n) * US_PER_S).astype(np.int64)
    finished = started + (rng.lognormal(np.log(12 * 60), 0.7, n) * US_PER_S).astype(np.int64)
    status = weighted_index(rng, np.array([0.88, 0.09, 0.03]), n)
    status[activating[rows]] = 0
    tier = world.billing.timeline.rows(world.users.tenant[user[rows]], enqueued)
    model = np.minimum(weighted_index(rng, np.array([0.5, 0.35, 0.15]), n) + (tier >= plans.BUSINESS), 2)
    ids = numbered(f"job-{date:03d}-train-", np.arange(n), width=5)
    return TrainingJobs(
        tenant=world.users.tenant[user[rows]],
        enqueued_us=enqueued,
        started_us=started,
        finished_us=finished,
        status=status,
        model=model,
        job_ids=ids,
    )


def _properties(rng: np.random.Generator, event: np.ndarray, job: np.ndarray, jobs: TrainingJobs) -> pa.Array:
    """A small JSON object per action; training actions name their job and model."""
    n = len(event)
    training = job >= 0
    job_index = np.where(training, job, 0)
    job_ids = jobs.job_ids if len(jobs.job_ids) else pa.array([""], pa.string())
    models = jobs.model if len(jobs.model) else np.zeros(1, dtype=np.int64)
    return json_objects(
        {
            "source": pick(("web", "sdk", "cli"), weighted_index(rng, np.array([0.6, 0.3, 0.1]), n)),
            "job_id": _only(pick(job_ids, job_index), training),
            "model": _only(pick(MODELS, models[job_index]), training),
            "rows": _only(pa.array(rng.integers(100, 500_000, n)), (event == UPLOAD) | (event == INFERENCE)),
        },
        n,
    )


def _only(values: pa.Array, keep: np.ndarray) -> pa.Array:
    """`values` where `keep`, null elsewhere (a null key is left out of the JSON)."""
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))

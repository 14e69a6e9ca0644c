"""Customer measures: active users, stickiness, engagement, activation, retention, tenant health."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator

from healthdeck.catalog.durations import parse_duration
from healthdeck.engine.measures.base import MeasureContext, Params, Window, in_window, measure, number, ratio
from healthdeck.engine.measures.batch import batch_off
from healthdeck.engine.measures.generic import Aggregate, windowed_aggregate
from healthdeck.engine.measures.lazy import lazy_module

if TYPE_CHECKING:
    import ibis
    from ibis.expr.types import Table
else:
    ibis = lazy_module("ibis")

Duration = Annotated[timedelta, BeforeValidator(lambda v: v if isinstance(v, timedelta) else parse_duration(v))]


class ActiveUsersParams(Params):
    """Users with any product activity in the window (except the listed events)."""

    exclude: list[str] = []


def active_user_count(ctx: MeasureContext, window: Window, exclude: tuple[str, ...] = ()) -> float | None:
    def build(w: Window) -> Any:
        activity = in_window(ctx.table("activity"), "ts", w)
        if exclude:
            activity = activity.filter(activity.event.notin(list(exclude)))
        return activity.user_id.nunique()

    return ctx.windowed_scalar(("active_users", exclude), window, build)


@measure("active_users", ActiveUsersParams, reads=["activity"])
def active_users(ctx: MeasureContext, params: ActiveUsersParams, window: Window) -> float | None:
    """Distinct active users in the window: DAU over 1d, WAU over 7d, MAU over 30d."""
    return active_user_count(ctx, window, tuple(params.exclude))


class StickinessParams(Params):
    short: Duration = timedelta(days=1)
    long: Duration = timedelta(days=30)


@measure("stickiness", StickinessParams, reads=["activity"])
def stickiness(ctx: MeasureContext, params: StickinessParams, window: Window) -> float | None:
    """DAU / MAU × 100, both ending at the window's end."""
    daily = active_user_count(ctx, Window.ending(window.end, params.short))
    monthly = active_user_count(ctx, Window.ending(window.end, params.long))
    return ratio(daily, monthly, scale=100.0)


class PerUserParams(Params):
    """Normalise per active user and per this period (1d: per day, 7d: per week)."""

    per: Duration = timedelta(days=1)
    queue: str | None = None


@measure("calls_per_active_user", PerUserParams, reads=["requests", "activity"])
def calls_per_active_user(ctx: MeasureContext, params: PerUserParams, window: Window) -> float | None:
    """API calls per active user per period: sum(api_calls) / count(active_users)."""
    calls = windowed_aggregate(ctx, Aggregate(table="requests"), window)
    periods = window.seconds / params.per.total_seconds()
    return ratio(calls, active_user_count(ctx, window), scale=1 / periods)


@measure("jobs_per_active_user", PerUserParams, reads=["jobs", "activity"])
def jobs_per_active_user(ctx: MeasureContext, params: PerUserParams, window: Window) -> float | None:
    """Jobs (of one queue, e.g. training) per active user per period."""

    def build(w: Window) -> Any:
        jobs = in_window(ctx.table("jobs"), "enqueued_at", w)
        return (jobs.filter(jobs.queue == params.queue) if params.queue else jobs).count()

    periods = window.seconds / params.per.total_seconds()
    jobs = ctx.windowed_scalar(("jobs", params.queue), window, build)
    return ratio(jobs, active_user_count(ctx, window), scale=1 / periods)


class ActivationParams(Params):
    """Signups in the window who did `event` (within `within` of signing up, if given)."""

    event: str = "training_job_completed"
    within: Duration | None = None


@measure("activation_rate", ActivationParams, reads=["users", "activity"])
def activation_rate(ctx: MeasureContext, params: ActivationParams, window: Window) -> float | None:
    """Activated users / signups × 100; with `within`, only signups old enough to have had the chance."""

    def cohort(w: Window) -> Any:
        end = w.end - params.within if params.within else w.end
        users = ctx.table("users")
        return users.filter(users.signup_at >= ibis.literal(w.start), users.signup_at < ibis.literal(end))

    def activated(w: Window) -> Any:
        members, activity = cohort(w), ctx.table("activity")
        done = activity.filter(activity.event == params.event, activity.ts < ibis.literal(w.end))
        joined = members.join(done, members.user_id == done.user_id).filter(lambda t: t.ts >= t.signup_at)
        if params.within:
            within = ibis.interval(seconds=int(params.within.total_seconds()))
            joined = joined.filter(lambda t: t.ts < t.signup_at + within)
        return joined.user_id.nunique()

    shape = ("activation", params.model_dump_json())
    done = ctx.windowed_scalar((*shape, "activated"), window, activated)
    return ratio(done, ctx.windowed_scalar((*shape, "signups"), window, lambda w: cohort(w).count()), scale=100.0)


class AdoptionParams(Params):
    """Active users who used at least `min_features` distinct features (events not excluded)."""

    min_features: int = 3
    exclude: list[str] = ["login"]


@measure("feature_adoption", AdoptionParams, reads=["activity"])
def feature_adoption(ctx: MeasureContext, params: AdoptionParams, window: Window) -> float | None:
    """Users using min_features+ features / active users × 100."""

    def build(w: Window) -> Any:
        activity = in_window(ctx.table("activity"), "ts", w)
        features = activity.filter(activity.event.notin(params.exclude))
        per_user = features.group_by("user_id").aggregate(features=features.event.nunique())
        return per_user.filter(per_user.features >= params.min_features).count()

    adopters = ctx.windowed_scalar(("feature_adopters", params.model_dump_json()), window, build)
    return ratio(adopters, active_user_count(ctx, window), scale=100.0)


class ReturnParams(Params):
    """Return on day N after signup (N = 1, 7, 30)."""

    day: int


# The days N of the return rates a report asks for, by the length of their windows (`plan_return_days`).
RETURN_DAYS = ("planned return days",)


def plan_return_days(ctx: MeasureContext, days: Iterable[tuple[int, timedelta]]) -> None:
    """Say which days N the report's return rates ask for over windows of which length, so that a
    window's return rates are counted in one pass over its activity, not one pass per day N."""
    planned: dict[timedelta, set[int]] = ctx.cache.setdefault(RETURN_DAYS, {})
    for day, length in days:
        planned.setdefault(length, set()).add(day)


@measure("return_rate", ReturnParams, reads=["users", "activity"])
def return_rate(ctx: MeasureContext, params: ReturnParams, window: Window) -> float | None:
    """Users active on day N after their signup day / those signups × 100, for day N wholly in the window.

    Day N is a UTC calendar day. A signup counts only once its day N is over and recorded: a day
    still running at the window's end, or begun before the data (the window starts at the first
    record when it is partially covered), would count as "did not return" when nobody can know.
    The days N planned for the window's length are counted together (`HEALTHDECK_BATCH=off`: each
    on its own); each day's signups and returns are those of its own query.
    """
    days = _counted_with(ctx, params.day, window)
    signups = ctx.windowed_rows(("return_rate_by_days", days, "cohorts"), window, lambda w: _signups(ctx, days, w))
    returned = ctx.windowed_rows(("return_rate_by_days", days, "returned"), window, lambda w: _returned(ctx, days, w))
    of_day = {row["day"]: number(row["signups"]) for row in signups}
    came_back = {row["day"]: number(row["returned"]) for row in returned}
    # A day N without signups has no row: no rate; one whose signups all stayed away has none among the returns.
    return ratio(came_back.get(params.day, 0.0), of_day.get(params.day), scale=100.0)


def _counted_with(ctx: MeasureContext, day: int, window: Window) -> tuple[int, ...]:
    """The days N to count with `day` over this window: those planned for its length, or only `day`."""
    planned = ctx.cache.get(RETURN_DAYS, {}).get(window.planned_length, set())
    return tuple(sorted(planned)) if day in planned and not batch_off() else (day,)


def _cohorts(ctx: MeasureContext, days: tuple[int, ...], w: Window) -> Table:
    """(user_id, day, day_n) of each signup whose day N (a UTC day, starting at day_n) lies wholly in the window."""
    users = ctx.table("users")
    cohorts = []
    for day in days:
        members = users.mutate(
            day=ibis.literal(day, type="int32"), day_n=users.signup_at.truncate("D") + ibis.interval(days=day)
        )
        in_time = members.filter(
            members.day_n >= ibis.literal(w.start), members.day_n + ibis.interval(days=1) <= ibis.literal(w.end)
        )
        cohorts.append(in_time.select("user_id", "day", "day_n"))
    return ibis.union(*cohorts) if len(cohorts) > 1 else cohorts[0]


def _signups(ctx: MeasureContext, days: tuple[int, ...], w: Window) -> Table:
    cohorts = _cohorts(ctx, days, w)
    return cohorts.group_by("day").aggregate(signups=cohorts.count())


def _returned(ctx: MeasureContext, days: tuple[int, ...], w: Window) -> Table:
    # Each member's day N as a range of instants: no activity row is cast to a date (a time-zone
    # conversion per row, most of the query's time on a month of activity).
    activity = in_window(ctx.table("activity"), "ts", w).select("user_id", "ts")
    members = _cohorts(ctx, days, w)
    on_day_n = [
        members.user_id == activity.user_id,
        activity.ts >= members.day_n,
        activity.ts < members.day_n + ibis.interval(days=1),
    ]
    joined = members.join(activity, on_day_n)
    return joined.group_by("day").aggregate(returned=joined.user_id.nunique())


@dataclass(frozen=True)
class TenantHealth:
    """One tenant's health score, computed as the specification's customer health query does."""

    tenant_id: str
    api_calls_30d: int
    last_active_date: date | None
    features_used: int
    open_tickets: int
    usage: float
    engagement: float
    adoption: float
    support: float

    @property
    def score(self) -> float:
        return self.usage + self.engagement + self.adoption + self.support

    @property
    def status(self) -> str:
        return "HEALTHY" if self.score >= 70 else "AT_RISK" if self.score >= 40 else "CRITICAL"


# Seed 000 §2.3's rules. Each factor's points come with the rule that gave them, as the tenant page says it.
FACTOR_MAXIMA = {"usage": 30, "engagement": 25, "adoption": 25, "support": 20}
USAGE_FULL_CALLS = 10_000  # API calls in 30 days that earn all of usage's points
ADOPTION_PER_FEATURE = 5
ENGAGEMENT_BANDS = ((7, 20.0), (14, 15.0), (30, 10.0))  # (last active within N days, points)


def usage_rule(calls: int) -> tuple[float, str]:
    if calls >= USAGE_FULL_CALLS:
        return 30.0, f"{calls:,} API calls in 30 days: {USAGE_FULL_CALLS:,} or more earn all 30"
    return calls / USAGE_FULL_CALLS * 30, f"{calls:,} API calls in 30 days × 30 / {USAGE_FULL_CALLS:,}"


def engagement_rule(last_active: date | None, today: date) -> tuple[float, str]:
    if last_active is None:
        return 0.0, "never active"
    if last_active == today:
        return 25.0, "active today"
    for days, points in ENGAGEMENT_BANDS:
        if last_active > today - timedelta(days=days):
            return points, f"last active within {days} days"
    return 0.0, "not active in the last 30 days"


def adoption_rule(features: int) -> tuple[float, str]:
    full = FACTOR_MAXIMA["adoption"] // ADOPTION_PER_FEATURE
    if features >= full:
        return 25.0, f"{features} features used in 30 days: {full} or more earn all 25"
    return float(features * ADOPTION_PER_FEATURE), f"{features} features used in 30 days × {ADOPTION_PER_FEATURE}"


def support_rule(open_tickets: int) -> tuple[float, str]:
    if open_tickets == 0:
        return 20.0, "no open ticket"
    if open_tickets == 1:
        return 15.0, "1 open ticket"
    if open_tickets <= 3:
        return 10.0, f"{open_tickets} open tickets (2 or 3)"
    return 0.0, f"{open_tickets} open tickets (4 or more)"


def factor_rules(health: TenantHealth, today: date) -> dict[str, str]:
    """In words, the rule of seed 000 §2.3 that gave each of the tenant's factors its points on `today`."""
    return {
        "usage": usage_rule(health.api_calls_30d)[1],
        "engagement": engagement_rule(health.last_active_date, today)[1],
        "adoption": adoption_rule(health.features_used)[1],
        "support": support_rule(health.open_tickets)[1],
    }


def tenant_health(ctx: MeasureContext, at: datetime) -> list[TenantHealth]:
    """Every tenant's health as of `at` (usage 0–30, engagement 0–25, adoption 0–25, support 0–20)."""
    return ctx.memo(("tenant_health", at), lambda: _tenant_health(ctx, at))


def _tenant_health(ctx: MeasureContext, at: datetime) -> list[TenantHealth]:
    rows = ctx.windowed_rows(
        ("tenant_facts",), Window(at, at), lambda w: _tenant_facts(ctx, w.end, Window.ending(w.end, timedelta(days=30)))
    )
    facts = {row["tenant_id"]: row for row in rows}
    today = at.date()
    result = []
    for tenant_id, row in sorted(facts.items()):
        calls, features, tickets = int(row["calls"] or 0), int(row["features"] or 0), int(row["tickets"] or 0)
        last = row["last_active"]
        result.append(
            TenantHealth(
                tenant_id,
                calls,
                last,
                features,
                tickets,
                usage=usage_rule(calls)[0],
                engagement=engagement_rule(last, today)[0],
                adoption=adoption_rule(features)[0],
                support=support_rule(tickets)[0],
            )
        )
    return result


def _tenant_facts(ctx: MeasureContext, at: datetime, month: Window) -> Any:
    moment = ibis.literal(at)
    requests, activity, tickets = ctx.table("requests"), ctx.table("activity"), ctx.table("tickets")
    past_requests = requests.filter(requests.ts < moment)
    calls = in_window(requests, "ts", month).group_by("tenant_id").aggregate(calls=lambda t: t.count())
    last_call = past_requests.group_by("tenant_id").aggregate(last_call=lambda t: t.ts.max().date())
    past_activity = activity.filter(activity.ts < moment)
    last_use = past_activity.group_by("tenant_id").aggregate(last_use=lambda t: t.ts.max().date())
    recent = in_window(activity, "ts", month)
    features = recent.group_by("tenant_id").aggregate(features=lambda t: t.event.nunique())
    open_now = tickets.filter(
        tickets.opened_at < moment, tickets.resolved_at.isnull() | (tickets.resolved_at >= moment)
    )
    open_count = open_now.group_by("tenant_id").aggregate(tickets=lambda t: t.count())
    tenants = ctx.table("tenants").select("tenant_id")
    joined = tenants
    for part in (calls, last_call, last_use, features, open_count):
        joined = joined.left_join(part, "tenant_id").select(~ibis.selectors.endswith("_right"))
    return joined.mutate(last_active=ibis.greatest(joined.last_call, joined.last_use))


class HealthParams(Params):
    """Summarise tenant health scores: their mean, or the % of tenants below a score."""

    stat: Literal["mean", "share_below"] = "mean"
    below: float = 40.0


@measure("tenant_health", HealthParams, reads=["tenants", "requests", "activity", "tickets"])
def tenant_health_measure(ctx: MeasureContext, params: HealthParams, window: Window) -> float | None:
    """Mean tenant health score (0–100) at the window's end, or the % of tenants under `below`."""
    scores = [t.score for t in tenant_health(ctx, window.end)]
    if not scores:
        return None
    if params.stat == "mean":
        return sum(scores) / len(scores)
    return 100.0 * sum(1 for s in scores if s < params.below) / len(scores)

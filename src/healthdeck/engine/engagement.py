"""Engagement: the engagement KPIs side by side, signup-cohort retention and users' lifecycle per
period, as `business engagement|cohorts|lifecycle` (and their API routes) show them.

The KPIs are the catalog's own (one definition per quantity): the command evaluates them exactly
as `metrics get` and the health score do.

Cohorts and lifecycle read the store's `users` and `activity` in SQL; a user is active in a
period when they have any activity event in it. Weeks start on Monday, days and months at
midnight UTC. Only periods that are over count: a week still running at `at` is shown as
unknown (null), never as a drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from healthdeck.engine.serialize import kpi_json
from healthdeck.errors import HealthdeckError

if TYPE_CHECKING:
    from healthdeck.engine.evaluate import KpiResult
    from healthdeck.store.connection import Store

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
MAX_SPAN = 520  # weeks or periods in one table: ten years of weeks

# The KPIs `business engagement` shows, by group: seed 000 §2.1, §2.2 and §3.3, and seed 003 §1.1.
ENGAGEMENT_KPIS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("usage", ("dau", "wau", "mau", "stickiness", "api_calls_per_user", "training_jobs_per_user")),
    ("engagement", ("feature_adoption", "return_rate_d1", "return_rate_d7", "return_rate_d30", "activation_rate")),
    ("acquisition", ("activation_rate_7d", "conversion_rate", "time_to_value", "signup_to_paid")),
    (
        "sessions",
        (
            "agent_sessions_daily",
            "agent_completion_rate",
            "agent_time_to_first_completion",
            "agent_session_duration_p50",
            "agent_session_duration_p95",
            "agent_power_user_share",
            "agent_new_project_activation",
        ),
    ),
)


@dataclass(frozen=True)
class EngagementReport:
    """The engagement KPIs at one moment, by group (usage, engagement, acquisition, sessions)."""

    at: datetime
    groups: tuple[tuple[str, tuple[KpiResult, ...]], ...]


def engagement_json(report: EngagementReport) -> dict[str, Any]:
    """`{"at", "groups": {"usage": [KPI, …], "engagement", "acquisition", "sessions"}}`, as `metrics get` shows KPIs."""
    return {
        "at": report.at.isoformat(),
        "groups": {name: [kpi_json(result) for result in results] for name, results in report.groups},
    }


@dataclass(frozen=True)
class Cohort:
    """The users who signed up in one week, and the % of them active in each week since (None: not over)."""

    week: date
    users: int
    retention: tuple[float | None, ...]


@dataclass(frozen=True)
class Lifecycle:
    """One period's active users, split by where they come from, and those who stopped."""

    start: date
    active: int
    new: int
    returning: int
    resurrecting: int
    dormant: int


def check_span(value: int, option: str) -> None:
    if not 1 <= value <= MAX_SPAN:
        raise HealthdeckError(f"{option} {value}: must be between 1 and {MAX_SPAN}")


def check_period(text: str, *, label: str = "--period") -> Period:
    for period in PERIODS:
        if text == period:
            return period
    raise HealthdeckError(f"{label} {text!r}: must be one of {', '.join(PERIODS)}")


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week holding `moment`."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


# The cohorts' members (signed up in a week that is over) and their active weeks up to `at`.
COHORT_CTES = """
WITH members AS (
    SELECT user_id, date_trunc('week', signup_at) AS cohort
    FROM users
    WHERE signup_at >= $first AND signup_at < $current AND ($tenant IS NULL OR tenant_id = $tenant)
),
active_weeks AS (
    SELECT DISTINCT user_id, date_trunc('week', ts) AS week
    FROM activity
    WHERE ts >= $first AND ts < $at AND ($tenant IS NULL OR tenant_id = $tenant)
)
"""
COHORT_SIZES_SQL = COHORT_CTES + "SELECT cohort, count(*) FROM members GROUP BY cohort"
COHORT_ACTIVE_SQL = (
    COHORT_CTES
    + """
SELECT m.cohort, datediff('week', m.cohort, a.week) AS since, count(*) AS active
FROM members m JOIN active_weeks a ON a.user_id = m.user_id AND a.week >= m.cohort
GROUP BY ALL
"""
)


def cohorts(store: Store, *, weeks: int, at: datetime, tenant: str | None = None) -> list[Cohort]:
    """The signup cohorts of the last `weeks` weeks over at `at`, oldest first, with weeks 0 … weeks-1 since signup.

    Week k of a cohort is the k-th calendar week after its signup week (week 0 is the signup week).
    It counts once it is over at `at`: the newest cohort shows week 0 only, the oldest all of them
    (a triangle). The running week's signups are not a cohort yet; a week without signups is left out.
    """
    check_span(weeks, "--weeks")
    current = week_start(at)
    params = {"first": current - timedelta(weeks=weeks), "current": current, "at": at, "tenant": tenant}
    sizes = dict(store.con.execute(COHORT_SIZES_SQL, params).fetchall())
    active = {(c, k): n for c, k, n in store.con.execute(COHORT_ACTIVE_SQL, params).fetchall()}
    result = []
    for start in sorted(sizes):
        cells = []
        for k in range(weeks):
            over = start + timedelta(weeks=k + 1) <= at
            cells.append(round(100.0 * active.get((start, k), 0) / sizes[start], 4) if over else None)
        result.append(Cohort(start.date(), int(sizes[start]), tuple(cells)))
    return result


def cohorts_json(rows: list[Cohort], *, weeks: int, at: datetime) -> dict[str, Any]:
    """`{"at", "weeks", "cohorts": [{"cohort", "users", "retention": [% or null, …]}]}`."""
    return {
        "at": at.isoformat(),
        "weeks": weeks,
        "cohorts": [{"cohort": c.week.isoformat(), "users": c.users, "retention": list(c.retention)} for c in rows],
    }


# Each user's active periods up to `at`, and per (period, user) its state: `new` in the first period
# the user is active or the period they signed up in, `returning` when also active in the period
# before, else `resurrecting`; `dormant` users were active in the period before and not in this one.
LIFECYCLE_SQL = """
WITH active AS (
    SELECT DISTINCT user_id, date_trunc($unit, ts) AS period
    FROM activity
    WHERE ts < $end AND ($tenant IS NULL OR tenant_id = $tenant)
),
firsts AS (SELECT user_id, min(period) AS first_period FROM active GROUP BY user_id),
states AS (
    SELECT a.period,
           CASE WHEN a.period = f.first_period OR a.period = date_trunc($unit, u.signup_at) THEN 'new'
                WHEN before.user_id IS NOT NULL THEN 'returning'
                ELSE 'resurrecting' END AS state
    FROM active a
    JOIN firsts f USING (user_id)
    LEFT JOIN users u USING (user_id)
    LEFT JOIN active before ON before.user_id = a.user_id AND before.period = a.period - CAST($step AS INTERVAL)
    UNION ALL
    SELECT a.period + CAST($step AS INTERVAL), 'dormant'
    FROM active a
    LEFT JOIN active after ON after.user_id = a.user_id AND after.period = a.period + CAST($step AS INTERVAL)
    WHERE after.user_id IS NULL
)
SELECT period, state, count(*) FROM states WHERE period >= $first AND period < $end GROUP BY ALL
"""


def period_starts(at: datetime, period: Period, count: int) -> list[datetime]:
    """The starts of the last `count` periods over at `at`, oldest first."""
    moment = at.astimezone(UTC)
    if period == "month":
        month = moment.year * 12 + moment.month - 1  # the running month's index
        return [datetime(m // 12, m % 12 + 1, 1, tzinfo=UTC) for m in range(month - count, month)]
    if period == "week":
        current = week_start(moment)
        return [current - timedelta(weeks=count - i) for i in range(count)]
    today = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return [today - timedelta(days=count - i) for i in range(count)]


def lifecycle(store: Store, *, period: Period, count: int, at: datetime, tenant: str | None = None) -> list[Lifecycle]:
    """New, returning, resurrecting and dormant users of the last `count` periods over at `at`, oldest first."""
    check_period(period)
    check_span(count, "--periods")
    starts = period_starts(at, period, count)
    end = _next_start(starts[-1], period)
    params = {"first": starts[0], "end": end, "tenant": tenant, "unit": period, "step": f"1 {period}"}
    counts = {(p, state): n for p, state, n in store.con.execute(LIFECYCLE_SQL, params).fetchall()}
    rows = []
    for start in starts:
        new, returning, resurrecting, dormant = (
            int(counts.get((start, s), 0)) for s in ("new", "returning", "resurrecting", "dormant")
        )
        rows.append(Lifecycle(start.date(), new + returning + resurrecting, new, returning, resurrecting, dormant))
    return rows


def _next_start(start: datetime, period: Period) -> datetime:
    if period == "month":
        return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    return start + (timedelta(weeks=1) if period == "week" else timedelta(days=1))


def lifecycle_json(rows: list[Lifecycle], *, period: Period, at: datetime) -> dict[str, Any]:
    """`{"at", "period", "periods": [{"period", "active", "new", "returning", "resurrecting", "dormant"}]}`."""
    return {
        "at": at.isoformat(),
        "period": period,
        "periods": [
            {
                "period": row.start.isoformat(),
                "active": row.active,
                "new": row.new,
                "returning": row.returning,
                "resurrecting": row.resurrecting,
                "dormant": row.dormant,
            }
            for row in rows
        ],
    }

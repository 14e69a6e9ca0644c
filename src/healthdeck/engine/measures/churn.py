"""Churn risk per tenant, as seed 000 §2.4 scores it: five indicators, each worth its weight.

Each indicator compares as the seed's "How to Detect" column does, strict inequalities included:

- no activity 7+ days (30): `last_active < now() - 7 days`; last active is the latest request or
  product action before `at`, or the tenant's creation when it has none;
- API calls down 50%+ (25): `api_calls_this_week < api_calls_last_week * 0.5`, the 7 days before
  `at` against the 7 before those (exactly half is not down 50%+);
- support tickets up (20): `tickets_this_month > tickets_last_month * 2`, tickets opened in the 30
  days before `at` against the 30 before those (from none, any ticket counts, as the comparison says);
- team members removed (15): `team_size_delta < 0`, the team (users signed up and not removed) at
  `at` against 30 days before;
- failed payment (10): `payment_status = 'failed'`, the status of the tenant's latest payment.

The store's view `churn_signals` holds the same facts relative to `now()`, for the seed's own
expressions to run on verbatim (tests/test_churn_risk.py compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from healthdeck.engine.measures.base import MeasureContext, Params, Window, measure

IDLE_AFTER = timedelta(days=7)
WEEK = timedelta(days=7)
MONTH = timedelta(days=30)
LEVELS = ("HIGH", "MEDIUM", "LOW")

# The facts of every indicator per tenant as of $at; $tenant narrows to one tenant (NULL: all).
CHURN_FACTS = """
WITH seen AS (
    SELECT tenant_id, max(ts) AS last_ts
    FROM (SELECT tenant_id, ts FROM requests WHERE ts < $at
          UNION ALL SELECT tenant_id, ts FROM activity WHERE ts < $at) AS events  -- PostgreSQL wants the alias
    GROUP BY tenant_id
), calls AS (
    SELECT tenant_id,
           count(*) FILTER (WHERE ts >= $week_ago) AS this_week,
           count(*) FILTER (WHERE ts < $week_ago) AS last_week
    FROM requests WHERE ts >= $two_weeks_ago AND ts < $at
    GROUP BY tenant_id
), opened AS (
    SELECT tenant_id,
           count(*) FILTER (WHERE opened_at >= $month_ago) AS this_month,
           count(*) FILTER (WHERE opened_at < $month_ago) AS last_month
    FROM tickets WHERE opened_at >= $two_months_ago AND opened_at < $at
    GROUP BY tenant_id
), team AS (
    SELECT tenant_id,
           count(*) FILTER (WHERE signup_at < $at AND (removed_at IS NULL OR removed_at >= $at)) AS size_now,
           count(*) FILTER (WHERE signup_at < $month_ago
                            AND (removed_at IS NULL OR removed_at >= $month_ago)) AS size_before
    FROM users GROUP BY tenant_id
), payment AS (
    SELECT tenant_id, status, ts, amount, currency FROM payments WHERE ts < $at
    QUALIFY row_number() OVER (PARTITION BY tenant_id ORDER BY ts DESC, status DESC) = 1
)
SELECT t.tenant_id, t.created_at, s.last_ts,
       coalesce(c.this_week, 0), coalesce(c.last_week, 0),
       coalesce(o.this_month, 0), coalesce(o.last_month, 0),
       coalesce(m.size_now, 0), coalesce(m.size_before, 0),
       p.status, p.ts, p.amount, p.currency
FROM tenants t
LEFT JOIN seen s USING (tenant_id) LEFT JOIN calls c USING (tenant_id) LEFT JOIN opened o USING (tenant_id)
LEFT JOIN team m USING (tenant_id) LEFT JOIN payment p USING (tenant_id)
WHERE $tenant IS NULL OR t.tenant_id = $tenant
ORDER BY t.tenant_id
"""


@dataclass(frozen=True)
class ChurnFacts:
    """What the five indicators of one tenant look at, as of `at`."""

    tenant_id: str
    at: datetime
    created_at: datetime
    last_active: datetime | None
    calls_this_week: int
    calls_last_week: int
    tickets_this_month: int
    tickets_last_month: int
    team_now: int
    team_before: int
    payment_status: str | None
    payment_at: datetime | None
    payment_amount: float | None
    payment_currency: str | None


@dataclass(frozen=True)
class Indicator:
    """One active churn-risk indicator: its name, its points and the fact that triggered it."""

    name: str
    points: int
    fact: str


@dataclass(frozen=True)
class ChurnRisk:
    """One tenant's churn risk: the sum of its active indicators' points, and its level."""

    tenant_id: str
    indicators: tuple[Indicator, ...]

    @property
    def score(self) -> int:
        return sum(i.points for i in self.indicators)

    @property
    def level(self) -> str:
        return risk_level(self.score)


def risk_level(score: int) -> str:
    """Seed 000 §2.4: HIGH from 50 (intervene now), MEDIUM from 25 (schedule a check-in), else LOW."""
    return "HIGH" if score >= 50 else "MEDIUM" if score >= 25 else "LOW"


def _days(span: timedelta) -> str:
    """Whole days: 9 days and 20 hours is "9 days" (at least 9 full days)."""
    return f"{span.days} day{'' if span.days == 1 else 's'}"


def no_activity(f: ChurnFacts) -> Indicator | None:
    last = f.last_active or f.created_at
    if not last < f.at - IDLE_AFTER:
        return None
    if f.last_active is None:
        return Indicator("no_activity_7d", 30, f"no activity since it was created {_days(f.at - last)} ago")
    return Indicator("no_activity_7d", 30, f"no activity for {_days(f.at - last)} (last on {last:%Y-%m-%d})")


def api_calls_down(f: ChurnFacts) -> Indicator | None:
    before, now = f.calls_last_week, f.calls_this_week
    if not now < before * 0.5:
        return None
    drop = round(100 * (before - now) / before)
    return Indicator("api_calls_down_50pct", 25, f"API calls down {drop}% ({before:,} → {now:,}, week on week)")


def tickets_up(f: ChurnFacts) -> Indicator | None:
    before, now = f.tickets_last_month, f.tickets_this_month
    if not now > before * 2:
        return None
    how = f"{now / before:.1f}×" if before else "from none"
    return Indicator("support_tickets_up_2x", 20, f"support tickets up {how} ({before} → {now}, 30 days on 30 days)")


def team_removed(f: ChurnFacts) -> Indicator | None:
    delta = f.team_now - f.team_before
    if not delta < 0:
        return None
    members = "member" if delta == -1 else "members"
    return Indicator(
        "team_members_removed", 15, f"team down {-delta} {members} in 30 days ({f.team_before} → {f.team_now})"
    )


def failed_payment(f: ChurnFacts) -> Indicator | None:
    if f.payment_status != "failed" or f.payment_at is None:
        return None
    amount = f"{f.payment_amount:,.2f} {f.payment_currency}"
    return Indicator("failed_payment", 10, f"latest payment failed ({amount} on {f.payment_at:%Y-%m-%d})")


# In the seed's order (weights 30, 25, 20, 15, 10).
INDICATORS = (no_activity, api_calls_down, tickets_up, team_removed, failed_payment)


def churn_risk_of(facts: ChurnFacts) -> ChurnRisk:
    found = (check(facts) for check in INDICATORS)
    return ChurnRisk(facts.tenant_id, tuple(i for i in found if i is not None))


def churn_facts(ctx: MeasureContext, at: datetime) -> list[ChurnFacts]:
    """Every tenant's indicator facts as of `at` (the context's tenant only, if it has one)."""
    # Instants, not durations: every engine takes a timestamp parameter alike, an interval differently.
    params = {
        "at": at,
        "week_ago": at - WEEK,
        "two_weeks_ago": at - 2 * WEEK,
        "month_ago": at - MONTH,
        "two_months_ago": at - 2 * MONTH,
        "tenant": ctx.tenant,
    }
    rows = ctx.store.con.execute(CHURN_FACTS, params).fetchall()
    return [ChurnFacts(row[0], at, *row[1:]) for row in rows]


def tenant_churn_risk(ctx: MeasureContext, at: datetime) -> list[ChurnRisk]:
    """Every tenant's churn risk as of `at` (seed 000 §2.4), by tenant id."""
    return ctx.memo(("tenant_churn_risk", at), lambda: [churn_risk_of(f) for f in churn_facts(ctx, at)])


class ChurnShareParams(Params):
    """The % of tenants whose churn risk is at `level` or worse."""

    level: Literal["HIGH", "MEDIUM"] = "MEDIUM"


# Only the tables without which no indicator means anything: with no tickets, users or payments
# recorded, those indicators simply never fire.
@measure("churn_risk", ChurnShareParams, reads=["tenants", "requests"])
def churn_risk_share(ctx: MeasureContext, params: ChurnShareParams, window: Window) -> float | None:
    """Tenants whose churn risk (seed 000 §2.4) is at `level` or worse at the window's end, as a % of all."""
    risks = tenant_churn_risk(ctx, window.end)
    if not risks:
        return None
    worse = LEVELS[: LEVELS.index(params.level) + 1]
    return 100.0 * sum(1 for r in risks if r.level in worse) / len(risks)


def indicator_json(indicator: Indicator) -> dict[str, Any]:
    return {"name": indicator.name, "points": indicator.points, "fact": indicator.fact}

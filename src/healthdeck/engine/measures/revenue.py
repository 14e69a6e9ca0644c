"""Business measures: MRR and its movements, retention, churn, unit economics, acquisition.

MRR at a moment is the sum, over every subscription whose latest state at that moment (its
latest record strictly before it: windows are [start, end)) is active or past_due, of
amount × quantity × (1 − discount) normalised to a month (quarter ÷ 3, year ÷ 12). Trialing,
canceled and unpaid subscriptions count 0.
"""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from healthdeck.engine.measures.base import MeasureContext, Params, Window, first_record, in_window, measure, ratio
from healthdeck.engine.measures.generic import Aggregate, evaluate_aggregate
from healthdeck.engine.measures.lazy import lazy_module

if TYPE_CHECKING:
    import ibis
else:
    ibis = lazy_module("ibis")

PAYING = ("active", "past_due")
MONTHS = {"month": 1.0, "quarter": 3.0, "year": 12.0}
# Average customer lifetime when nobody churned in the window: capped at five years.
MAX_LIFETIME_MONTHS = 60.0


def tenant_mrr(ctx: MeasureContext, at: datetime) -> dict[str, float]:
    """MRR per paying tenant at `at` (tenants paying nothing are left out)."""
    return ctx.memo(("tenant_mrr", at), lambda: _tenant_mrr(ctx, at))


def _tenant_mrr(ctx: MeasureContext, at: datetime) -> dict[str, float]:
    rows = ctx.windowed_rows(("tenant_mrr",), Window(at, at), lambda w: _mrr_by_tenant(ctx, w.end))
    return {row["tenant_id"]: float(row["mrr"]) for row in rows if row["mrr"] > 0}


def _mrr_by_tenant(ctx: MeasureContext, at: datetime) -> ibis.Table:
    subs = ctx.table("subscriptions")
    known = subs.filter(subs.ts < ibis.literal(at))
    latest = known.mutate(rank=ibis.row_number().over(group_by="subscription_id", order_by=ibis.desc("ts")))
    current = latest.filter(latest.rank == 0, latest.status.isin(PAYING))
    months = current.interval.cases(*MONTHS.items(), else_=1.0)
    monthly = current.amount * current.quantity.fill_null(1) * (1 - current.discount_pct.fill_null(0) / 100) / months
    return current.mutate(mrr=monthly).group_by("tenant_id").aggregate(mrr=lambda t: t.mrr.sum())


def total_mrr(ctx: MeasureContext, at: datetime) -> float | None:
    """MRR at `at`, or None when no subscription was ever recorded by then."""

    def recorded_by(w: Window) -> ibis.Scalar:
        subs = ctx.table("subscriptions")
        return subs.filter(subs.ts < ibis.literal(w.end)).count()

    recorded = ctx.windowed_scalar(("subscriptions_by",), Window(at, at), recorded_by)
    if not recorded:
        return None
    return sum(tenant_mrr(ctx, at).values())


class NoParams(Params):
    """This measure takes no parameters."""


@measure("mrr", NoParams, reads=["subscriptions"], instant=True)
def mrr(ctx: MeasureContext, params: NoParams, window: Window) -> float | None:
    """Monthly recurring revenue at the window's end (compare: change gives MoM growth over 30d)."""
    return total_mrr(ctx, window.end)


@measure("arr", NoParams, reads=["subscriptions"], instant=True)
def arr(ctx: MeasureContext, params: NoParams, window: Window) -> float | None:
    """MRR × 12 at the window's end."""
    value = total_mrr(ctx, window.end)
    return None if value is None else value * 12


@measure("arpu", NoParams, reads=["subscriptions"], instant=True)
def arpu(ctx: MeasureContext, params: NoParams, window: Window) -> float | None:
    """MRR / active (paying) customers at the window's end."""
    per_tenant = tenant_mrr(ctx, window.end)
    return ratio(sum(per_tenant.values()), len(per_tenant))


class Movements:
    """How MRR moved between the window's start and end, tenant by tenant."""

    def __init__(self, start: dict[str, float], end: dict[str, float]) -> None:
        self.start_mrr = sum(start.values())
        self.customers_at_start = len(start)
        self.churned_customers = sum(1 for t in start if t not in end)
        self.churned = sum(v for t, v in start.items() if t not in end)
        changes = [end[t] - v for t, v in start.items() if t in end]
        self.expansion = sum(c for c in changes if c > 0)
        self.contraction = -sum(c for c in changes if c < 0)
        self.new = sum(v for t, v in end.items() if t not in start)


def movements(ctx: MeasureContext, window: Window) -> Movements:
    return Movements(tenant_mrr(ctx, window.start), tenant_mrr(ctx, window.end))


class RetentionParams(Params):
    kind: Literal["net", "gross"] = "net"


@measure("revenue_retention", RetentionParams, reads=["subscriptions"])
def revenue_retention(ctx: MeasureContext, params: RetentionParams, window: Window) -> float | None:
    """NRR = (MRR + expansion − contraction − churn) / MRR; GRR = (MRR − contraction − churn) / MRR; in %."""
    m = movements(ctx, window)
    kept = m.start_mrr - m.contraction - m.churned
    return ratio(kept + (m.expansion if params.kind == "net" else 0.0), m.start_mrr, scale=100.0)


@measure("logo_churn", NoParams, reads=["subscriptions"])
def logo_churn(ctx: MeasureContext, params: NoParams, window: Window) -> float | None:
    """Customers paying at the start who pay nothing at the end / customers at the start, in %."""
    m = movements(ctx, window)
    return ratio(m.churned_customers, m.customers_at_start, scale=100.0)


@measure("revenue_churn", NoParams, reads=["subscriptions"])
def revenue_churn(ctx: MeasureContext, params: NoParams, window: Window) -> float | None:
    """MRR lost with churned customers / MRR at the start, in %."""
    m = movements(ctx, window)
    return ratio(m.churned, m.start_mrr, scale=100.0)


@measure("expansion_rate", NoParams, reads=["subscriptions"])
def expansion_rate(ctx: MeasureContext, params: NoParams, window: Window) -> float | None:
    """Expansion MRR of existing customers / MRR at the start, in %."""
    m = movements(ctx, window)
    return ratio(m.expansion, m.start_mrr, scale=100.0)


class SpendParams(Params):
    categories: list[str] = ["sales", "marketing"]


def new_paying_customers(ctx: MeasureContext, window: Window) -> int:
    """Customers whose first paying subscription state falls in the window.

    Customers already paying at the subscriptions' first record are the starting book the
    store began with, not customers acquired then: they are never new.
    """
    began = first_record(ctx, "subscriptions")
    if began is None:
        return 0

    def build(w: Window) -> ibis.Scalar:
        subs = ctx.table("subscriptions").filter(lambda t: t.status.isin(PAYING))
        first = subs.group_by("tenant_id").aggregate(first=lambda t: t.ts.min())
        return in_window(first, "first", w).filter(lambda t: t.first > ibis.literal(began)).count()

    # The first record is a constant of the query: part of its shape, not a parameter.
    return int(ctx.windowed_scalar(("new_paying", began.isoformat()), window, build) or 0)


@measure("cac", SpendParams, reads=["spend", "subscriptions"])
def cac(ctx: MeasureContext, params: SpendParams, window: Window) -> float | None:
    """Sales & marketing spend / new paying customers in the window, in dollars."""

    def build(w: Window) -> ibis.Scalar:
        spend = in_window(ctx.table("spend"), "ts", w)
        return spend.filter(spend.category.isin(params.categories)).amount.sum()

    spent = ctx.windowed_scalar(("spend", tuple(params.categories)), window, build)
    return ratio(spent, new_paying_customers(ctx, window))


def lifetime_months(ctx: MeasureContext, window: Window) -> float | None:
    """1 / monthly logo churn, from churn in the window scaled to 30 days (capped at 5 years)."""
    m = movements(ctx, window)
    if not m.customers_at_start:
        return None
    monthly_churn = m.churned_customers / m.customers_at_start * (30.0 / window.days)
    return MAX_LIFETIME_MONTHS if monthly_churn <= 0 else min(MAX_LIFETIME_MONTHS, 1 / monthly_churn)


def ltv(ctx: MeasureContext, window: Window) -> float | None:
    """ARPU × average customer lifetime in months."""
    per_tenant = tenant_mrr(ctx, window.end)
    lifetime = lifetime_months(ctx, window)
    arpu_now = ratio(sum(per_tenant.values()), len(per_tenant))
    return None if arpu_now is None or lifetime is None else arpu_now * lifetime


@measure("ltv", NoParams, reads=["subscriptions"])
def ltv_measure(ctx: MeasureContext, params: NoParams, window: Window) -> float | None:
    """Customer lifetime value in dollars: ARPU × average lifetime (1 / monthly logo churn)."""
    return ltv(ctx, window)


@measure("ltv_to_cac", SpendParams, reads=["spend", "subscriptions"])
def ltv_to_cac(ctx: MeasureContext, params: SpendParams, window: Window) -> float | None:
    """LTV / CAC (LTV = ARPU × lifetime, lifetime = 1 / monthly logo churn)."""
    return ratio(ltv(ctx, window), cac(ctx, params, window))


@measure("new_signups", NoParams, reads=["tenants"])
def new_signups(ctx: MeasureContext, params: NoParams, window: Window) -> float | None:
    """New accounts (tenants) created in the window."""
    return evaluate_aggregate(ctx, Aggregate(table="tenants"), window)


class ConversionParams(Params):
    activation_event: str = "training_job_completed"


@measure("conversion_rate", ConversionParams, reads=["tenants", "activity", "subscriptions"])
def conversion_rate(ctx: MeasureContext, params: ConversionParams, window: Window) -> float | None:
    """Paid / activated: tenants created in the window that activated, and of those, the share now paying."""

    def build(w: Window) -> ibis.Table:
        tenants, activity = in_window(ctx.table("tenants"), "created_at", w), ctx.table("activity")
        done = activity.filter(activity.event == params.activation_event, activity.ts < ibis.literal(w.end))
        return tenants.semi_join(done, "tenant_id").select("tenant_id")

    paying = set(tenant_mrr(ctx, window.end))
    rows = ctx.windowed_rows(("activated_tenants", params.activation_event), window, build)
    ids = [row["tenant_id"] for row in rows]
    return ratio(sum(1 for t in ids if t in paying), len(ids), scale=100.0)


class TimeToParams(Params):
    event: str = "training_job_completed"


@measure("time_to_value_days", TimeToParams, reads=["users", "activity"])
def time_to_value_days(ctx: MeasureContext, params: TimeToParams, window: Window) -> float | None:
    """Median days from a user's signup to their first `event` (first training), for signups in the window."""

    def build(w: Window) -> ibis.Table:
        activity = ctx.table("activity")
        trainings = activity.filter(activity.event == params.event)
        users = in_window(ctx.table("users"), "signup_at", w)
        return _days_to_first(users, "signup_at", trainings, "user_id", w)

    return _median_days(ctx.windowed_rows(("time_to_value", params.event), window, build))


@measure("signup_to_paid_days", NoParams, reads=["tenants", "payments"])
def signup_to_paid_days(ctx: MeasureContext, params: NoParams, window: Window) -> float | None:
    """Median days from a tenant's creation to its first successful payment, for tenants created in the window."""

    def build(w: Window) -> ibis.Table:
        payments = ctx.table("payments")
        paid = payments.filter(payments.status == "succeeded")
        tenants = in_window(ctx.table("tenants"), "created_at", w)
        return _days_to_first(tenants, "created_at", paid, "tenant_id", w)

    return _median_days(ctx.windowed_rows(("signup_to_paid",), window, build))


def _days_to_first(cohort: ibis.Table, since: str, events: ibis.Table, key: str, window: Window) -> ibis.Table:
    """Seconds from each cohort member's `since` time to its first event (by `key`) before the window's end."""
    firsts = events.filter(events.ts < ibis.literal(window.end)).group_by(key).aggregate(first=lambda t: t.ts.min())
    return cohort.join(firsts, key).select(seconds=lambda t: t.first.epoch_seconds() - t[since].epoch_seconds())


def _median_days(rows: list[dict[str, Any]]) -> float | None:
    """The median of the rows' seconds, in days (negative gaps, events before the start, left out)."""
    values = [row["seconds"] for row in rows if row["seconds"] is not None and row["seconds"] >= 0]
    return statistics.median(values) / 86400 if values else None

"""Which tenants churned in a period, what their churn-risk indicators said just before, and the rate.

A tenant pays while at least one of its subscriptions is `active` or `past_due` (the states MRR
counts); it churns at the subscription record after which none is (canceled, unpaid, or back to a
trial). Its health and churn risk are evaluated at that instant, from the records before it. The
churn rate is the share of the tenants paying at the period's start that churned in it; a tenant
that started paying during the period and churned is listed but not in the rate. Subscriptions of
a tenant the `tenants` table does not know are left out: there is no health to tell.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from healthdeck.engine.customers import churn_risk_json
from healthdeck.engine.measures.churn import ChurnRisk
from healthdeck.engine.measures.customers import TenantHealth

# Per tenant and instant: how many of its subscriptions pay after that instant's records.
PAYING_STEPS = """
WITH states AS (
    SELECT tenant_id, subscription_id, ts, status IN ('active', 'past_due') AS paying
    FROM subscriptions
    WHERE ts < $end AND tenant_id IN (SELECT tenant_id FROM tenants) AND ($tenant IS NULL OR tenant_id = $tenant)
), changes AS (
    SELECT tenant_id, ts,
           paying::INT - coalesce(lag(paying) OVER (PARTITION BY subscription_id ORDER BY ts), false)::INT AS delta
    FROM states
), steps AS (
    SELECT tenant_id, ts, sum(delta) AS delta FROM changes GROUP BY tenant_id, ts
)
SELECT tenant_id, ts, sum(delta) OVER (PARTITION BY tenant_id ORDER BY ts) AS paying_after, delta
FROM steps ORDER BY tenant_id, ts
"""


@dataclass(frozen=True)
class Churned:
    """One tenant that churned in the period: when (its last churn in it), and its scores just before."""

    tenant_id: str
    name: str
    tier: str
    churned_at: datetime
    paying_at_start: bool
    paying_at_end: bool
    health: TenantHealth
    risk: ChurnRisk


@dataclass(frozen=True)
class ChurnAnalysis:
    """The period's churned tenants and the tenants that were paying at its start (by tier)."""

    start: datetime
    end: datetime
    paying_at_start: dict[str, str]  # tenant_id -> tier
    churned: list[Churned]


@dataclass(frozen=True)
class PayingHistory:
    """For each tenant: whether it paid at the start and at the end, and its churn instants in between."""

    at_start: set[str]
    at_end: set[str]
    churns: dict[str, datetime]  # tenant_id -> its last churn in the period


def paying_history(rows: list[tuple[Any, ...]], start: datetime) -> PayingHistory:
    """Read the running count of paying subscriptions per tenant (rows of `PAYING_STEPS`)."""
    at_start: dict[str, bool] = {}
    at_end: dict[str, bool] = {}
    churns: dict[str, datetime] = {}
    for tenant, ts, paying_after, delta in rows:  # in time order per tenant: the latest row wins
        if ts < start:
            at_start[tenant] = paying_after > 0
        elif paying_after == 0 and paying_after - delta > 0:
            churns[tenant] = ts
        at_end[tenant] = paying_after > 0
    return PayingHistory({t for t, p in at_start.items() if p}, {t for t, p in at_end.items() if p}, churns)


def _round(value: float) -> float:
    return round(value, 4)


def _rate(churned: int, paying: int) -> float | None:
    return None if paying == 0 else _round(100.0 * churned / paying)


def churned_json(churned: Churned) -> dict[str, Any]:
    return {
        "tenant_id": churned.tenant_id,
        "name": churned.name,
        "tier": churned.tier,
        "churned_at": churned.churned_at.isoformat(),
        "paying_at_start": churned.paying_at_start,
        "paying_at_end": churned.paying_at_end,
        "health_score": _round(churned.health.score),
        "health_status": churned.health.status,
        "churn_risk": churn_risk_json(churned.risk),
    }


def churn_analysis_json(analysis: ChurnAnalysis) -> dict[str, Any]:
    """The period, its churn rate (overall and by tier), how often each indicator preceded churn, the tenants."""
    counted = [c for c in analysis.churned if c.paying_at_start]
    tiers = sorted(set(analysis.paying_at_start.values()) | {c.tier for c in analysis.churned})
    by_tier = []
    for tier in tiers:
        paying = sum(1 for t in analysis.paying_at_start.values() if t == tier)
        lost = sum(1 for c in counted if c.tier == tier)
        listed = sum(1 for c in analysis.churned if c.tier == tier)
        by_tier.append(
            {"tier": tier, "paying_at_start": paying, "churned": listed, "churn_rate_pct": _rate(lost, paying)}
        )
    indicators = Counter(i.name for c in analysis.churned for i in c.risk.indicators)
    return {
        "start": analysis.start.isoformat(),
        "end": analysis.end.isoformat(),
        "paying_at_start": len(analysis.paying_at_start),
        "churned": len(analysis.churned),
        "churn_rate_pct": _rate(len(counted), len(analysis.paying_at_start)),
        "flagged_before_churn": sum(1 for c in analysis.churned if c.risk.level != "LOW"),
        "indicators_before_churn": dict(sorted(indicators.items())),
        "by_tier": by_tier,
        "tenants": [churned_json(c) for c in analysis.churned],
    }

"""Customer health (seed 000 §2.3) and churn risk (§2.4) per tenant with the week's change: what
`customers health` and `GET /v1/customers/…/health` show, computed once here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from healthdeck.engine.measures.churn import ChurnRisk, indicator_json
from healthdeck.engine.measures.customers import TenantHealth, factor_rules

# The change of a tenant's health is measured against the same moment this long before.
CHANGE_SPAN = timedelta(days=7)
STATUSES = ("HEALTHY", "AT_RISK", "CRITICAL")


@dataclass(frozen=True)
class CustomerHealth:
    """One tenant's health and churn risk at `at`, and a week before (None when the tenant did not exist yet)."""

    name: str
    tier: str
    at: datetime
    now: TenantHealth
    before: TenantHealth | None
    risk: ChurnRisk
    risk_before: ChurnRisk | None

    @property
    def change(self) -> float | None:
        return None if self.before is None else self.now.score - self.before.score

    @property
    def risk_change(self) -> int | None:
        return None if self.risk_before is None else self.risk.score - self.risk_before.score


def _round(value: float) -> float:
    return round(value, 4)


def factors_json(health: TenantHealth) -> dict[str, float]:
    return {
        "usage": _round(health.usage),
        "engagement": _round(health.engagement),
        "adoption": _round(health.adoption),
        "support": _round(health.support),
    }


def churn_risk_json(risk: ChurnRisk, change: int | None = None) -> dict[str, Any]:
    """`{"score", "level", "indicators": [{"name", "points", "fact"}], "change"}` of one tenant."""
    indicators = [indicator_json(i) for i in risk.indicators]
    return {"score": risk.score, "level": risk.level, "indicators": indicators, "change": change}


def customer_summary_json(customer: CustomerHealth) -> dict[str, Any]:
    """A tenant's line in the list: health score, status, factors, churn risk, and each one's week's change."""
    now = customer.now
    change = customer.change
    return {
        "tenant_id": now.tenant_id,
        "health_score": _round(now.score),
        "health_status": now.status,
        "factors": factors_json(now),
        "churn_risk": churn_risk_json(customer.risk, customer.risk_change),
        "name": customer.name,
        "tier": customer.tier,
        "change": None if change is None else _round(change),
    }


def customer_health_json(customer: CustomerHealth) -> dict[str, Any]:
    """One tenant's health with the facts behind it and its score a week before."""
    now, before = customer.now, customer.before
    previous = None
    if before is not None:
        previous = {
            "at": (customer.at - CHANGE_SPAN).isoformat(),
            "health_score": _round(before.score),
            "health_status": before.status,
            "churn_risk": None if customer.risk_before is None else churn_risk_json(customer.risk_before),
        }
    return {
        **customer_summary_json(customer),
        "facts": {
            "api_calls_30d": now.api_calls_30d,
            "last_active_date": None if now.last_active_date is None else now.last_active_date.isoformat(),
            "features_used": now.features_used,
            "open_tickets": now.open_tickets,
        },
        "rules": factor_rules(now, customer.at.date()),
        "previous": previous,
    }


def customers_json(customers: list[CustomerHealth], *, at: datetime, status: str | None) -> dict[str, Any]:
    """Every tenant's health, worst first; `counts` covers them all, `tenants` only `status`'s."""
    counts = dict.fromkeys(STATUSES, 0)
    for customer in customers:
        counts[customer.now.status] += 1
    shown = [c for c in customers if status is None or c.now.status == status]
    shown.sort(key=lambda c: (c.now.score, c.now.tenant_id))
    return {"at": at.isoformat(), "counts": counts, "tenants": [customer_summary_json(c) for c in shown]}


# How bad a status or level is, for `customers at-risk`: the worse of a tenant's two decides its place.
SEVERITY = {"CRITICAL": 2, "HIGH": 2, "AT_RISK": 1, "MEDIUM": 1}


def severity(customer: CustomerHealth) -> int:
    return max(SEVERITY.get(customer.now.status, 0), SEVERITY.get(customer.risk.level, 0))


def at_risk_reasons(customer: CustomerHealth) -> list[str]:
    """Why a tenant is on the at-risk list: its health status, its churn level and each active indicator."""
    now, risk = customer.now, customer.risk
    reasons = []
    if now.status != "HEALTHY":
        bound = "under 70" if now.status == "AT_RISK" else "under 40"
        reasons.append(f"health {now.status}: {now.score:.1f} ({bound})")
    if risk.level != "LOW":
        reasons.append(f"churn risk {risk.level}: {risk.score} points")
        reasons += [f"{i.fact} (+{i.points})" for i in risk.indicators]
    return reasons


def at_risk_json(customers: list[CustomerHealth], *, at: datetime) -> dict[str, Any]:
    """Tenants AT_RISK or CRITICAL in health, or at MEDIUM or HIGH churn risk, worst first, with why.

    Worst first: CRITICAL health or HIGH churn risk before AT_RISK or MEDIUM, then the higher churn
    risk score, then the lower health score.
    """
    flagged = [c for c in customers if severity(c) > 0]
    flagged.sort(key=lambda c: (-severity(c), -c.risk.score, c.now.score, c.now.tenant_id))
    return {
        "at": at.isoformat(),
        "tenants_total": len(customers),
        "at_risk": len(flagged),
        "tenants": [{**customer_summary_json(c), "why": at_risk_reasons(c)} for c in flagged],
    }

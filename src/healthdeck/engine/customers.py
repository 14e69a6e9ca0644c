"""Customer health per tenant (seed 000 §2.3) with the week's change: what `customers health`
and `GET /v1/customers/…/health` show, computed once here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from healthdeck.engine.measures.customers import TenantHealth, factor_rules

# The change of a tenant's health is measured against the same moment this long before.
CHANGE_SPAN = timedelta(days=7)
STATUSES = ("HEALTHY", "AT_RISK", "CRITICAL")


@dataclass(frozen=True)
class CustomerHealth:
    """One tenant's health at `at`, and a week before (None when the tenant did not exist yet)."""

    name: str
    tier: str
    at: datetime
    now: TenantHealth
    before: TenantHealth | None

    @property
    def change(self) -> float | None:
        return None if self.before is None else self.now.score - self.before.score


def _round(value: float) -> float:
    return round(value, 4)


def factors_json(health: TenantHealth) -> dict[str, float]:
    return {
        "usage": _round(health.usage),
        "engagement": _round(health.engagement),
        "adoption": _round(health.adoption),
        "support": _round(health.support),
    }


def customer_summary_json(customer: CustomerHealth) -> dict[str, Any]:
    """A tenant's line in the list: score, status, factors and the week's change."""
    now = customer.now
    change = customer.change
    return {
        "tenant_id": now.tenant_id,
        "name": customer.name,
        "tier": customer.tier,
        "health_score": _round(now.score),
        "health_status": now.status,
        "factors": factors_json(now),
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

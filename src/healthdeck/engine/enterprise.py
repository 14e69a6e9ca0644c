"""Enterprise tenants' status: health, churn risk, open tickets, and their 99.9% uptime SLA.

The `uptime` KPI is the share of a 24-hour window the API was up (the `up` samples, which carry
no tenant). A tenant's uptime is measured the same way from what it saw: the share of its requests
in a 24-hour window answered without a 5xx. The period is cut into 24-hour windows ending at its
end (the oldest one shorter when the period is not a whole number of days); a window whose uptime
is under 99.9% is a breach (exactly 99.9% meets the SLA); a window without requests is neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from healthdeck.engine.customers import CustomerHealth, churn_risk_json

SLA_PCT = 99.9
UPTIME_WINDOW = timedelta(hours=24)

ENTERPRISE_TENANTS = """
SELECT tenant_id FROM tenants
WHERE (enterprise OR tier = 'ENTERPRISE') AND ($tenant IS NULL OR tenant_id = $tenant)
ORDER BY tenant_id
"""
# Window k covers [end - (k + 1) × 24h, end - k × 24h), clipped to the period's start.
UPTIME_WINDOWS = """
SELECT tenant_id, floor((epoch($end) - epoch(ts)) / $seconds)::BIGINT AS k,
       count(*), count(*) FILTER (WHERE status >= 500)
FROM requests
WHERE ts >= $start AND ts < $end AND tenant_id IN (SELECT unnest($tenants::VARCHAR[]))
GROUP BY ALL ORDER BY tenant_id, k DESC
"""


@dataclass(frozen=True)
class UptimeWindow:
    """One 24-hour window of a tenant's requests."""

    start: datetime
    end: datetime
    requests: int
    errors: int

    @property
    def uptime_pct(self) -> float:
        return 100.0 * (self.requests - self.errors) / self.requests

    @property
    def breached(self) -> bool:
        return self.uptime_pct < SLA_PCT


@dataclass(frozen=True)
class EnterpriseStatus:
    """One enterprise tenant over the period: its health and churn risk at the end, and its uptime windows."""

    customer: CustomerHealth
    windows: list[UptimeWindow]

    @property
    def uptime_pct(self) -> float | None:
        requests = sum(w.requests for w in self.windows)
        return None if requests == 0 else 100.0 * (requests - sum(w.errors for w in self.windows)) / requests


def uptime_windows(rows: list[tuple[Any, ...]], *, start: datetime, end: datetime) -> dict[str, list[UptimeWindow]]:
    """Each tenant's windows with requests, oldest first (rows of `UPTIME_WINDOWS`)."""
    windows: dict[str, list[UptimeWindow]] = {}
    for tenant, k, requests, errors in rows:
        begins = max(start, end - (k + 1) * UPTIME_WINDOW)
        windows.setdefault(tenant, []).append(UptimeWindow(begins, end - k * UPTIME_WINDOW, requests, errors))
    return windows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def window_json(window: UptimeWindow) -> dict[str, Any]:
    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "requests": window.requests,
        "errors": window.errors,
        "uptime_pct": _round(window.uptime_pct),
    }


def enterprise_json(statuses: list[EnterpriseStatus], *, start: datetime, end: datetime) -> dict[str, Any]:
    """Every enterprise tenant, those with the most SLA breaches first, then the least healthy."""

    def order(status: EnterpriseStatus) -> tuple[int, float, str]:
        breaches = sum(1 for w in status.windows if w.breached)
        return -breaches, status.customer.now.score, status.customer.now.tenant_id

    rows = []
    for status in sorted(statuses, key=order):
        now = status.customer.now
        breaches = [w for w in status.windows if w.breached]
        rows.append(
            {
                "tenant_id": now.tenant_id,
                "name": status.customer.name,
                "tier": status.customer.tier,
                "health_score": _round(now.score),
                "health_status": now.status,
                "churn_risk": churn_risk_json(status.customer.risk, status.customer.risk_change),
                "open_tickets": now.open_tickets,
                "requests": sum(w.requests for w in status.windows),
                "uptime_pct": _round(status.uptime_pct),
                "sla_breaches": len(breaches),
                "breaches": [window_json(w) for w in breaches],
            }
        )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "sla_uptime_pct": SLA_PCT,
        "window": "24h",
        "tenants": rows,
    }

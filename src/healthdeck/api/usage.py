"""One tenant's API usage over time and its subscriptions, for the tenant page.

p95 latency is DuckDB's `quantile_cont` (linear interpolation between the two nearest ranks), the
definition the `api_latency_p95` KPI uses. Errors are 5xx answers. Every value reaches the SQL as a
bound parameter.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from healthdeck.api.auth import no_such_project
from healthdeck.api.errors import ApiError
from healthdeck.api.history import since_moment
from healthdeck.api.views.base import duration_text
from healthdeck.engine.series_json import default_step
from healthdeck.store.connection import Store
from healthdeck.timephrases import window_length

MAX_POINTS = 2_000

_TOTALS = """
SELECT count(*), count(*) FILTER (WHERE status >= 500), quantile_cont(latency_ms, 0.95)
FROM requests WHERE tenant_id = $tenant AND ts >= $start AND ts < $end
"""
# Point i covers [start + i × step, start + (i + 1) × step).
_POINTS = """
SELECT floor((epoch(ts) - epoch($start)) / $step)::BIGINT AS i,
       count(*), count(*) FILTER (WHERE status >= 500), quantile_cont(latency_ms, 0.95)
FROM requests WHERE tenant_id = $tenant AND ts >= $start AND ts < $end
GROUP BY i
"""
# Each subscription's latest record before `end` (its current state), as MRR reads them.
_SUBSCRIPTIONS = """
SELECT subscription_id, plan, tier, interval, amount, currency, status, ts
FROM subscriptions WHERE tenant_id = $tenant AND ts < $end
QUALIFY row_number() OVER (PARTITION BY subscription_id ORDER BY ts DESC) = 1
ORDER BY ts DESC, subscription_id
"""
_SUBSCRIPTION_FIELDS = ("subscription_id", "plan", "tier", "interval", "amount", "currency", "status", "since")


def usage_span(since: str, step: str | None, *, end: datetime) -> tuple[datetime, timedelta, int]:
    """Where the span starts, its step and how many points it has; too many points is the caller's error."""
    start = since_moment(since)
    every = window_length(step, label="step") or default_step(end - start)
    points = math.ceil((end - start) / every)
    if points > MAX_POINTS:
        asked = f"{since} in steps of {step or duration_text(every)}"
        raise ApiError(400, f"step: {asked} is {points} points, over {MAX_POINTS:,}; use a larger step")
    return start, every, points


def tenant_usage(store: Store, *, tenant: str, since: str, step: str | None) -> dict[str, Any]:
    """`{"tenant_id", "tier", "since", "step", "totals", "points", "subscriptions"}` of one tenant."""
    row = store.con.execute("SELECT tier FROM tenants WHERE tenant_id = ?", [tenant]).fetchone()
    if row is None:
        raise no_such_project(tenant)
    end = datetime.now(UTC)
    start, every, count = usage_span(since, step, end=end)
    span = {"tenant": tenant, "start": start, "end": end}
    requests, errors, p95 = store.con.execute(_TOTALS, span).fetchone() or (0, 0, None)
    return {
        "tenant_id": tenant,
        "tier": row[0],
        "since": start.isoformat(),
        "step": duration_text(every),
        "totals": {
            "requests": requests,
            "errors": errors,
            "error_rate_pct": _round(100.0 * errors / requests) if requests else None,
            "p95_latency_ms": _round(p95),
        },
        "points": _points(store, span, every, count),
        "subscriptions": _subscriptions(store, tenant, end),
    }


def _points(store: Store, span: dict[str, Any], every: timedelta, count: int) -> list[dict[str, Any]]:
    seconds = every.total_seconds()
    found = {i: rest for i, *rest in store.con.execute(_POINTS, {**span, "step": seconds}).fetchall()}
    points = []
    for i in range(count):
        requests, errors, p95 = found.get(i, (0, 0, None))
        at = span["start"] + i * every
        points.append({"at": at.isoformat(), "requests": requests, "errors": errors, "p95_latency_ms": _round(p95)})
    return points


def _subscriptions(store: Store, tenant: str, end: datetime) -> list[dict[str, Any]]:
    rows = store.con.execute(_SUBSCRIPTIONS, {"tenant": tenant, "end": end}).fetchall()
    return [{**dict(zip(_SUBSCRIPTION_FIELDS, row, strict=True)), "since": row[-1].isoformat()} for row in rows]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

"""One tenant's API usage over time and its subscriptions, for the tenant page.

p95 latency is DuckDB's `quantile_cont` (linear interpolation between the two nearest ranks), the
definition the `api_latency_p95` KPI uses. Errors are 5xx answers. Every value reaches the SQL as a
bound parameter.

Where raw requests were expired (store/retention.py), requests and errors are counted from the
per-minute rollups, by whole minutes, and the p95 of a point (or of the totals) reaching back there
is null: individual requests are gone. `raw_expired_before` says from when raw requests are kept.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from healthdeck.api.auth import no_such_project
from healthdeck.api.errors import ApiError
from healthdeck.api.history import since_moment
from healthdeck.api.views.base import duration_text
from healthdeck.engine.measures.base import MeasureContext, next_minute, raw_expired_before
from healthdeck.engine.series_json import default_step
from healthdeck.store.connection import Store
from healthdeck.timephrases import window_length

MAX_POINTS = 2_000

_TOTALS = """
SELECT count(*), count(*) FILTER (WHERE status >= 500), quantile_cont(latency_ms, 0.95)
FROM requests WHERE tenant_id = $tenant AND ts >= $raw_from AND ts < $end
"""
# Point i covers [start + i × step, start + (i + 1) × step).
_POINTS = """
SELECT floor((epoch(ts) - epoch($start)) / $step)::BIGINT AS i,
       count(*), count(*) FILTER (WHERE status >= 500), quantile_cont(latency_ms, 0.95)
FROM requests WHERE tenant_id = $tenant AND ts >= $raw_from AND ts < $end
GROUP BY i
"""
# The same counts from the rollups' minutes before $kept, where raw requests were expired.
_ROLLED_TOTALS = """
SELECT coalesce(sum(requests), 0), coalesce(sum(errors_5xx), 0)
FROM request_rollups WHERE tenant_id = $tenant AND minute >= $start AND minute < $kept
"""
_ROLLED_POINTS = """
SELECT floor((epoch(minute) - epoch($start)) / $step)::BIGINT AS i, sum(requests), sum(errors_5xx)
FROM request_rollups WHERE tenant_id = $tenant AND minute >= $start AND minute < $kept
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
    """`{"tenant_id", "tier", "since", "step", "raw_expired_before", "totals", "points", "subscriptions"}`
    of one tenant."""
    row = store.con.execute("SELECT tier FROM tenants WHERE tenant_id = ?", [tenant]).fetchone()
    if row is None:
        raise no_such_project(tenant)
    end = datetime.now(UTC)
    start, every, count = usage_span(since, step, end=end)
    kept = _raw_kept_from(store, start)
    # Raw requests from `raw_from` on; before it, where they were expired, the rollups' minutes.
    raw = {"tenant": tenant, "raw_from": kept or start, "end": end}
    rolled = {"tenant": tenant, "start": start, "kept": kept}
    requests, errors, p95 = store.con.execute(_TOTALS, raw).fetchone() or (0, 0, None)
    if kept is not None:
        more, more_errors = store.con.execute(_ROLLED_TOTALS, rolled).fetchone() or (0, 0)
        requests, errors, p95 = requests + more, errors + more_errors, None
    step_of = {"start": start, "step": every.total_seconds()}
    return {
        "tenant_id": tenant,
        "tier": row[0],
        "since": start.isoformat(),
        "step": duration_text(every),
        "raw_expired_before": None if kept is None else kept.isoformat(),
        "totals": {
            "requests": requests,
            "errors": errors,
            "error_rate_pct": _round(100.0 * errors / requests) if requests else None,
            "p95_latency_ms": _round(p95),
        },
        "points": _points(
            _counted(store, _POINTS, raw | step_of),
            {} if kept is None else _counted(store, _ROLLED_POINTS, rolled | step_of),
            start=start,
            every=every,
            count=count,
            kept=kept,
        ),
        "subscriptions": _subscriptions(store, tenant, end),
    }


def _raw_kept_from(store: Store, start: datetime) -> datetime | None:
    """The first whole minute from which raw requests are all kept, when the span begins before it
    (raw requests before it were expired; their rollups remain); else None."""
    gone = raw_expired_before(MeasureContext(store), "requests")
    return None if gone is None or start >= gone else next_minute(gone)


def _counted(store: Store, sql: str, params: dict[str, Any]) -> dict[int, tuple[Any, ...]]:
    """Point index -> (requests, errors[, p95]) of the points with any."""
    return {i: tuple(rest) for i, *rest in store.con.execute(sql, params).fetchall()}


def _points(
    raw: dict[int, tuple[Any, ...]],
    rolled: dict[int, tuple[Any, ...]],
    *,
    start: datetime,
    every: timedelta,
    count: int,
    kept: datetime | None,
) -> list[dict[str, Any]]:
    points = []
    for i in range(count):
        requests, errors, p95 = raw.get(i, (0, 0, None))
        at = start + i * every
        if kept is not None and at < kept:  # a p95 there would leave out the expired requests
            more, more_errors = rolled.get(i, (0, 0))
            requests, errors, p95 = requests + int(more), errors + int(more_errors), None
        points.append({"at": at.isoformat(), "requests": requests, "errors": errors, "p95_latency_ms": _round(p95)})
    return points


def _subscriptions(store: Store, tenant: str, end: datetime) -> list[dict[str, Any]]:
    rows = store.con.execute(_SUBSCRIPTIONS, {"tenant": tenant, "end": end}).fetchall()
    return [{**dict(zip(_SUBSCRIPTION_FIELDS, row, strict=True)), "since": row[-1].isoformat()} for row in rows]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

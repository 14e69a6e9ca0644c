"""`GET /v1/summary`: the executive summary (seed 000's level 0) — what the console's home page shows.

The score, its light and change, each area, the headline numbers, what pulled the score down
(the report's `points_lost`, largest first) and the score's kept history over the range. It reads
the server's latest evaluation (at most 5 s old), so a page load costs no evaluation of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from healthdeck.api.auth import needs
from healthdeck.api.errors import documented
from healthdeck.api.history import read_score_history, since_moment
from healthdeck.api.owner import StoreOwner
from healthdeck.api.routes.areas import latest_report
from healthdeck.api.routes.reports import thresholds_json
from healthdeck.api.tokens import Role
from healthdeck.catalog.models import KpiSpec
from healthdeck.engine.health import HealthReport
from healthdeck.engine.serialize import health_json

router = APIRouter(tags=["reports"], dependencies=[Depends(needs(Role.viewer))], responses=documented(400, 401, 403))
# The numbers an executive reads first (seed 000 level 0), in this order; those the catalog lacks are left out.
HEADLINE_KPIS = ("mrr", "dau", "uptime", "error_rate_5xx", "api_latency_p95")
# What an on-call engineer watches by the minute (seed 003's DevOps persona): shown as gauges.
REALTIME_KPIS = (
    "request_rate",
    "error_rate_5xx",
    "api_latency_p95",
    "uptime",
    "cpu_utilization",
    "memory_utilization",
    "gpu_utilization",
    "pod_restarts",
)
SinceQuery = Annotated[str, Query(description="How far back the score's history goes, e.g. 1h, 6h, 7d, 30d.")]
PointsQuery = Annotated[int, Query(ge=2, le=10_000, description="At most this many history points per curve.")]
# A chart needs no more points than this (its data table neither): the newest evaluation of each slice.
CHART_POINTS = 300


@router.get("/v1/summary")
def summary(request: Request, since: SinceQuery = "7d", points: PointsQuery = CHART_POINTS) -> dict[str, Any]:
    """`{"score", "status", "change", "stale", "areas", "headline": [KPI…], "pulled_down": [KPI…], "history"}`."""
    return latest_summary(request, since=since, points=points)


def latest_summary(request: Request, *, since: str, points: int = CHART_POINTS) -> dict[str, Any]:
    """The summary of the server's latest evaluation (evaluating nothing on a schedule's server), with at
    most `points` of the history kept over `since`."""
    owner: StoreOwner = request.app.state.owner
    start = since_moment(since)
    with owner.reader() as store:
        history = read_score_history(store, since=start, points=points)
    return summary_json(latest_report(request), history=history, since=since)


def summary_json(report: HealthReport, *, history: dict[str, Any], since: str) -> dict[str, Any]:
    """The summary of one evaluation, with its kept history."""
    full = health_json(report)
    specs = {result.kpi.id: result.kpi for result in report.results()}
    kpis = {kpi["id"]: {**kpi, "area": area} for area, body in full["areas"].items() for kpi in body["kpis"]}
    lost = sorted((k for k in kpis.values() if (k["points_lost"] or 0) > 0), key=lambda k: -k["points_lost"])
    return {
        "at": full["at"],
        "read_at": datetime.now(UTC).isoformat(),
        "since": since,
        **{key: full[key] for key in ("score", "status", "change", "previous_score", "stale", "newest_event")},
        "freshness": full["freshness"],
        "explanation": full["explanation"],
        "areas": {
            name: {key: body[key] for key in ("score", "status", "change", "weight")} | {"kpis": len(body["kpis"])}
            for name, body in full["areas"].items()
        },
        "headline": [kpis[kpi_id] for kpi_id in HEADLINE_KPIS if kpi_id in kpis],
        "realtime": [
            kpis[kpi_id] | {"gauge": gauge_scale(specs[kpi_id], kpis[kpi_id]["value"])}
            for kpi_id in REALTIME_KPIS
            if kpi_id in kpis
        ],
        "pulled_down": lost,
        "history": history,
    }


def gauge_scale(kpi: KpiSpec, value: float | None) -> dict[str, Any] | None:
    """Where a gauge of the KPI starts and ends, and its good and critical bounds; None unless its
    good threshold is one bound on the value (not a band, not a trend's % change).

    The scale spans the bounds and the value with the gap between the bounds either side, from 0 for
    a quantity that cannot be negative and to 100 for a percentage, so that the needle and both zones show.
    """
    rule = thresholds_json(kpi)
    if rule is None or kpi.thresholds is None or kpi.thresholds.direction == "band" or "good" not in rule["lines"]:
        return None
    good, critical = rule["lines"]["good"], rule["lines"].get("critical")
    marks = [mark for mark in (good, critical, value) if mark is not None]
    gap = abs(good - critical) if critical is not None else abs(good) or 1.0
    low, high = min(marks) - gap, max(marks) + gap
    if min(marks) >= 0:
        low = max(low, 0.0)
    if kpi.unit == "percent" and max(marks) <= 100:
        high = min(high, 100.0)
    return {
        "minimum": low,
        "maximum": high if high > low else low + 1.0,
        "good": good,
        "critical": critical,
        "higher_is_better": kpi.thresholds.direction == "higher",
    }

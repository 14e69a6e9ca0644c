"""The documented JSON shape of a health report, shared by the CLI and the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from healthdeck.engine.evaluate import KpiResult
from healthdeck.engine.explain import describe_kpi, describe_threshold, explain
from healthdeck.engine.freshness import describe_freshness
from healthdeck.engine.health import HealthReport


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def kpi_json(result: KpiResult, points_lost: float | None = None) -> dict[str, Any]:
    """One KPI: id, title, value, unit, status, score, threshold, and how it was measured."""
    kpi = result.kpi
    return {
        "id": kpi.id,
        "title": kpi.title,
        "value": _round(result.value),
        "unit": kpi.unit,
        "status": result.status.value,
        "score": _round(result.score, 2),
        "threshold": describe_threshold(result),
        "previous": _round(result.previous),
        "change_pct": _round(result.change_pct, 2),
        "weight": kpi.weight,
        "points_lost": _round(points_lost, 2),
        "window": {"start": result.window.start.isoformat(), "end": result.window.end.isoformat()},
        "pack": kpi.pack,
        "source": kpi.source,
        "explanation": describe_kpi(result),
        "newest_event": _time(result.freshness.newest_event if result.freshness else None),
        "stale": bool(result.freshness and result.freshness.stale),
    }


def health_json(report: HealthReport) -> dict[str, Any]:
    """{"score", "status", "at", "newest_event", "stale", "freshness", "areas": {area: {"score", "weight",
    "status", "kpis": [...]}}, "explanation"}, and "tenant" for a report on one tenant."""
    return {
        "score": _round(report.score, 2),
        "status": report.status.value if report.status else None,
        "at": report.at.isoformat(),
        "newest_event": _time(report.newest_event),
        "stale": report.stale,
        "freshness": describe_freshness(list(report.results()), report.at),
        "previous_score": _round(report.previous_score, 2),
        "change": _round(report.change, 2),
        "areas": {
            name: {
                "score": _round(area.score, 2),
                "weight": area.weight,
                "status": area.status.value if area.status else None,
                "change": _round(area.change, 2),
                "kpis": [kpi_json(r, report.points_lost.get(r.kpi.id)) for r in area.kpis],
            }
            for name, area in report.areas.items()
        },
        "explanation": explain(report),
    } | ({"tenant": report.tenant} if report.tenant is not None else {})

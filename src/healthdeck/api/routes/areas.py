"""`GET /v1/areas/{area}`: one area of the score (service, customer, business, capacity) — what its console page shows.

The area's score, light and change, and each of its KPIs as the latest evaluation judged them,
with each KPI's and the area's kept history over the range. Like `/v1/summary` it reads the
server's latest evaluation and the kept history: a page load evaluates nothing (see `latest_report`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from healthdeck.api.auth import needs
from healthdeck.api.errors import ApiError, documented
from healthdeck.api.history import read_area_history, read_kpis_history, since_moment
from healthdeck.api.owner import StoreOwner
from healthdeck.api.recent import Recent
from healthdeck.api.tokens import Role
from healthdeck.catalog.models import AREAS
from healthdeck.engine.freshness import describe_freshness
from healthdeck.engine.health import HealthReport
from healthdeck.engine.serialize import health_json

router = APIRouter(
    tags=["reports"], dependencies=[Depends(needs(Role.viewer))], responses=documented(400, 401, 403, 404)
)
# A sparkline is 100 px wide and the area's chart a page wide: more points than this would show nothing more.
SPARKLINE_POINTS, CHART_POINTS = 100, 300


@router.get("/v1/areas/{area}")
def area(
    request: Request,
    area: str,
    since: Annotated[str, Query(description="How far back the kept history goes, e.g. 1h, 6h, 7d, 30d.")] = "7d",
) -> dict[str, Any]:
    """`{"area", "score", "status", "change", "weight", "at", "kpis": [KPI + "history"], "history"}`."""
    return latest_area(request, area=area, since=since)


def latest_area(request: Request, *, area: str, since: str) -> dict[str, Any]:
    """One area of the server's latest evaluation, with its KPIs' and its own history kept over `since`."""
    if area not in AREAS:
        raise ApiError(404, f"no area {area!r}; the areas are {', '.join(AREAS)}")
    report, start = latest_report(request), since_moment(since)
    owner: StoreOwner = request.app.state.owner
    ids = [result.kpi.id for result in report.areas[area].kpis]
    with owner.reader() as store:
        kpis = read_kpis_history(store, kpis=ids, since=start, points=SPARKLINE_POINTS)
        history = read_area_history(store, area=area, since=start, points=CHART_POINTS)
    return area_json(report, area=area, since=since, kpi_history=kpis, history=history)


def latest_report(request: Request) -> HealthReport:
    """The server's latest evaluation, without evaluating: the scheduled one, or one a request
    asked for. Only without a schedule (`--evaluate-every off`) is it evaluated, at most every 5 s."""
    latest: Recent[HealthReport] = request.app.state.dashboard
    return latest.get() if request.app.state.settings.evaluate_every is None else latest.latest()


def area_json(
    report: HealthReport, *, area: str, since: str, kpi_history: dict[str, Any], history: list[Any]
) -> dict[str, Any]:
    """One area of a report: its KPIs by points lost, largest first, then those without data."""
    body = health_json(report)["areas"][area]
    kpis = [{**kpi, "area": area, "history": kpi_history.get(kpi["id"], [])} for kpi in body["kpis"]]
    results = report.areas[area].kpis
    return {
        "area": area,
        **{key: body[key] for key in ("score", "status", "change", "weight")},
        "at": report.at.isoformat(),
        "since": since,
        "stale": any(r.freshness is not None and r.freshness.stale for r in results),
        "freshness": describe_freshness(results, report.at),
        "kpis": sorted(kpis, key=lambda kpi: (kpi["status"] == "NO_DATA", -(kpi["points_lost"] or 0))),
        "history": history,
    }

"""Seed 003 §2.4's routes: `/api/projects/{project}/metrics/dashboard`, `query` and `query_range`.

A project is a tenant id, or `_all` for every tenant. The engine cannot yet compute a KPI
for one tenant, so today only `_all` answers; a tenant the token may see gets 501 (not
implemented), one it may not see gets 404, like every other route.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from healthdeck.api.auth import Caller, check_project, needs, no_such_project
from healthdeck.api.errors import ApiError
from healthdeck.api.owner import StoreOwner
from healthdeck.api.recent import Recent
from healthdeck.api.tokens import ALL_PROJECTS, Role
from healthdeck.catalog.durations import parse_duration
from healthdeck.cli.engine_access import at_option  # the CLI's rule for --at: not in the future
from healthdeck.engine.health import HealthReport
from healthdeck.engine.scoring import Light
from healthdeck.engine.serialize import kpi_json
from healthdeck.errors import HealthdeckError
from healthdeck.timephrases import parse_moment

router = APIRouter(tags=["dashboard"])
Viewer = Annotated[Caller, Depends(needs(Role.viewer, every_tenant=False))]
KpiQuery = Annotated[str, Query(description="The KPI id (GET /v1/catalog lists them).")]


def _operator_wide(request: Request, caller: Caller, project: str) -> StoreOwner:
    """The store's owner, once the project is `_all` and the caller may see every tenant."""
    check_project(caller, project)
    owner: StoreOwner = request.app.state.owner
    if project == ALL_PROJECTS:
        return owner
    with owner.reader() as store:
        known = store.con.execute("SELECT 1 FROM tenants WHERE tenant_id = ?", [project]).fetchone()
    if known is None:
        raise no_such_project(project)
    raise ApiError(501, f"KPIs of one tenant are not computed yet; ask /api/projects/{ALL_PROJECTS}/metrics/…")


def _kpi(owner: StoreOwner, kpi_id: str) -> str:
    if kpi_id not in owner.catalog.kpis:
        raise ApiError(404, f"no KPI with id {kpi_id!r}; GET /v1/catalog lists them")
    return kpi_id


@router.get("/api/projects/{project}/metrics/dashboard")
def dashboard(request: Request, project: str, caller: Viewer) -> dict[str, Any]:
    """The score, each area and each scored KPI's value and status, evaluated at most every 5 s."""
    _operator_wide(request, caller, project)
    cached: Recent[HealthReport] = request.app.state.dashboard
    report = cached.get()
    return {
        "project": project,
        "at": report.at.isoformat(),
        **_judged(report.score, report.status),
        "areas": {name: _judged(area.score, area.status) for name, area in report.areas.items()},
        "kpis": [
            {"id": r.kpi.id, "title": r.kpi.title, "value": r.value, "unit": r.kpi.unit, "status": r.status.value}
            for r in report.results()
        ],
    }


def _judged(score: float | None, light: Light | None) -> dict[str, Any]:
    return {"score": None if score is None else round(score, 2), "status": light.value if light else None}


@router.get("/api/projects/{project}/metrics/query")
def query(
    request: Request, project: str, caller: Viewer, kpi: KpiQuery, at: Annotated[str, Query()] = "now"
) -> dict[str, Any]:
    """One KPI at an instant, as `GET /v1/kpis/{id}`."""
    owner = _operator_wide(request, caller, project)
    moment = at_option(at, label="at")
    with owner.engine() as hd:
        return kpi_json(hd.kpi(_kpi(owner, kpi), at=moment))


@router.get("/api/projects/{project}/metrics/query_range")
def query_range(
    request: Request,
    project: str,
    caller: Viewer,
    kpi: KpiQuery,
    start: Annotated[str, Query(description='e.g. "24 hours ago" or ISO 8601.')],
    end: Annotated[str, Query()] = "now",
    step: Annotated[str, Query(description="Time between points, e.g. 5m, 1h.")] = "1h",
) -> dict[str, Any]:
    """One KPI's value (over its own window) at every step from start to end, as `metrics export`."""
    owner = _operator_wide(request, caller, project)
    begin, finish, every = parse_moment(start, label="start"), parse_moment(end, label="end"), _step(step)
    with owner.engine() as hd:
        rows = hd.export([hd.catalog.get(_kpi(owner, kpi))], start=begin, end=finish, step=every)
    return {
        "kpi": kpi,
        "points": [{"at": r.at.isoformat(), "value": r.value, "status": r.status.value} for r in rows],
    }


def _step(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise HealthdeckError(f"step: {exc}") from exc

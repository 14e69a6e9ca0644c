"""Seed 003 §2.4's routes: `/api/projects/{project}/metrics/dashboard`, `query` and `query_range`.

A project is a tenant id, or `_all` for every tenant. For a tenant, every KPI is evaluated on
that tenant's rows alone (engine/session.py); one over infrastructure or spend has no data and
says so. A project outside the token's scope, or not in the store, answers 404.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from healthdeck.api.auth import Caller, needs, tenant_scope
from healthdeck.api.errors import ApiError, documented
from healthdeck.api.owner import StoreOwner, owner_of
from healthdeck.api.recent import Recent, RecentByKey
from healthdeck.api.settings import DASHBOARD_MAX_AGE_SECONDS
from healthdeck.api.tokens import Role
from healthdeck.catalog.durations import parse_duration
from healthdeck.engine.health import HealthReport
from healthdeck.engine.scoring import Light
from healthdeck.engine.serialize import kpi_json
from healthdeck.errors import HealthdeckError
from healthdeck.timephrases import evaluation_time, parse_moment

router = APIRouter(tags=["dashboard"], responses=documented(400, 401, 403, 404))
Viewer = Annotated[Caller, Depends(needs(Role.viewer, every_tenant=False))]
KpiQuery = Annotated[str, Query(description="The KPI id (GET /v1/catalog lists them).")]
# Tenants whose dashboards are kept; beyond it the least recently asked is dropped (and recomputed if asked again).
TENANT_DASHBOARDS = 256


class TenantDashboards:
    """Each tenant's dashboard report, kept 5 s like every tenant's (`app.state.dashboard`).

    A tenant's live stream evaluates through it too (api/tenant_live.py), so a dashboard request
    and the stream share one evaluation.
    """

    def __init__(self, owner: StoreOwner) -> None:
        self.owner = owner
        self._reports = RecentByKey(self._evaluate, max_age=DASHBOARD_MAX_AGE_SECONDS, kept=TENANT_DASHBOARDS)

    def get(self, tenant: str) -> HealthReport:
        """The tenant's report, evaluated at most every 5 s."""
        return self._reports.get(tenant)

    def evaluated_since(self, tenant: str, since: datetime) -> HealthReport:
        """The tenant's report as of `since` or later: the kept one if it is (and under 5 s old), else a new one."""
        return self._reports.recent(tenant).get_fresh(lambda report: report.at >= since)

    def _evaluate(self, tenant: str) -> HealthReport:
        with self.owner.engine() as hd:
            return hd.health(tenant=tenant)


def tenant_dashboards(request: Request) -> TenantDashboards:
    dashboards: TenantDashboards = request.app.state.tenant_dashboards
    return dashboards


def _kpi(owner: StoreOwner, kpi_id: str) -> str:
    if kpi_id not in owner.catalog.kpis:
        raise ApiError(404, f"no KPI with id {kpi_id!r}; GET /v1/catalog lists them")
    return kpi_id


DASHBOARD_SCHEMA = {"type": "object", "required": ["project", "at", "score", "status", "areas", "kpis"]}


@router.get(
    "/api/projects/{project}/metrics/dashboard",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": DASHBOARD_SCHEMA}}}},
)
def dashboard(request: Request, project: str, caller: Viewer) -> Response:
    """The score, each area and each scored KPI's value and status, evaluated at most every 5 s."""
    tenant = tenant_scope(request, caller, project)
    if tenant is None:
        every: Recent[HealthReport] = request.app.state.dashboard
        report = every.get()
    else:
        report = tenant_dashboards(request).get(tenant)
    return Response(_dashboard_body(project, report), media_type="application/json")


# The body of each project's latest dashboard, rendered once per evaluation rather than per request:
# under 50 clients, building and encoding it again for every read was most of a read's cost.
_BODIES: OrderedDict[str, tuple[HealthReport, bytes]] = OrderedDict()
_BODIES_KEPT = 512
_BODIES_LOCK = threading.Lock()


def _dashboard_body(project: str, report: HealthReport) -> bytes:
    with _BODIES_LOCK:
        kept = _BODIES.get(project)
    if kept is not None and kept[0] is report:
        return kept[1]
    body = orjson.dumps(dashboard_json(project, report))
    with _BODIES_LOCK:
        _BODIES[project] = (report, body)
        _BODIES.move_to_end(project)
        while len(_BODIES) > _BODIES_KEPT:
            _BODIES.popitem(last=False)
    return body


def dashboard_json(project: str, report: HealthReport) -> dict[str, Any]:
    """The dashboard route's answer for one evaluation (the tenant page renders it too)."""
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
    """One KPI at an instant, as `GET /v1/kpis/{id}` (and `healthdeck metrics get --tenant`)."""
    tenant, owner = tenant_scope(request, caller, project), owner_of(request)
    moment = evaluation_time(at, label="at")
    with owner.engine() as hd:
        return kpi_json(hd.kpi(_kpi(owner, kpi), at=moment, tenant=tenant))


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
    tenant, owner = tenant_scope(request, caller, project), owner_of(request)
    begin, finish, every = parse_moment(start, label="start"), parse_moment(end, label="end"), _step(step)
    with owner.engine() as hd:
        rows = hd.export([hd.catalog.get(_kpi(owner, kpi))], start=begin, end=finish, step=every, tenant=tenant)
    return {
        "project": project,
        "kpi": kpi,
        "points": [{"at": r.at.isoformat(), "value": r.value, "status": r.status.value} for r in rows],
    }


def _step(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise HealthdeckError(f"step: {exc}") from exc

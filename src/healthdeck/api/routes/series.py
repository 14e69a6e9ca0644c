"""KPI values over time: `metrics export` and `metrics compare` over HTTP, and a KPI's kept history.

Export and compare answer exactly what `healthdeck metrics export|compare` print: the same engine
calls, the same rows (engine/series_json.py), the same limits and error lines. They cover every
tenant, or one with `?project=` (as `--tenant`), which a token limited to that project may ask for.
The kept history is every tenant's: a token limited to one project is refused (403).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from healthdeck.api.auth import Caller, needs, tenant_scope
from healthdeck.api.errors import documented
from healthdeck.api.history import read_kpi_history, since_moment
from healthdeck.api.owner import StoreOwner
from healthdeck.api.routes.reports import known_kpi
from healthdeck.api.tokens import Role
from healthdeck.engine.measures import Window
from healthdeck.engine.series_json import comparison_json, default_step, export_csv, export_records
from healthdeck.timephrases import evaluation_time, parse_moment, parse_period, window_length

router = APIRouter(tags=["series"], responses=documented(400, 401, 403))
EveryTenant = [Depends(needs(Role.viewer))]
Viewer = Annotated[Caller, Depends(needs(Role.viewer, every_tenant=False))]
ProjectQuery = Annotated[
    str | None, Query(description="Only this tenant's data (a tenant id; `_all` or none: every tenant).")
]
NameQuery = Annotated[
    list[str] | None, Query(description="KPI id (repeat for several); without it, the scored KPIs or the pack's.")
]
PackQuery = Annotated[str | None, Query(description="The KPIs of one catalog pack instead of the scored ones.")]


class SeriesFormat(StrEnum):
    """What an export is written as."""

    json = "json"
    csv = "csv"


_CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"description": "The rows, as JSON or CSV.", "content": {"text/csv": {"schema": {"type": "string"}}}}
}


@router.get("/v1/metrics/export", response_model=list[dict[str, Any]], responses={**_CSV_ANSWER, **documented(404)})
def export(
    request: Request,
    caller: Viewer,
    start: Annotated[str, Query(description='e.g. "7 days ago" or ISO 8601.')] = "7 days ago",
    end: Annotated[str, Query(description='e.g. "now"; not in the future.')] = "now",
    step: Annotated[str | None, Query(description="Time between points (default 1h, or 1d over 2 days).")] = None,
    name: NameQuery = None,
    pack: PackQuery = None,
    fmt: Annotated[SeriesFormat, Query(alias="format", description="json or csv.")] = SeriesFormat.json,
    project: ProjectQuery = None,
) -> Any:
    """Each KPI at every step from start to end, over its own window (as `healthdeck metrics export`)."""
    tenant = tenant_scope(request, caller, project)
    begin, finish = parse_moment(start, label="start"), evaluation_time(end, label="end")
    every = _step(step, finish - begin)
    owner: StoreOwner = request.app.state.owner
    with owner.engine() as hd:
        rows = hd.export(hd.select(ids=name or [], pack=pack), start=begin, end=finish, step=every, tenant=tenant)
    if fmt is SeriesFormat.csv:
        return Response(export_csv(rows), media_type="text/csv")
    return export_records(rows)


def _step(text: str | None, span: timedelta) -> timedelta:
    step = window_length(text, label="step")
    return default_step(span) if step is None else step


@router.get("/v1/metrics/compare", responses=documented(404))
def compare(
    request: Request,
    caller: Viewer,
    period1: Annotated[str, Query(description='First period, e.g. "last week" or 2026-11-19.')] = "last week",
    period2: Annotated[str, Query(description='Second period, e.g. "this week".')] = "this week",
    name: NameQuery = None,
    pack: PackQuery = None,
    project: ProjectQuery = None,
) -> list[dict[str, Any]]:
    """Each KPI over two periods of the same length, with the change (as `healthdeck metrics compare -o json`)."""
    tenant = tenant_scope(request, caller, project)
    first = Window(*parse_period(period1, label="period1"))
    second = Window(*parse_period(period2, label="period2"))
    owner: StoreOwner = request.app.state.owner
    with owner.engine() as hd:
        return comparison_json(hd.compare(hd.select(ids=name or [], pack=pack), first, second, tenant=tenant))


@router.get("/v1/kpis/{kpi_id}/history", dependencies=EveryTenant, responses=documented(404))
def kpi_history(
    request: Request,
    kpi_id: str,
    since: Annotated[str, Query(description="How far back, e.g. 1h, 24h, 7d.")] = "1d",
    points: Annotated[
        int | None, Query(ge=2, le=10_000, description="At most this many: the last kept in each equal slice.")
    ] = None,
) -> dict[str, Any]:
    """One KPI's values as the server evaluated and kept them: `{"id", "since", "points": [...]}`."""
    return kept_kpi_history(request, kpi_id, since=since, points=points)


def kept_kpi_history(request: Request, kpi_id: str, *, since: str, points: int | None) -> dict[str, Any]:
    owner: StoreOwner = request.app.state.owner
    known_kpi(owner, kpi_id)
    start = since_moment(since)
    with owner.reader() as store:
        kept = read_kpi_history(store, kpi=kpi_id, since=start, points=points)
    return {"id": kpi_id, "since": start.isoformat(), "points": kept}

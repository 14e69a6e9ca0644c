"""`GET /v1/views/{view}`: seed 004's API analytics, data pipeline and tenant analytics views.

Each answers its filters with the values the store holds, the catalog KPIs of the view (from the
api_pipeline_tenants pack) and its panels' data, every panel filtered by the chosen filters.
A token limited to one project may read only `/v1/views/tenants?tenant=<its tenant>`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from healthdeck.api.auth import Caller, check_project, needs
from healthdeck.api.errors import ApiError, documented
from healthdeck.api.history import span_length
from healthdeck.api.owner import StoreOwner
from healthdeck.api.recent import RecentByKey
from healthdeck.api.settings import VIEW_MAX_AGE_SECONDS, VIEWS_KEPT
from healthdeck.api.tokens import Role
from healthdeck.api.views import VIEWS
from healthdeck.api.views.base import Query as ViewQuery
from healthdeck.api.views.base import View, duration_text, view_step
from healthdeck.engine.serialize import kpi_json
from healthdeck.engine.session import Engine
from healthdeck.timephrases import evaluation_time

router = APIRouter(tags=["views"], responses=documented(400, 401, 403, 404))
Viewer = Annotated[Caller, Depends(needs(Role.viewer, every_tenant=False))]
PACK = "api_pipeline_tenants"
# At the longest step (6h), 1,460 points per series.
LONGEST_SPAN = timedelta(days=365)
KPI_SCOPE = (
    "each KPI over its own catalog window, for the tenant filter when one is chosen, else every tenant; "
    "the other filters (tier, endpoint, queue, etl_job) narrow the panels, not the KPIs"
)


def _filter(description: str) -> Any:
    return Query(description=description)


@router.get("/v1/views/{view}")
def view_data(
    request: Request,
    view: str,
    caller: Viewer,
    since: Annotated[str, Query(description="How far back the panels look, e.g. 1h, 6h, 7d, 30d.")] = "6h",
    tier: Annotated[str | None, _filter("api: the tier of the request; tenants: the tenant's tier.")] = None,
    endpoint: Annotated[str | None, _filter("api: one endpoint.")] = None,
    queue: Annotated[str | None, _filter("pipeline: one queue.")] = None,
    etl_job: Annotated[str | None, _filter("pipeline: one job type.")] = None,
    tenant: Annotated[str | None, _filter("tenants: one tenant.")] = None,
    at: Annotated[
        str, Query(description='The span ends, and the KPIs are evaluated, at this time: "now", ISO 8601.')
    ] = "now",
) -> dict[str, Any]:
    """One view: its filters and their options, its KPIs and its panels (`api`, `pipeline` or `tenants`)."""
    asked = {"tier": tier, "endpoint": endpoint, "queue": queue, "etl_job": etl_job, "tenant": tenant}
    if at == "now":
        return latest_view(request, caller, view, since=since, asked=asked)
    return view_answer(request.app.state.owner, caller, view, since=since, at=at, asked=asked)


ViewKey = tuple[str, str, tuple[tuple[str, str | None], ...], str | None]


def latest_view(
    request: Request, caller: Caller, view: str, *, since: str, asked: dict[str, str | None]
) -> dict[str, Any]:
    """The view as of now, kept 15 s per view, span, filters and scope (the console's pages read it too)."""
    kept: RecentByKey[ViewKey, dict[str, Any]] = request.app.state.view_answers
    return kept.get((view, since, tuple(sorted(asked.items())), caller.project))


def kept_views(owner: StoreOwner) -> RecentByKey[ViewKey, dict[str, Any]]:
    """The views answered as of now, each kept `VIEW_MAX_AGE_SECONDS`: `app.state.view_answers`."""

    def answer(key: ViewKey) -> dict[str, Any]:
        view, since, asked, project = key  # the role was checked before; the scope is the project's
        return view_answer(owner, Caller(Role.viewer, project, None), view, since=since, at="now", asked=dict(asked))

    return RecentByKey(answer, max_age=VIEW_MAX_AGE_SECONDS, kept=VIEWS_KEPT)


def view_answer(
    owner: StoreOwner, caller: Caller, view: str, *, since: str, at: str, asked: dict[str, str | None]
) -> dict[str, Any]:
    """What `GET /v1/views/{view}` answers `caller` (the console's view pages render it too)."""
    chosen = VIEWS.get(view)
    if chosen is None:
        raise ApiError(404, f"no view {view!r}; views: {', '.join(VIEWS)}")
    _check_scope(caller, chosen, asked.get("tenant"))
    filters = _chosen_filters(chosen, asked)
    end = evaluation_time(at, label="at")
    start = end - _span(since)
    with owner.engine() as hd:
        options = _options(hd, chosen, caller)
        _check_values(filters, options)
        query = ViewQuery(hd.store, start=start, end=end, step=view_step(end - start), filters=filters)
        return {
            "view": chosen.name,
            "title": chosen.title,
            "filters": {name: {"value": filters[name], "options": options[name]} for name in filters},
            "at": end.isoformat(),
            "since": start.isoformat(),
            "step": duration_text(query.step),
            "kpi_scope": KPI_SCOPE,
            "kpis": _kpis(hd, chosen, tenant=filters.get("tenant"), at=end),
            "panels": [make(query).json() for make in chosen.panels],
        }


def _span(since: str) -> timedelta:
    span = span_length(since)
    if span > LONGEST_SPAN:
        raise ApiError(400, f"since: {since} is longer than a view shows ({LONGEST_SPAN.days}d); choose a shorter span")
    return span


def _check_scope(caller: Caller, view: View, tenant: str | None) -> None:
    """A token limited to a project reads the tenants view of that project, and nothing else (403; 404 for another)."""
    if caller.project is None:
        return
    if view.name != "tenants" or tenant is None:
        raise ApiError(
            403,
            f"this token is limited to project {caller.project!r}; of the views it may read only "
            f"/v1/views/tenants?tenant={caller.project}",
        )
    check_project(caller, tenant)


def _chosen_filters(view: View, asked: dict[str, str | None]) -> dict[str, str | None]:
    names = [f.name for f in view.filters]
    stray = [name for name, value in asked.items() if value is not None and name not in names]
    if stray:
        raise ApiError(400, f"{stray[0]}: not a filter of the {view.name} view; its filters: {', '.join(names)}")
    return {name: asked[name] for name in names}


def _options(hd: Engine, view: View, caller: Caller) -> dict[str, list[str]]:
    options = {f.name: [str(row[0]) for row in hd.store.con.execute(f.options).fetchall()] for f in view.filters}
    if caller.project is not None and "tenant" in options:  # never list the other tenants
        options["tenant"] = [caller.project]
    return options


def _check_values(filters: dict[str, str | None], options: dict[str, list[str]]) -> None:
    for name, value in filters.items():
        if value is not None and value not in options[name]:
            some = ", ".join(options[name][:5]) or "none"
            more = ", …" if len(options[name]) > 5 else ""
            raise ApiError(400, f"{name}: {value!r} is not a {name} of the store; {name}s: {some}{more}")


def _kpis(hd: Engine, view: View, *, tenant: str | None, at: datetime) -> list[dict[str, Any]]:
    kpis = [k for k in hd.catalog.in_pack(PACK) if k.source.startswith(view.kpi_source)]
    return [kpi_json(result) for result in hd.evaluate(kpis, at=at, tenant=tenant)]

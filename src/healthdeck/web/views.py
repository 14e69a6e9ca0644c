"""Seed 004's three views in the browser: `/ui/views/{api,pipeline,tenants}` render `GET /v1/views/{view}`.

The filters are the URL's query parameters (a GET form writes them), so a view is a link to keep
or share; the page's range is the view's `since`. A panel without data is left out, not drawn empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from healthdeck.api.auth import Caller
from healthdeck.api.errors import ApiError
from healthdeck.api.routes.views import latest_view
from healthdeck.api.views import VIEWS
from healthdeck.web.frame import CONSOLE, page_frame, viewer
from healthdeck.web.render import render_page
from healthdeck.web.series import Chart, panel_chart

router = APIRouter(prefix=CONSOLE, include_in_schema=False)
# The console's view name → the nav section it marks.
SECTIONS = {"api": "api", "pipeline": "pipeline", "tenants": "tenant-analytics"}
# Every filter of every view: the route answers 400 for one the view has not.
FILTERS = ("tier", "endpoint", "queue", "etl_job", "tenant")
LABELS = {"tier": "Tier", "endpoint": "Endpoint", "queue": "Queue", "etl_job": "ETL job", "tenant": "Tenant"}
IN_A_SENTENCE = {"tier": "tier", "endpoint": "endpoint", "queue": "queue", "etl_job": "ETL job", "tenant": "tenant"}
# A column's unit, from its name's suffix.
SUFFIXES = {"_pct": "%", "_ms": "ms", "_s": "s", "_gib": "GiB", "_gb": "GB"}


def column_title(name: str) -> str:
    """`p95_latency_ms` → "p95 latency (ms)"; `tenant_id` → "tenant id"."""
    for suffix, unit in SUFFIXES.items():
        if name.endswith(suffix):
            return f"{name.removesuffix(suffix).replace('_', ' ')} ({unit})"
    return name.replace("_", " ")


@dataclass(frozen=True)
class Cell:
    """One table cell as shown: its value and, for a tenant, the link to the tenant's page."""

    value: Any
    href: str | None = None

    @property
    def text(self) -> str:
        """The JSON's value as written, with thousands separators; a whole float without its ".0"."""
        value = self.value
        if value is None:
            return "–"
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return f"{value:,}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Shown:
    """A panel of the JSON as the page shows it: a chart, a table or a stat card."""

    panel: dict[str, Any]
    chart: Chart | None
    rows: list[list[Cell]]

    @property
    def headers(self) -> list[str]:
        return [column_title(name) for name in self.panel["columns"]]

    @property
    def unit_note(self) -> str | None:
        """A stat's unit, when no column names its own (a column's suffix says it: `_pct`, `_ms`…); a chart's
        axis and data table say theirs, a table's columns theirs."""
        unit = self.panel["unit"]
        if self.panel["kind"] != "stat" or not unit or any(n.endswith(tuple(SUFFIXES)) for n in self.panel["columns"]):
            return None
        return f"Values in {unit}."

    @property
    def narrowed(self) -> str:
        names = self.panel["filtered_by"]
        return f"Narrowed by {_names(names)}." if names else "Not narrowed by the filters."


@router.get("/views/{view}")
def view_page(request: Request, view: str) -> Response:
    """One of seed 004's views for the URL's filters and range: the filter form, the view's KPIs, its panels."""
    caller = viewer(request)
    asked = {name: request.query_params.get(name) for name in FILTERS}
    if any(value == "" for value in asked.values()):  # "All" in the form: the link leaves the filter out
        return RedirectResponse(_link(request.url.path, request.query_params), status_code=303)
    _check_scope(caller, view, asked["tenant"])
    title = VIEWS[view].title if view in VIEWS else view  # an unknown view: the route's 404 names the views
    page = page_frame(request, caller, title=title, section=SECTIONS.get(view, ""))
    answer = latest_view(request, caller, view, since=page.range, asked=asked)
    chosen = {name: spec["value"] for name, spec in answer["filters"].items() if spec["value"] is not None}
    page.data_at = answer["at"]
    page.api = [("View", _link(f"/v1/views/{view}", {"since": page.range, **chosen}))]
    if caller.project is not None:  # a tenant's token reads its own tenant's view: follow its stream
        page.stream = f"/api/projects/{caller.project}/metrics/stream"
    shown = [_shown(panel) for panel in answer["panels"]]
    panels = [s for s in shown if s.chart or s.rows]
    return render_page(
        request,
        "view.html",
        page,
        view=answer,
        labels=LABELS,
        panels=panels,
        narrowing=_narrowing(list(answer["filters"]), [s.panel for s in panels]),
        share=str(request.base_url).rstrip("/") + _link(request.url.path, {"range": page.range, **chosen}),
    )


def _check_scope(caller: Caller, view: str, tenant: str | None) -> None:
    """As the route (403), naming the console's page the token may open; the route answers 404 for another
    tenant, and for a view that does not exist."""
    if caller.project is not None and view in VIEWS and (view != "tenants" or tenant is None):
        raise ApiError(
            403,
            f"this token is limited to project {caller.project!r}; of the views it may open only "
            f"{CONSOLE}/views/tenants?tenant={caller.project}",
        )


def _link(path: str, query: Any) -> str:
    kept = {name: value for name, value in dict(query).items() if value not in ("", None)}
    return f"{path}?{urlencode(kept)}" if kept else path


def _shown(panel: dict[str, Any]) -> Shown:
    if panel["kind"] == "timeseries":
        chart = panel_chart(panel)
        return Shown(panel, chart if chart else None, [])
    rows = panel["rows"]
    if panel["kind"] == "stat":  # a stat over no records is one row of nulls (or zero counts): nothing to show
        rows = [row for row in rows if any(value not in (None, 0) for value in row)]
    return Shown(panel, None, [_cells(panel["columns"], row) for row in rows])


def _cells(columns: list[str], row: list[Any]) -> list[Cell]:
    """The row's cells; the tenant's name (or, without one, its id) opens the tenant's page (a tenant's token
    sees only its own tenant's rows)."""
    values = dict(zip(columns, row, strict=True))
    tenant = values.get("tenant_id")
    linked = "name" if "name" in values else "tenant_id"
    return [Cell(v, f"{CONSOLE}/tenants/{tenant}" if tenant and c == linked else None) for c, v in values.items()]


def _narrowing(filters: list[str], panels: list[dict[str, Any]]) -> str:
    """Which filters narrow which panels, in one sentence: both narrow every panel, save those named."""
    others = [p for p in panels if p["filtered_by"] != filters]
    if not others:
        return f"The {_names(filters)} filters narrow every panel below."
    exceptions = "; ".join(
        f"{p['title']} ({'only by ' + _names(p['filtered_by']) if p['filtered_by'] else 'by neither'})" for p in others
    )
    return f"The {_names(filters)} filters narrow every panel below except {exceptions}."


def _names(filters: list[str]) -> str:
    return " and ".join(IN_A_SENTENCE[name] for name in filters)

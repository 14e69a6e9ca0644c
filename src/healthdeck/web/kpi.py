"""A KPI's page, `/ui/kpis/{kpi_id}`: its value and why, its windows, how it is measured, its history.

Rendered from `GET /v1/kpis/{id}` (a KPI outside the score is evaluated on request through it),
`GET /v1/catalog/{id}` and `GET /v1/kpis/{id}/history`; a scored KPI is read from the server's
latest evaluation instead, which also says how many points it cost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from healthdeck.api.owner import StoreOwner
from healthdeck.api.routes.areas import latest_report
from healthdeck.api.routes.reports import catalog_entry, evaluated_kpi, known_kpi
from healthdeck.api.routes.series import kept_kpi_history
from healthdeck.engine.serialize import kpi_json
from healthdeck.web.frame import CONSOLE, every_tenant_viewer, page_frame
from healthdeck.web.render import render_page
from healthdeck.web.series import points_chart

router = APIRouter(prefix=CONSOLE, include_in_schema=False)
CHART_POINTS = 300  # a page-wide chart (and its data table) shows no more than this


@router.get("/kpis/{kpi_id}")
def kpi_page(request: Request, kpi_id: str) -> Response:
    """The KPI's value, status and threshold; its windows; how it is measured; its kept history."""
    caller = every_tenant_viewer(request)
    owner: StoreOwner = request.app.state.owner
    spec = known_kpi(owner, kpi_id)
    page = page_frame(request, caller, title=spec.title, section=spec.area)
    entry = catalog_entry(spec, scored=owner.catalog.is_scored(spec))
    kpi, at, on_request = judged_kpi(request, kpi_id)
    history = kept_kpi_history(request, kpi_id, since=page.range, points=CHART_POINTS)
    page.data_at = at
    page.api = json_links(kpi_id, at=at, area=None if on_request else spec.area, since=page.range)
    page.stale = kpi["explanation"] if kpi["stale"] else None
    lines = entry["thresholds"]["lines"] if entry["thresholds"] else {}
    chart = points_chart(
        history["points"],
        title=f"{spec.title}, last {page.range}",
        field="value",
        label=spec.title,
        unit=spec.unit,
        thresholds=lines,
    )
    return render_page(
        request,
        "kpi.html",
        page,
        kpi=kpi,
        entry=entry,
        on_request=on_request,
        history=history,
        history_chart=chart,
        definition=definition_yaml(entry),
        export=f"/v1/metrics/export?{urlencode({'name': kpi_id, 'format': 'csv', 'start': history['since']})}",
    )


def judged_kpi(request: Request, kpi_id: str) -> tuple[dict[str, Any], str, bool]:
    """The KPI as the latest evaluation judged it, with the points it cost; one the score leaves out is
    evaluated now, as `GET /v1/kpis/{id}` does. Also when it was evaluated, and whether on request."""
    report = latest_report(request)
    for result in report.results():
        if result.kpi.id == kpi_id:
            return kpi_json(result, report.points_lost.get(kpi_id)), report.at.isoformat(), False
    at = datetime.now(UTC).isoformat()
    return evaluated_kpi(request, kpi_id, at=at, window=None, tenant=None), at, True


def json_links(kpi_id: str, *, at: str, area: str | None, since: str) -> list[tuple[str, str]]:
    links = [("KPI", f"/v1/kpis/{kpi_id}?{urlencode({'at': at})}")]
    if area is not None:  # the points a scored KPI cost are its area's
        links.append(("Area", f"/v1/areas/{area}?since={since}"))
    history = f"/v1/kpis/{kpi_id}/history?since={since}&points={CHART_POINTS}"
    return [*links, ("Catalog entry", f"/v1/catalog/{kpi_id}"), ("History", history)]


def definition_yaml(entry: dict[str, Any]) -> str:
    """The measure and its parameters as the catalog's YAML writes them."""
    import yaml  # only the KPI page needs it: the server starts without it

    measured = {"measure": entry["measure"], "params": entry["params"]}
    return str(yaml.safe_dump(measured, sort_keys=False, allow_unicode=True, default_flow_style=False))

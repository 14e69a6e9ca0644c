"""An area's page, `/ui/areas/{area}`: its score and every KPI of it, rendered from `GET /v1/areas/{area}`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from healthdeck.api.routes.areas import latest_area
from healthdeck.web.frame import CONSOLE, every_tenant_viewer, page_frame
from healthdeck.web.render import render_page
from healthdeck.web.series import points_chart

router = APIRouter(prefix=CONSOLE, include_in_schema=False)


@router.get("/areas/{area}")
def area_page(request: Request, area: str) -> Response:
    """The area's score, light and change; its KPIs by points lost, with their trends; its score over the range."""
    caller = every_tenant_viewer(request)
    page = page_frame(request, caller, title=f"{area.capitalize()} health", section=area)
    body = latest_area(request, area=area, since=page.range)
    page.data_at = body["at"]
    page.api = [("Area", f"/v1/areas/{area}?since={page.range}")]
    page.stale = body["freshness"] if body["stale"] else None
    title = f"{area.capitalize()} score, last {page.range}"
    score_chart = points_chart(body["history"], title=title, field="score", label=area.capitalize(), unit="points")
    return render_page(request, "area.html", page, area=body, score_chart=score_chart)

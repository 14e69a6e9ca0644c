"""An area's page, `/ui/areas/{area}`: its score and every KPI of it, rendered from `GET /v1/areas/{area}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from healthdeck.api.routes.areas import latest_area
from healthdeck.api.routes.business import mrr_answer
from healthdeck.api.routes.engagement import cohorts_answer
from healthdeck.engine.revenue_movements import PeriodKind
from healthdeck.web.frame import CONSOLE, every_tenant_viewer, page_frame
from healthdeck.web.render import Page, render_page
from healthdeck.web.series import movement_chart, points_chart

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
    extra = _business(request, page) if area == "business" else {}
    return render_page(request, "area.html", page, area=body, score_chart=score_chart, **extra)


# MRR movements by the range's period: weeks for a week's range, months for a month's, else days.
MOVEMENT_PERIODS: dict[str, tuple[PeriodKind, int]] = {"7d": ("week", 8), "30d": ("month", 12)}
COHORT_WEEKS = 8


def _business(request: Request, page: Page) -> dict[str, Any]:
    """The business page's MRR movements (`/v1/business/mrr`) and signup cohorts (`/v1/business/cohorts`)."""
    by, periods = MOVEMENT_PERIODS.get(page.range, ("day", 14))
    owner, moment = request.app.state.owner, datetime.now(UTC)
    movements = mrr_answer(owner, by=by, periods=periods, at=moment)
    cohorts = cohorts_answer(owner, weeks=COHORT_WEEKS, at=moment)
    page.api += [("MRR movements", f"/v1/business/mrr?by={by}&periods={periods}"), ("Cohorts", "/v1/business/cohorts")]
    return {
        "movements": movements,
        "movement_by": by,
        "mrr_chart": movement_chart(movements["periods"], title=f"MRR and its movements by {by}"),
        "cohorts": cohorts,
    }

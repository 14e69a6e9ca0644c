"""Level 0, the executive summary: `/ui/` renders `GET /v1/summary` for the reader's range."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from healthdeck.api.routes.summary import latest_summary
from healthdeck.web.frame import CONSOLE, page_frame, viewer
from healthdeck.web.render import render_page
from healthdeck.web.series import history_chart

router = APIRouter(prefix=CONSOLE, include_in_schema=False)


@router.get("/")
def overview(request: Request) -> Response:
    """The score and its light, the areas, the headline numbers, what pulled the score down, the score over time."""
    caller = viewer(request)
    if caller.project is not None:  # a tenant's token: its home is its tenant's page
        return RedirectResponse(f"{CONSOLE}/tenants/{caller.project}", status_code=303)
    page = page_frame(request, caller, title="Health overview", section="overview")
    summary = latest_summary(request, since=page.range)
    page.data_at, page.api = summary["at"], [("Summary", f"/v1/summary?since={page.range}"), ("Report", "/v1/health")]
    page.stale = summary["freshness"] if summary["stale"] else None
    morning = None
    if page.persona.name == "devops":  # on call reads seed 001's morning check too: GET /health's panels
        morning = request.app.state.quick_health.get()
        page.api.append(("Morning check", "/health"))
    return render_page(
        request,
        "overview.html",
        page,
        summary=summary,
        morning=morning,
        score_chart=history_chart(summary["history"], title=f"Health score, last {page.range}"),
    )

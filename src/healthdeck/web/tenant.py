"""One tenant's page: `/ui/tenants/{tenant_id}` renders its health (`GET /v1/customers/{id}/health`), its
usage over the page's range (`…/usage`) and its own KPI evaluation (`/api/projects/{id}/metrics/dashboard`).

A token limited to one tenant sees its own page only: any other tenant's is 404, as in the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from healthdeck.api.routes.customers import customer_answer, usage_answer
from healthdeck.api.routes.dashboard import dashboard_json, tenant_dashboards
from healthdeck.engine.measures.customers import FACTOR_MAXIMA
from healthdeck.web.frame import CONSOLE, page_frame, viewer
from healthdeck.web.render import render_page
from healthdeck.web.series import Chart

router = APIRouter(prefix=CONSOLE, include_in_schema=False)
# The KPIs of the tenant's report the page lists: those judged against a threshold (not INFO, NO_DATA, STALE).
SCORED = ("GOOD", "WARNING", "CRITICAL")
# The usage charts' step for each range: a few dozen points whatever the span.
STEPS = {"1h": "5m", "6h": "15m", "24h": "1h", "7d": "6h", "30d": "1d"}


@router.get("/tenants/{tenant_id}")
def tenant(request: Request, tenant_id: str) -> Response:
    """The tenant's health and its factors, its usage, tier and subscriptions, and its KPI report."""
    caller = viewer(request)
    owner = request.app.state.owner
    health = customer_answer(owner, caller, tenant_id, at="now")  # 404 outside the caller's scope
    section = "tenant" if caller.project else "tenants"
    page = page_frame(request, caller, title=f"Tenant {health['name']}", section=section)
    step = STEPS[page.range]
    usage = usage_answer(owner, caller, tenant_id, since=page.range, step=step)
    report = dashboard_json(tenant_id, tenant_dashboards(request).get(tenant_id))
    page.data_at, page.stream = report["at"], f"/api/projects/{tenant_id}/metrics/stream"
    page.api = [
        ("Health", f"/v1/customers/{tenant_id}/health"),
        ("Usage", f"/v1/customers/{tenant_id}/usage?since={page.range}&step={step}"),
        ("KPI report", f"/api/projects/{tenant_id}/metrics/dashboard"),
    ]
    return render_page(
        request,
        "tenant.html",
        page,
        health=health,
        usage=usage,
        report=report,
        scored=[kpi for kpi in report["kpis"] if kpi["status"] in SCORED],
        maxima=FACTOR_MAXIMA,
        charts=_charts(usage, span=page.range),
    )


def _charts(usage: dict[str, Any], *, span: str) -> dict[str, Chart]:
    times = [point["at"] for point in usage["points"]]
    requests = [
        ("Requests", [p["requests"] for p in usage["points"]]),
        ("5xx errors", [p["errors"] for p in usage["points"]]),
    ]
    latency = [("p95 latency", [p["p95_latency_ms"] for p in usage["points"]])]
    return {
        "traffic": Chart(f"Requests and 5xx errors per {usage['step']}, last {span}", times, requests),
        "latency": Chart(f"p95 latency per {usage['step']}, last {span}", times, latency, unit="ms"),
    }

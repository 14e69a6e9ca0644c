"""Tenants by health status: `/ui/customers` renders `GET /v1/customers/health` (every tenant, worst first)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from healthdeck.api.routes.customers import HealthStatus, customers_answer
from healthdeck.engine.measures.customers import FACTOR_MAXIMA
from healthdeck.errors import HealthdeckError
from healthdeck.web.frame import CONSOLE, every_tenant_viewer, page_frame
from healthdeck.web.render import render_page

router = APIRouter(prefix=CONSOLE, include_in_schema=False)
AT_RISK = ("AT_RISK", "CRITICAL")
# Rows of each list a page shows unless `?show=all`: 500 tenants' rows are a page few would scroll.
SHOWN_ROWS = 50


def _by_factor(factor: str) -> Callable[[dict[str, Any]], float]:
    return lambda tenant: float(tenant["factors"][factor])


# The table's orders (`?sort=`), each lowest first (the worst first for scores); ties keep the JSON's order.
SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "score": lambda t: t["health_score"],
    "name": lambda t: t["name"].casefold(),
    "tier": lambda t: t["tier"],
    "change": lambda t: (t["change"] is None, t["change"] or 0.0),  # the new tenants (no change) last
    **{factor: _by_factor(factor) for factor in FACTOR_MAXIMA},
}


@router.get("/customers")
def customers(request: Request) -> Response:
    """Counts per health status, the tenants at risk worst first, and every tenant in a sortable table."""
    caller = every_tenant_viewer(request)
    status, sort, show_all = _choices(request)
    page = page_frame(request, caller, title="Tenants by health", section="tenants")
    page.ranges = []  # scores are as of now and their change over 7 days: the range does not apply here
    answer = customers_answer(request.app.state.owner, status=status, at="now")
    page.data_at = answer["at"]
    page.api = [("Customer health", "/v1/customers/health" + (f"?status={status}" if status else ""))]
    at_risk = [t for t in answer["tenants"] if t["health_status"] in AT_RISK]
    ordered = sorted(answer["tenants"], key=SORTS[sort])
    limit = None if show_all else SHOWN_ROWS
    return render_page(
        request,
        "customers.html",
        page,
        answer=answer,
        status=status,
        sort=sort,
        at_risk=at_risk[:limit],
        at_risk_count=len(at_risk),
        tenants=ordered[:limit],
        tenant_count=len(ordered),
        maxima=FACTOR_MAXIMA,
        statuses=[s.value for s in HealthStatus],
        sorts=list(SORTS),
        links=_links(request),
    )


def _choices(request: Request) -> tuple[str | None, str, bool]:
    """`?status=`, `?sort=` and `?show=` as asked; a value the page does not offer is the caller's error."""
    query = request.query_params
    status = query.get("status") or None
    if status is not None and status not in HealthStatus.__members__:
        raise HealthdeckError(f"status: {status!r} is not offered; use one of {', '.join(HealthStatus)}")
    sort = query.get("sort") or "score"
    if sort not in SORTS:
        raise HealthdeckError(f"sort: {sort!r} is not offered; use one of {', '.join(SORTS)}")
    show = query.get("show") or ""
    if show not in ("", "all"):
        raise HealthdeckError(f"show: {show!r} is not offered; use show=all, or leave it out for {SHOWN_ROWS} rows")
    return status, sort, show == "all"


def _links(request: Request) -> Callable[..., str]:
    """This page's URL with some parameters changed (None drops one), the others kept."""

    def link(**changes: str | None) -> str:
        query = {**dict(request.query_params), **changes}
        kept = {name: value for name, value in query.items() if value}
        return f"{request.url.path}?{urlencode(kept)}" if kept else request.url.path

    return link

"""`/v1/business/engagement|cohorts|lifecycle`: what `healthdeck business engagement|cohorts|lifecycle` print as JSON.

They cover every tenant; `?project=` narrows one to a tenant (a token limited to one project must
name its own, and gets 404 for any other, as `/api/projects/{project}/…` does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from healthdeck.api.auth import Caller, needs, tenant_scope
from healthdeck.api.errors import documented
from healthdeck.api.owner import StoreOwner, owner_of
from healthdeck.api.tokens import Role
from healthdeck.engine.engagement import check_period, check_span, cohorts_json, engagement_json, lifecycle_json
from healthdeck.timephrases import evaluation_time

router = APIRouter(tags=["business"], responses=documented(400, 401, 403, 404))
Viewer = Annotated[Caller, Depends(needs(Role.viewer, every_tenant=False))]
AtQuery = Annotated[str, Query(description='As of this time: "now", "yesterday", ISO 8601.')]
ProjectQuery = Annotated[str | None, Query(description="Only this tenant (a token limited to one must name it).")]


@router.get("/v1/business/engagement")
def engagement(request: Request, caller: Viewer, at: AtQuery = "now", project: ProjectQuery = None) -> dict[str, Any]:
    """DAU, WAU, MAU, stickiness, per-user numbers, return rates, activation and agent sessions, by group."""
    tenant = tenant_scope(request, caller, project)
    moment = evaluation_time(at, label="at")
    with owner_of(request).engine() as hd:
        report = hd.engagement(at=moment, tenant=tenant)
    return engagement_json(report)


@router.get("/v1/business/cohorts")
def cohorts(
    request: Request,
    caller: Viewer,
    weeks: Annotated[int, Query(description="Signup weeks shown, and weeks since signup (0 … N-1).")] = 8,
    at: AtQuery = "now",
    project: ProjectQuery = None,
) -> dict[str, Any]:
    """Retention by signup week: the % of each week's signups active in each week since (null: not over)."""
    tenant = tenant_scope(request, caller, project)
    check_span(weeks, "weeks")
    return cohorts_answer(owner_of(request), weeks=weeks, at=evaluation_time(at, label="at"), tenant=tenant)


def cohorts_answer(owner: StoreOwner, *, weeks: int, at: datetime, tenant: str | None = None) -> dict[str, Any]:
    """What `GET /v1/business/cohorts` answers (the console's business page shows it too)."""
    with owner.engine() as hd:
        return cohorts_json(hd.cohorts(weeks=weeks, at=at, tenant=tenant), weeks=weeks, at=at)


@router.get("/v1/business/lifecycle")
def lifecycle(
    request: Request,
    caller: Viewer,
    period: Annotated[str, Query(description="day, week or month.")] = "week",
    periods: Annotated[int, Query(description="How many periods (the last ones over).")] = 8,
    at: AtQuery = "now",
    project: ProjectQuery = None,
) -> dict[str, Any]:
    """Active users per period: new, returning and resurrecting; and those gone dormant."""
    tenant = tenant_scope(request, caller, project)
    chosen = check_period(period, label="period")
    check_span(periods, "periods")
    moment = evaluation_time(at, label="at")
    with owner_of(request).engine() as hd:
        rows = hd.lifecycle(period=chosen, periods=periods, at=moment, tenant=tenant)
    return lifecycle_json(rows, period=chosen, at=moment)

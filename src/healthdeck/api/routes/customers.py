"""Customer health and churn risk: every tenant's (operators), and one tenant's (its own token too).

`GET /v1/customers/health`, `/at-risk`, `/churn-analysis` and `/enterprise-status` cover every
tenant: a token limited to one project is refused (403). Each answers the JSON of the `customers`
command of the same name.
`GET /v1/customers/{tenant_id}/health|usage` answer a project-scoped token for its own tenant,
and 404 for any other, exactly as `/v1/projects/{project}` does.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from healthdeck.api.auth import Caller, check_project, needs, no_such_project
from healthdeck.api.errors import documented
from healthdeck.api.owner import StoreOwner, owner_of
from healthdeck.api.tokens import Role
from healthdeck.api.usage import tenant_usage
from healthdeck.engine.churn_analysis import churn_analysis_json
from healthdeck.engine.customers import at_risk_json, customer_health_json, customers_json
from healthdeck.engine.enterprise import enterprise_json
from healthdeck.timephrases import evaluation_time, parse_period

router = APIRouter(tags=["customers"], responses=documented(400, 401, 403, 404))
EveryTenant = Annotated[Caller, Depends(needs(Role.viewer))]
Viewer = Annotated[Caller, Depends(needs(Role.viewer, every_tenant=False))]
AtQuery = Annotated[str, Query(description='As of this time: "now", "yesterday", ISO 8601.')]
PeriodQuery = Annotated[str, Query(description='Ending at `at`: "90 days", "last month", "this month", 2026-11-01.')]


class HealthStatus(StrEnum):
    """A tenant's health status (seed 000 §2.3)."""

    HEALTHY = "HEALTHY"
    AT_RISK = "AT_RISK"
    CRITICAL = "CRITICAL"


@router.get("/v1/customers/health")
def customers_health(
    request: Request,
    _: EveryTenant,
    status: Annotated[HealthStatus | None, Query(description="Only the tenants of this status.")] = None,
    at: AtQuery = "now",
) -> dict[str, Any]:
    """Every tenant's health score, factors and change over 7 days, worst first; counts per status."""
    return customers_answer(owner_of(request), status=None if status is None else status.value, at=at)


@router.get("/v1/customers/at-risk")
def customers_at_risk(request: Request, _: EveryTenant, at: AtQuery = "now") -> dict[str, Any]:
    """Tenants AT_RISK or CRITICAL in health, or at MEDIUM or HIGH churn risk, worst first, with why."""
    moment = evaluation_time(at, label="at")
    with owner_of(request).engine() as hd:
        customers = hd.customer_health(at=moment)
    return at_risk_json(customers, at=moment)


@router.get("/v1/customers/churn-analysis")
def customers_churn_analysis(
    request: Request, _: EveryTenant, period: PeriodQuery = "90 days", at: AtQuery = "now"
) -> dict[str, Any]:
    """Tenants that churned in the period, their churn-risk indicators just before, the churn rate by tier."""
    start, end = parse_period(period, now=evaluation_time(at, label="at"), label="period")
    with owner_of(request).engine() as hd:
        analysis = hd.churn_analysis(start=start, end=end)
    return churn_analysis_json(analysis)


@router.get("/v1/customers/enterprise-status")
def customers_enterprise_status(
    request: Request, _: EveryTenant, period: PeriodQuery = "30 days", at: AtQuery = "now"
) -> dict[str, Any]:
    """Enterprise tenants: health, churn risk, open tickets, 99.9% uptime SLA breaches over the period."""
    start, end = parse_period(period, now=evaluation_time(at, label="at"), label="period")
    with owner_of(request).engine() as hd:
        statuses = hd.enterprise_status(start=start, end=end)
    return enterprise_json(statuses, start=start, end=end)


@router.get("/v1/customers/{tenant_id}/health")
def customer_health(request: Request, tenant_id: str, caller: Viewer, at: AtQuery = "now") -> dict[str, Any]:
    """One tenant's health and churn risk: scores, factors, indicators, the facts behind them, and 7 days before."""
    return customer_answer(owner_of(request), caller, tenant_id, at=at)


@router.get("/v1/customers/{tenant_id}/usage")
def customer_usage(
    request: Request,
    tenant_id: str,
    caller: Viewer,
    since: Annotated[str, Query(description="How far back, e.g. 6h, 7d, 30d.")] = "7d",
    step: Annotated[str | None, Query(description="Time between points (default 1h, or 1d over 2 days).")] = None,
) -> dict[str, Any]:
    """One tenant's requests, 5xx errors and p95 latency over time, its tier and its subscriptions."""
    return usage_answer(owner_of(request), caller, tenant_id, since=since, step=step)


# What the routes answer, for the console's pages to render the same JSON (the caller checked as a route's).


def customers_answer(owner: StoreOwner, *, status: str | None, at: str) -> dict[str, Any]:
    """`GET /v1/customers/health` (for a caller over every tenant)."""
    moment = evaluation_time(at, label="at")
    with owner.engine() as hd:
        customers = hd.customer_health(at=moment)
    return customers_json(customers, at=moment, status=status)


def customer_answer(owner: StoreOwner, caller: Caller, tenant_id: str, *, at: str) -> dict[str, Any]:
    """`GET /v1/customers/{tenant_id}/health`: 404 for a tenant outside the caller's scope or the store."""
    check_project(caller, tenant_id)
    moment = evaluation_time(at, label="at")
    with owner.engine() as hd:
        found = hd.customer_health(at=moment, tenant=tenant_id)
    if not found:
        raise no_such_project(tenant_id)
    return customer_health_json(found[0])


def usage_answer(owner: StoreOwner, caller: Caller, tenant_id: str, *, since: str, step: str | None) -> dict[str, Any]:
    """`GET /v1/customers/{tenant_id}/usage`: 404 for a tenant outside the caller's scope or the store."""
    check_project(caller, tenant_id)
    with owner.reader() as store:
        return tenant_usage(store, tenant=tenant_id, since=since, step=step)

"""The business dashboard and MRR movements over the API: the same JSON as `healthdeck business`.

Both cover every tenant's revenue, so a token limited to one project is refused (403). The MRR
settings are the server's environment's (`HEALTHDECK_FX_RATES`, `HEALTHDECK_MRR_CHURN_AT`,
`HEALTHDECK_MRR_DISCOUNTS`), read at each request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from healthdeck.api.auth import Caller, needs
from healthdeck.api.errors import documented
from healthdeck.api.owner import StoreOwner, owner_of
from healthdeck.api.tokens import Role
from healthdeck.engine.business import summary_json
from healthdeck.engine.revenue_movements import PeriodKind, mrr_json
from healthdeck.engine.revenue_options import DEFAULT_PERIODS, MrrSettings, Period
from healthdeck.timephrases import evaluation_time

router = APIRouter(tags=["business"], responses=documented(400, 401, 403))
EveryTenant = Annotated[Caller, Depends(needs(Role.viewer))]
AtQuery = Annotated[str, Query(description='As of this time: "now", "yesterday", ISO 8601.')]


@router.get("/v1/business/summary")
def business_summary(request: Request, _: EveryTenant, at: AtQuery = "now") -> dict[str, Any]:
    """Seed 000 §3.4's dashboard: MRR, ARR, ARPU, NRR, GRR, churn, expansion, quick ratio, LTV, CAC, DAU, MAU …"""
    moment, settings = evaluation_time(at, label="at"), MrrSettings.from_environment()
    with owner_of(request).engine() as hd:
        return summary_json(hd.business_summary(settings=settings, at=moment))


@router.get("/v1/business/mrr")
def business_mrr(
    request: Request,
    _: EveryTenant,
    by: Annotated[Period, Query(description="The length of each period.")] = Period.month,
    periods: Annotated[int | None, Query(ge=1, le=1000, description="How many periods up to `at`.")] = None,
    at: AtQuery = "now",
) -> dict[str, Any]:
    """MRR and its movements (new, expansion, contraction, churn, reactivation) per period."""
    count = periods or DEFAULT_PERIODS[by.value]
    return mrr_answer(owner_of(request), by=by.value, periods=count, at=evaluation_time(at, label="at"))


def mrr_answer(owner: StoreOwner, *, by: PeriodKind, periods: int, at: datetime) -> dict[str, Any]:
    """What `GET /v1/business/mrr` answers (the console's business page shows it too)."""
    with owner.engine() as hd:
        return mrr_json(hd.business_mrr(by=by, periods=periods, at=at, settings=MrrSettings.from_environment()))

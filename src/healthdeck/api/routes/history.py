"""`GET /v1/history`: the score, each area and optionally one KPI over time, from the kept evaluations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from healthdeck.api.auth import needs
from healthdeck.api.errors import ApiError, documented
from healthdeck.api.history import read_history, since_moment
from healthdeck.api.owner import StoreOwner
from healthdeck.api.tokens import Role

router = APIRouter(
    tags=["history"], dependencies=[Depends(needs(Role.viewer))], responses=documented(400, 401, 403, 404)
)


@router.get("/v1/history")
def history(
    request: Request,
    since: Annotated[str, Query(description="How far back, e.g. 1h, 24h, 7d.")] = "1d",
    kpi: Annotated[str | None, Query(description="Also this KPI's values over the same time.")] = None,
) -> dict[str, Any]:
    """What the server evaluated on its schedule: `{"overall": [...], "areas": {area: [...]}, "kpi": {...}}`."""
    owner: StoreOwner = request.app.state.owner
    if kpi is not None and kpi not in owner.catalog.kpis:
        raise ApiError(404, f"no KPI with id {kpi!r}; GET /v1/catalog lists them")
    start = since_moment(since)
    with owner.reader() as store:
        return read_history(store, since=start, kpi=kpi)

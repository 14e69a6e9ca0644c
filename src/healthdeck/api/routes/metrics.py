"""`GET /metrics`: the Prometheus exposition, behind a viewer token like every read."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from healthdeck.api.auth import needs
from healthdeck.api.errors import documented
from healthdeck.api.tokens import Role

router = APIRouter(tags=["metrics"], dependencies=[Depends(needs(Role.viewer))], responses=documented(401, 403))


_EXPOSITION = {
    "content": {"text/plain": {"schema": {"type": "string"}}},
    "description": "The Prometheus text exposition format.",
}


@router.get("/metrics", response_class=Response, responses={200: _EXPOSITION})
def metrics(request: Request) -> Response:
    """Scores, KPI values and statuses, ingest counters and evaluation timings for Prometheus."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

"""Open routes: `/health` (the morning check, seed 001), `/livez` and `/readyz` for probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from healthdeck.api.owner import StoreOwner
from healthdeck.api.recent import Recent
from healthdeck.engine.serialize import kpi_json

router = APIRouter(tags=["probes"])
# The pack `healthdeck status --quick` shows (seed 001's morning check); tests pin its panels.
MORNING_PACK = "daily_ops_morning"


@router.get("/health")
def quick_health(request: Request) -> dict[str, Any]:
    """The morning check without a token: the light, the score, the newest event and the panels (cached 5 s)."""
    check: Recent[dict[str, Any]] = request.app.state.quick_health
    auth = "on" if request.app.state.settings.auth else "off (--no-auth: anyone on this machine may do anything)"
    return {**check.get(), "auth": auth}


def morning_check(owner: StoreOwner) -> dict[str, Any]:
    """What `healthdeck status --quick --output json` reports, in seed 001's shape."""
    with owner.engine() as hd:
        report = hd.health(pack=MORNING_PACK, areas=["service"])
    newest = report.newest_event
    return {
        "status": report.status.value if report.status else None,
        "score": None if report.score is None else round(report.score, 2),
        "newest_event": newest.isoformat() if newest else None,
        "stale": report.stale,
        "panels": [kpi_json(r) for r in report.areas["service"].kpis],
    }


@router.get("/livez")
def livez() -> dict[str, str]:
    """The process answers."""
    return {"status": "alive"}


@router.get("/readyz")
def readyz() -> dict[str, str]:
    """The store is open and the catalog loaded: uvicorn accepts requests only from then on."""
    return {"status": "ready"}

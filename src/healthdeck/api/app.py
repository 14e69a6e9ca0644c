"""The FastAPI application: the store's owner, the ingest queue, the metrics, and the routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from healthdeck import __version__
from healthdeck.api.errors import install_error_handlers
from healthdeck.api.ingest_queue import IngestQueue
from healthdeck.api.live import Live, health_event
from healthdeck.api.owner import StoreOwner
from healthdeck.api.prometheus import ServerMetrics
from healthdeck.api.recent import Recent
from healthdeck.api.routes import dashboard, events, history, metrics, probes, projects, reports, sql, stream, tokens
from healthdeck.api.routes.probes import morning_check
from healthdeck.api.routes.series import router as series_router
from healthdeck.api.scheduler import Scheduler
from healthdeck.api.settings import DASHBOARD_MAX_AGE_SECONDS, HEALTH_MAX_AGE_SECONDS, ServeSettings
from healthdeck.engine.health import HealthReport


def create_app(owner: StoreOwner, settings: ServeSettings, *, spool_dir: Path) -> FastAPI:
    """The API over an open store; request bodies are spooled to `spool_dir` while they are ingested."""
    app = FastAPI(
        title="healthdeck",
        version=__version__,
        description="Product health for multi-tenant SaaS: ingest events, read the score and why.",
        lifespan=_scheduled_evaluation,
    )
    app.state.owner, app.state.settings = owner, settings
    app.state.queue = IngestQueue(settings.ingest_queue)
    app.state.metrics = ServerMetrics(owner)
    app.state.quick_health = Recent(partial(morning_check, owner), max_age=HEALTH_MAX_AGE_SECONDS)
    app.state.dashboard = Recent(app.state.metrics.evaluate, max_age=DASHBOARD_MAX_AGE_SECONDS)
    app.state.live = Live()
    app.state.spool_dir = spool_dir
    install_error_handlers(app)
    app.openapi = partial(_openapi_without_422, app)  # type: ignore[method-assign]
    for module in (probes, events, reports, history, projects, dashboard, stream, tokens, metrics, sql):
        app.include_router(module.router)
    app.include_router(series_router)
    return app


@asynccontextmanager
async def _scheduled_evaluation(app: FastAPI) -> AsyncIterator[None]:
    """Evaluate on schedule while the server runs; on stop, let the cycle in progress finish."""
    settings: ServeSettings = app.state.settings
    if settings.evaluate_every is None:
        yield
        return
    scheduler = Scheduler(
        app.state.owner,
        app.state.metrics,
        every=settings.evaluate_every,
        retention=settings.history_retention,
        on_evaluated=partial(_evaluated, app),
    )
    task = asyncio.create_task(scheduler.run())
    try:
        yield
    finally:
        scheduler.stop()
        await task


def _openapi_without_422(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, less the 422 it documents for bad parameters: they are answered 400 (errors.py)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = FastAPI.openapi(app)  # kept by FastAPI as app.openapi_schema: trimmed once
    for operations in schema["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
    for unused in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(unused, None)
    return schema


def _evaluated(app: FastAPI, report: HealthReport) -> None:
    """A scheduled evaluation is kept: the dashboard serves it, and every stream receives it."""
    app.state.dashboard.put(report)
    app.state.live.publish(health_event(report))

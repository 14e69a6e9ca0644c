"""The FastAPI application: the store's owner, the ingest queue, the metrics, and the routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from healthdeck import __version__
from healthdeck.api.backfill import backfill_days
from healthdeck.api.errors import install_error_handlers
from healthdeck.api.expiry import expire_on_schedule
from healthdeck.api.group_commit import GroupCommit
from healthdeck.api.ingest_queue import IngestQueue
from healthdeck.api.live import LiveProjects, health_event
from healthdeck.api.owner import StoreOwner
from healthdeck.api.prometheus import ServerMetrics
from healthdeck.api.recent import Recent
from healthdeck.api.routes import (
    areas,
    dashboard,
    events,
    history,
    metrics,
    probes,
    projects,
    reports,
    sql,
    stream,
    summary,
    tokens,
)
from healthdeck.api.routes.business import router as business_router
from healthdeck.api.routes.customers import router as customers_router
from healthdeck.api.routes.dashboard import TenantDashboards
from healthdeck.api.routes.engagement import router as engagement_router
from healthdeck.api.routes.probes import morning_check
from healthdeck.api.routes.series import router as series_router
from healthdeck.api.routes.views import kept_views
from healthdeck.api.routes.views import router as views_router
from healthdeck.api.scheduler import Scheduler
from healthdeck.api.settings import (
    DASHBOARD_MAX_AGE_SECONDS,
    HEALTH_MAX_AGE_SECONDS,
    STREAMED_TENANTS_PER_EVALUATION,
    ServeSettings,
)
from healthdeck.api.tenant_live import TenantRounds
from healthdeck.engine.health import HealthReport
from healthdeck.web.console import install_console
from healthdeck.web.frame import CONSOLE, error_page


def create_app(owner: StoreOwner, settings: ServeSettings, *, spool_dir: Path) -> FastAPI:
    """The API over an open store; request bodies are spooled to `spool_dir` while they are ingested."""
    app = FastAPI(
        title="healthdeck",
        version=__version__,
        description="Product health for multi-tenant SaaS: ingest events, read the score and why.",
        lifespan=_background,
    )
    app.state.owner, app.state.settings = owner, settings
    app.state.queue = IngestQueue(settings.ingest_queue)
    app.state.metrics = ServerMetrics(owner)
    app.state.quick_health = Recent(partial(morning_check, owner), max_age=HEALTH_MAX_AGE_SECONDS)
    app.state.dashboard = Recent(app.state.metrics.evaluate, max_age=DASHBOARD_MAX_AGE_SECONDS)
    app.state.tenant_dashboards = TenantDashboards(owner)
    app.state.view_answers = kept_views(owner)
    app.state.live = LiveProjects()
    app.state.spool_dir = spool_dir
    app.state.group_commit = GroupCommit(owner, spool_dir)
    app.state.metrics.watch(app.state.group_commit)
    install_error_handlers(app, pages=(f"{CONSOLE}/", error_page))
    app.openapi = partial(_openapi_without_422, app)  # type: ignore[method-assign]
    for module in (probes, events, reports, summary, areas, history, projects, dashboard, stream, tokens, metrics, sql):
        app.include_router(module.router)
    app.include_router(series_router)
    app.include_router(customers_router)
    app.include_router(engagement_router)
    app.include_router(business_router)
    app.include_router(views_router)
    install_console(app)
    return app


@asynccontextmanager
async def _background(app: FastAPI) -> AsyncIterator[None]:
    """The server's own work beside the requests: scheduled expiry, and scheduled evaluation."""
    every: timedelta | None = app.state.settings.expire_every
    stop = asyncio.Event()
    expiry = None if every is None else asyncio.create_task(expire_on_schedule(app.state.owner, every=every, stop=stop))
    try:
        async with _scheduled_evaluation(app):
            yield
    finally:
        stop.set()
        if expiry is not None:
            await expiry


@asynccontextmanager
async def _scheduled_evaluation(app: FastAPI) -> AsyncIterator[None]:
    """Evaluate on schedule (and the streamed tenants after each time) while the server runs, and
    the past days missing from the history once (api/backfill.py); on stop, let the evaluations in
    progress finish."""
    settings: ServeSettings = app.state.settings
    if settings.evaluate_every is None:
        yield
        return
    rounds = TenantRounds(app.state.live, app.state.tenant_dashboards, per_round=STREAMED_TENANTS_PER_EVALUATION)
    scheduler = Scheduler(
        app.state.owner,
        app.state.metrics,
        every=settings.evaluate_every,
        retention=settings.history_retention,
        on_evaluated=partial(_evaluated, app, rounds),
    )
    stop_backfill = asyncio.Event()
    backfill = backfill_days(app.state.owner, retention=settings.history_retention, stop=stop_backfill)
    tasks = [asyncio.create_task(scheduler.run()), asyncio.create_task(rounds.run()), asyncio.create_task(backfill)]
    try:
        yield
    finally:
        scheduler.stop()
        rounds.stop()
        stop_backfill.set()
        await asyncio.gather(*tasks)


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


def _evaluated(app: FastAPI, rounds: TenantRounds, report: HealthReport) -> None:
    """A scheduled evaluation is kept: the dashboard serves it, `_all`'s streams receive it,
    and the streamed tenants are evaluated for theirs."""
    app.state.dashboard.put(report)
    app.state.live.publish(None, health_event(report))
    rounds.evaluated(report.at)

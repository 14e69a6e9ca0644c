"""Wiring the console into the server: its pages, its static files, its errors as pages, `/` to the console."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from healthdeck.web import areas, customers, kpi, overview, session, tenant, views
from healthdeck.web.frame import CONSOLE

STATIC = Path(__file__).parent / "static"
PAGES = (overview, areas, kpi, session, customers, tenant, views)


def install_console(app: FastAPI) -> None:
    """Serve the console under /ui/ and send a browser that opens the server's address there."""
    for module in PAGES:
        app.include_router(module.router)
    app.mount(f"{CONSOLE}/static", StaticFiles(directory=STATIC), name="console-static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(f"{CONSOLE}/", status_code=307)

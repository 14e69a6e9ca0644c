"""Rendering the console's pages: one Jinja2 environment, the filters that format numbers, and the page frame.

Templates format and never compute: every number on a page is a field of the JSON its route
builds (the same function answers the API), formatted here as the CLI formats it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from healthdeck import __version__
from healthdeck.api.auth import Caller
from healthdeck.engine.explain import UNIT_SUFFIX, format_value
from healthdeck.web.persona import Persona
from healthdeck.web.svg import gauge, sparkline

PARTIAL_HEADER = "x-healthdeck-partial"  # console.js asks for the live part of a page only
# Only this server's own files: no inline script, no other origin, no framing (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# Status is never colour alone (WCAG 1.4.1): each has an icon and its name beside the colour.
STATUS_ICONS = {
    "GOOD": "✔",
    "GREEN": "✔",
    "WARNING": "▲",
    "YELLOW": "▲",
    "CRITICAL": "✖",
    "RED": "✖",
    "HEALTHY": "✔",
    "AT_RISK": "▲",
    "LOW": "✔",
    "MEDIUM": "▲",
    "HIGH": "✖",
    "INFO": "ℹ",
    "STALE": "◷",
    "NO_DATA": "–",
}
STATUS_CLASSES = {"GREEN": "good", "GOOD": "good", "HEALTHY": "good", "YELLOW": "warning", "WARNING": "warning"}
STATUS_CLASSES |= {"AT_RISK": "warning", "RED": "critical", "CRITICAL": "critical", "INFO": "info"}
STATUS_CLASSES |= {"LOW": "good", "MEDIUM": "warning", "HIGH": "critical"}  # churn-risk levels


@dataclass
class Page:
    """What every page's frame needs: who looks, how, and where its live data comes from."""

    title: str
    caller: Caller | None  # None on an error page: who asked is not known
    persona: Persona
    range: str
    theme: str
    path: str
    section: str = ""
    data_at: str | None = None  # the evaluation time of the page's numbers: "updated N s ago" counts from it
    stream: str | None = "/api/projects/_all/metrics/stream"
    api: list[tuple[str, str]] = field(default_factory=list)  # (label, URL) of the JSON the page shows
    stale: str | None = None  # what is stale, when the data is: the banner says it
    ranges: list[tuple[str, str, bool]] = field(default_factory=list)  # (range, its URL, chosen) for the picker


def status_icon(status: str | None) -> str:
    return STATUS_ICONS.get(status or "NO_DATA", "–")


def status_class(status: str | None) -> str:
    return STATUS_CLASSES.get(status or "", "muted")


def signed(change: float | None, digits: int = 1) -> str:
    """A change as people write it: +1.2, −0.4 (a true minus sign), 0.0; "–" when unknown."""
    if change is None:
        return "–"
    text = f"{abs(change):,.{digits}f}"
    return f"+{text}" if change > 0 else f"−{text}" if change < 0 else text


def unit_text(unit: str) -> str:
    """A unit as it follows a number: "%", "ms", "/s" (the CLI's suffixes, trimmed)."""
    return UNIT_SUFFIX.get(unit, f" {unit}").strip()


def moment(iso: str | None) -> str:
    """An ISO time as "2026-11-26 10:41 UTC" (the browser shows relative times beside it)."""
    if not iso:
        return "never"
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("healthdeck.web", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        unit_text=unit_text,
        value=format_value,
        icon=status_icon,
        status_class=status_class,
        signed=signed,
        moment=moment,
    )
    env.globals.update(version=__version__, gauge=gauge, sparkline=sparkline)
    # The shared pieces (badge, chart, …) are globals, so that a page's live part renders alone too.
    macros = env.get_template("_macros.html").module
    env.globals.update({name: getattr(macros, name) for name in dir(macros) if not name.startswith("_")})
    return env


def render_page(request: Request, template: str, page: Page, *, status_code: int = 200, **data: Any) -> HTMLResponse:
    """The page, or only its live part (`<main>`'s content) when console.js asks for an update."""
    compiled = environment().get_template(template)
    context = {"page": page, "request_path": request.url.path, **data}
    if request.headers.get(PARTIAL_HEADER):
        body = "".join(compiled.blocks["live"](compiled.new_context(context)))
    else:
        body = compiled.render(context)
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)

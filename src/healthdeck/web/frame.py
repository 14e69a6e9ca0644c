"""What every page shares: who may see it, its frame (persona, range, theme), and its errors as pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from healthdeck.api.auth import Caller, caller_of
from healthdeck.api.errors import ApiError
from healthdeck.api.tokens import Role
from healthdeck.web.persona import RANGES, chosen_range, persona_of, theme_of
from healthdeck.web.render import Page, render_page

CONSOLE = "/ui"


def every_tenant_viewer(request: Request) -> Caller:
    """The caller of a page over every tenant: a viewer or above, not limited to one project."""
    caller = viewer(request)
    if caller.project is not None:
        raise ApiError(403, f"this page covers every tenant; your token is limited to project {caller.project!r}")
    return caller


def viewer(request: Request) -> Caller:
    caller = caller_of(request)
    if not caller.role.allows(Role.viewer):
        raise ApiError(403, f"a {caller.role.value} token may not read the console")
    return caller


def page_frame(request: Request, caller: Caller, *, title: str, section: str, **extra: Any) -> Page:
    """The frame of a page: the reader's persona and theme, and the range its URL asks for."""
    persona = persona_of(request)
    page = Page(
        title=title,
        caller=caller,
        persona=persona,
        range=chosen_range(request.query_params.get("range"), persona),
        theme=theme_of(request),
        path=request.url.path,
        section=section,
        **extra,
    )
    page.ranges = range_links(request, page)
    return page


def range_links(request: Request, page: Page) -> list[tuple[str, str, bool]]:
    """The persona's ranges (and the page's, if a shared link asked for another), as links keeping the filters."""
    offered = list(page.persona.ranges)
    if page.range not in offered:
        offered.append(page.range)
    query = dict(request.query_params)
    return [(r, f"{request.url.path}?{urlencode({**query, 'range': r})}", r == page.range) for r in offered]


def error_page(request: Request, status: int, message: str) -> Response:
    """A refusal as a page: to the login for 401, else the reason and a way back."""
    if status == 401:
        return RedirectResponse(f"{CONSOLE}/login?{urlencode({'next': request.url.path})}", status_code=303)
    page = Page(
        title=f"{status}",
        caller=None,
        persona=persona_of(request),
        range=RANGES[0],
        theme=theme_of(request),
        path=request.url.path,
        stream=None,
    )
    return render_page(request, "error.html", page, status_code=status, status=status, message=message)

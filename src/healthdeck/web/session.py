"""Signing in to the console, and the reader's choices: persona and theme.

The token a user pastes (or that `serve --demo`'s link carries in its `#token=` fragment, which
browsers never send to a server or write into logs) is checked, then kept in an HttpOnly,
SameSite=Strict cookie that scripts cannot read and other sites cannot send. It authenticates
reads only (api/auth.py), so a page of another site cannot make the console write anything.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from healthdeck.api.auth import TOKEN_COOKIE, known_token
from healthdeck.api.errors import ApiError
from healthdeck.web.frame import CONSOLE
from healthdeck.web.persona import PERSONA_COOKIE, PERSONAS, THEME_COOKIE, THEMES, persona_of, theme_of
from healthdeck.web.render import Page, render_page

router = APIRouter(prefix=CONSOLE, include_in_schema=False)
FORM_LIMIT = 4096  # bytes of a sign-in or choice form: a token is under 100
YEAR = 365 * 24 * 3600


@router.get("/login")
def login_form(request: Request, after: Annotated[str, Query(alias="next")] = f"{CONSOLE}/") -> Response:
    """The sign-in form; with --no-auth there is nothing to sign in to."""
    if not request.app.state.settings.auth:
        return RedirectResponse(_local(after), status_code=303)
    return _form(request, after=_local(after))


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the pasted token and keep it in the console's cookie; back to the form if it is not valid."""
    _same_origin(request)
    form = await _form_fields(request)
    token, target = form.get("token", "").strip(), _local(form.get("next", f"{CONSOLE}/"))
    if not token or known_token(request, token) is None:
        return _form(request, after=target, problem="That token is unknown or revoked.", status_code=401)
    response = RedirectResponse(target, status_code=303)
    _keep(request, response, TOKEN_COOKIE, token, max_age=None)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    _same_origin(request)
    response = RedirectResponse(f"{CONSOLE}/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/")
    return response


@router.post("/choices")
async def choices(request: Request) -> Response:
    """Remember the persona or theme the reader chose, and go back to the page (at the persona's range)."""
    _same_origin(request)
    form = await _form_fields(request)
    target = _local(form.get("next", f"{CONSOLE}/"))
    response = RedirectResponse(target, status_code=303)
    if form.get("persona") in PERSONAS:
        response = RedirectResponse(urlsplit(target).path, status_code=303)  # the new persona's default range
        _keep(request, response, PERSONA_COOKIE, form["persona"], max_age=YEAR)
    if form.get("theme") in THEMES:
        _keep(request, response, THEME_COOKIE, form["theme"], max_age=YEAR)
    return response


def _form(request: Request, *, after: str, problem: str | None = None, status_code: int = 200) -> Response:
    page = Page(
        title="Sign in",
        caller=None,
        persona=persona_of(request),
        range="",
        theme=theme_of(request),
        path=request.url.path,
        stream=None,
    )
    return render_page(request, "login.html", page, status_code=status_code, after=after, problem=problem)


async def _form_fields(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise ApiError(413, f"the form is over {FORM_LIMIT} bytes")
    fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
    return {name: values[0] for name, values in fields.items()}


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (a browser names the page's origin in `Origin`)."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise ApiError(403, f"a form from {origin} may not post to this console")


def _local(target: str) -> str:
    """Where to go after a form: a console page of this server only, never another site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not parts.path.startswith(f"{CONSOLE}/"):
        return f"{CONSOLE}/"
    return target


def _keep(request: Request, response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,  # no script of the page needs them
        samesite="strict",
        secure=request.url.scheme == "https",
    )

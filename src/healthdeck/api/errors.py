"""Errors of the API: every refusal is JSON, `{"error": "..."}`, naming the problem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from healthdeck.errors import HealthdeckError


class ErrorBody(BaseModel):
    """Every refusal's body."""

    error: str = Field(description="What is wrong, naming the input, and what to do.")


# Why each refusal happens, as the OpenAPI schema documents it.
_REASONS = {
    400: "A parameter, header or body cannot be read (the error names it), or asks for the future.",
    401: "No token, or an unknown or revoked one.",
    403: "The token's role may not do this, or it is limited to a project and the route covers every tenant.",
    404: "No such KPI, token or project, or a project outside the token's scope (the same answer).",
    413: "The body is over the limit, measured after decompression.",
    415: "A Content-Type or Content-Encoding the route does not take.",
    429: "The ingest queue is full: retry after `Retry-After` seconds; nothing of this batch was stored.",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that may refuse with these statuses, each with the JSON error body."""
    return {status: {"model": ErrorBody, "description": _REASONS[status]} for status in statuses}


class ApiError(Exception):
    """A request the server refuses, with its HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# A refusal of a web console page is a page (web/frame.py installs it): the JSON is for the API.
ErrorPage = Callable[[Request, int, str], Response]


def install_error_handlers(app: FastAPI, *, pages: tuple[str, ErrorPage] | None = None) -> None:
    """Our errors, the user's (a bad `at`, an unknown pack) and the framework's, all as JSON — but
    under the `pages` prefix, as that page renderer's pages."""

    def refuse(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        if pages is not None and request.url.path.startswith(pages[0]):
            return pages[1](request, status, message)
        return _json_error(status, message, headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return refuse(request, exc.status, exc.message, exc.headers)

    @app.exception_handler(HealthdeckError)
    async def user_error(request: Request, exc: HealthdeckError) -> Response:
        return refuse(request, 400, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return refuse(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)  # FastAPI's 422, made a 400 like every bad parameter
    async def bad_parameter(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return refuse(request, 400, problems)

"""Who is calling and what they may see: bearer tokens, roles and project scope.

401 without a valid token, 403 for a role that may not, 404 for a project outside the
token's scope (the same answer as a project that does not exist, so nothing leaks).
A token limited to one project may not use the routes that cover every tenant (403);
the routes that name a project (`/api/projects/{project}/…`, `?project=`) answer it for its own.

The web console's browser sends its token in the `healthdeck_token` cookie (web/session.py). A cookie
is sent with every request to the host, whoever made the page that asks, so it counts only for reads
(GET, HEAD): anything that writes needs the Authorization header, which no other site can set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from healthdeck.api.errors import ApiError
from healthdeck.api.owner import StoreOwner
from healthdeck.api.tokens import ALL_PROJECTS, KNOWN, Role, Token, find_token


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: its role and, for a project-scoped token, its one tenant."""

    role: Role
    project: str | None
    token_id: str | None

    def may_see(self, project: str) -> bool:
        return self.project is None or self.project == project


OPEN_CALLER = Caller(Role.admin, None, None)  # --no-auth: every request may do everything
TOKEN_COOKIE = "healthdeck_token"
_READS = frozenset({"GET", "HEAD"})


def caller_of(request: Request) -> Caller:
    """Who is calling: 401 without a token, or with an unknown or revoked one."""
    if not request.app.state.settings.auth:
        return OPEN_CALLER
    presented = _presented_token(request)
    if presented is None:
        raise _unauthorized("this route needs a token: send Authorization: Bearer <token> (healthdeck tokens create)")
    token = known_token(request, presented)
    if token is None:
        raise _unauthorized("the token is unknown or revoked")
    return Caller(token.role, token.project, token.token_id)


def _presented_token(request: Request) -> str | None:
    """The bearer token of the Authorization header, else (for a read) the console's cookie."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented.strip():
        return presented.strip()
    cookie = request.cookies.get(TOKEN_COOKIE, "").strip()
    if cookie and request.method in _READS:
        return cookie
    return None


def known_token(request: Request, presented: str) -> Token | None:
    """The live token `presented` names, or None for an unknown or revoked one."""
    owner: StoreOwner = request.app.state.owner

    def read() -> Token | None:
        with owner.reader() as store:
            return find_token(store.con, presented)

    return KNOWN.find(presented, read)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def needs(role: Role, *, every_tenant: bool = True) -> Callable[[Request], Caller]:
    """A dependency: the caller, if its role is at least `role` (and unscoped, for routes over every tenant)."""

    def check(request: Request) -> Caller:
        caller = caller_of(request)
        if not caller.role.allows(role):
            raise ApiError(403, f"a {caller.role.value} token may not do this; it needs the {role.value} role")
        if every_tenant and caller.project is not None:
            raise _every_tenant_refused(caller.project)
        return caller

    return check


def _every_tenant_refused(project: str) -> ApiError:
    return ApiError(
        403,
        f"this token is limited to project {project!r}; this route covers every tenant "
        f"(use /v1/projects/{project}, or ?project={project} where a route takes it)",
    )


def tenant_scope(request: Request, caller: Caller, project: str | None) -> str | None:
    """The one tenant a request covers, or None for every tenant (`_all`, or no project named).

    404 for a project outside the caller's scope or not in the store; 403 when a caller limited
    to one project names none.
    """
    if project is None:
        if caller.project is not None:
            raise _every_tenant_refused(caller.project)
        return None
    check_project(caller, project)
    if project == ALL_PROJECTS:
        return None
    owner: StoreOwner = request.app.state.owner
    with owner.reader() as store:
        known = store.con.execute("SELECT 1 FROM tenants WHERE tenant_id = ?", [project]).fetchone()
    if known is None:
        raise no_such_project(project)
    return project


def check_project(caller: Caller, project: str) -> None:
    """404 for a project outside the caller's scope; `_all` is for tokens over every tenant."""
    if not caller.may_see(project):
        raise no_such_project(project)


def no_such_project(project: str) -> ApiError:
    return ApiError(404, f"no project {project!r}")

"""Who is calling and what they may see: bearer tokens, roles and project scope.

401 without a valid token, 403 for a role that may not, 404 for a project outside the
token's scope (the same answer as a project that does not exist, so nothing leaks).
A token limited to one project may not use the routes that cover every tenant (403);
the routes that name a project (`/api/projects/{project}/…`, `?project=`) answer it for its own.
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


def _caller(request: Request) -> Caller:
    if not request.app.state.settings.auth:
        return OPEN_CALLER
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise _unauthorized("this route needs a token: send Authorization: Bearer <token> (healthdeck tokens create)")
    owner: StoreOwner = request.app.state.owner

    def read() -> Token | None:
        with owner.reader() as store:
            return find_token(store.con, presented.strip())

    token = KNOWN.find(presented.strip(), read)
    if token is None:
        raise _unauthorized("the token is unknown or revoked")
    return Caller(token.role, token.project, token.token_id)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def needs(role: Role, *, every_tenant: bool = True) -> Callable[[Request], Caller]:
    """A dependency: the caller, if its role is at least `role` (and unscoped, for routes over every tenant)."""

    def check(request: Request) -> Caller:
        caller = _caller(request)
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

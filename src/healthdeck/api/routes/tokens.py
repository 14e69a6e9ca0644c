"""Token management over HTTP, for admins while the server holds the store."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from healthdeck.api.auth import needs
from healthdeck.api.errors import ApiError, documented
from healthdeck.api.owner import owner_of
from healthdeck.api.tokens import Role, Token, create_token, list_tokens, revoke_token
from healthdeck.errors import HealthdeckError
from healthdeck.store.connection import Store

router = APIRouter(tags=["tokens"], dependencies=[Depends(needs(Role.admin))], responses=documented(400, 401, 403, 404))


class NewToken(BaseModel):
    """What `healthdeck tokens create` takes: a role, optionally a project and a name."""

    role: Role
    project: Annotated[str | None, Field(description="Limit the token to this tenant id.")] = None
    name: str | None = None


@router.post("/v1/tokens", status_code=201)
async def create(request: Request, new: NewToken) -> dict[str, Any]:
    """Create a token; its text is in this answer only (`token`)."""

    def job(store: Store) -> dict[str, Any]:
        token, text = create_token(store.con, role=new.role, project=new.project, name=new.name)
        return {"token": text, **token.as_json()}

    return await owner_of(request).write(job)


@router.get("/v1/tokens")
def list_all(request: Request) -> list[dict[str, Any]]:
    """Every token, revoked ones too, without secrets."""
    with owner_of(request).reader() as store:
        return [t.as_json() for t in list_tokens(store.con)]


@router.delete("/v1/tokens/{token_id}")
async def revoke(request: Request, token_id: str) -> dict[str, Any]:
    """Revoke a token: requests with it are refused from now on."""
    try:
        token = await owner_of(request).write(partial(_revoke, token_id=token_id))
    except HealthdeckError as exc:
        raise ApiError(404, str(exc)) from exc
    return token.as_json()


def _revoke(store: Store, *, token_id: str) -> Token:
    return revoke_token(store.con, token_id)

"""`POST /v1/sql`: one read-only SELECT over the store, as `healthdeck sql` runs it."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from healthdeck.api.auth import needs
from healthdeck.api.errors import documented
from healthdeck.api.owner import StoreOwner
from healthdeck.api.tokens import Role
from healthdeck.store.query import json_value, run_query

# A query holds a read cursor and a core of the server: it gets at most this long.
MAX_TIMEOUT_S = 60.0

# A viewer reads every table through SQL, so a token limited to one project may not (403).
router = APIRouter(tags=["sql"], dependencies=[Depends(needs(Role.viewer))], responses=documented(400, 401, 403))


class SqlRequest(BaseModel):
    """One SELECT (DuckDB dialect) and how long it may run."""

    query: str = Field(description="One SELECT (or WITH … SELECT) over the store's tables and views.")
    timeout: float = Field(default=MAX_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S, description="Seconds before it is stopped.")


@router.post("/v1/sql")
async def sql(request: Request, body: SqlRequest) -> dict[str, Any]:
    """`{"columns": [...], "rows": [{column: value}]}`, values as `healthdeck sql --output json` writes them."""
    owner: StoreOwner = request.app.state.owner
    return await asyncio.to_thread(partial(_answer, owner, body))


def _answer(owner: StoreOwner, body: SqlRequest) -> dict[str, Any]:
    with owner.reader() as store:
        result = run_query(store, body.query, timeout=body.timeout)
    rows = [dict(zip(result.columns, map(json_value, row), strict=True)) for row in result.rows]
    return {"columns": result.columns, "rows": rows}

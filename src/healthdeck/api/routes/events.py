"""`POST /v1/events`: ingest over HTTP, through `healthdeck ingest`'s validation and deduplication."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from healthdeck.api.auth import Caller, needs
from healthdeck.api.body import as_json_lines, body_format, check_decodable, is_gzip, spool
from healthdeck.api.errors import ApiError, documented
from healthdeck.api.ingest import Body
from healthdeck.api.tokens import Role
from healthdeck.errors import HealthdeckError
from healthdeck.store.ingest import resolve_kind
from healthdeck.store.schema import KINDS

router = APIRouter(tags=["ingest"], responses=documented(400, 401, 403, 413, 415, 429))
KIND_HELP = f'Kind of every record: {", ".join(KINDS)}. Default: each record\'s "kind" field.'


# The body is read raw (it is spooled, maybe gzip): its forms are declared here for the schema.
_RECORDS = {"type": "object", "description": "One record: its fields as in docs/schema.md, and maybe `kind`."}
_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"oneOf": [{"type": "array", "items": _RECORDS}, _RECORDS]}},
        "application/x-ndjson": {"schema": {"type": "string", "description": "One JSON record per line."}},
    },
}


@router.post("/v1/events", openapi_extra={"requestBody": _BODY})
async def post_events(
    request: Request,
    caller: Annotated[Caller, Depends(needs(Role.operator))],
    kind: Annotated[str | None, Query(description=KIND_HELP)] = None,
) -> dict[str, Any]:
    """Store a batch of records (JSON Lines or a JSON array, optionally gzip); answers once they are committed."""
    fmt, gzip = body_format(request.headers.get("content-type")), is_gzip(request.headers.get("content-encoding"))
    _check_kind(kind)
    state = request.app.state
    limit = state.settings.max_body_bytes
    if not gzip and int(request.headers.get("content-length") or 0) > limit:
        raise ApiError(413, f"the body is over the {limit:,}-byte limit; send smaller batches")
    async with state.queue.place():
        name = uuid.uuid4().hex
        raw, array_lines, rejects = (state.spool_dir / f"{name}{end}" for end in (".jsonl", "-array.jsonl", "-rejects"))
        try:
            with open(raw, "wb") as target:
                await spool(request.stream(), target, gzip=gzip, limit=limit)
            body = await asyncio.to_thread(_prepare, raw, fmt, array_lines, kind, rejects)
            result = await state.group_commit.ingest(body)
        finally:
            for leftover in (raw, array_lines, rejects):
                leftover.unlink(missing_ok=True)
    state.metrics.count_ingest(result.report)
    return result.as_json()


def _check_kind(kind: str | None) -> None:
    if kind is None:
        return
    try:
        resolve_kind(kind)
    except HealthdeckError as exc:
        raise ApiError(400, f"kind: {exc}") from exc


def _prepare(raw: Path, fmt: str, array_lines: Path, kind: str | None, rejects: Path) -> Body:
    lines = as_json_lines(raw, fmt, array_lines)
    check_decodable(lines)
    return Body.spooled(lines, kind, rejects)

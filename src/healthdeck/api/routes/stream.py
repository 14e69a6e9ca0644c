"""`GET /api/projects/{project}/metrics/stream`: each evaluation of the project, pushed as a server-sent event.

`_all` gets each scheduled evaluation; a tenant, its own evaluation made after each one
(api/tenant_live.py). The token and the project are checked before the stream starts, so a
refusal is a status code (401, 403, 404) with a JSON body, never an event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from healthdeck.api.auth import Caller, needs, tenant_scope
from healthdeck.api.errors import ApiError, documented
from healthdeck.api.live import Live, LiveProjects, Subscription, health_event
from healthdeck.api.routes.dashboard import tenant_dashboards
from healthdeck.api.tokens import Role

router = APIRouter(tags=["dashboard"], responses=documented(400, 401, 403, 404))
END_GRACE_SECONDS = 1.0
Viewer = Annotated[Caller, Depends(needs(Role.viewer, every_tenant=False))]
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        description="The id of the last event received (an evaluation time): the kept events after it come first.",
    ),
]
_EVENT_STREAM = {
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
    "description": "Server-sent events: `health` (data: the JSON of GET /v1/health?project=… at the event's "
    "time, its id), `gap` (events after `since` that cannot be replayed) and a `:` comment every 15 s.",
}


@router.get(
    "/api/projects/{project}/metrics/stream",
    response_class=StreamingResponse,
    responses={200: _EVENT_STREAM},
)
async def stream(
    request: Request, project: str, caller: Viewer, last_event_id: LastEventId = None
) -> StreamingResponse:
    """Live updates: the project's latest evaluation at once, then each one made after a scheduled evaluation."""
    tenant = await anyio.to_thread.run_sync(tenant_scope, request, caller, project)  # reads the store: off the loop
    last_seen = _last_seen(last_event_id)
    projects: LiveProjects = request.app.state.live
    if tenant is not None and not projects.is_watched(tenant):
        # No round evaluates it yet: it starts with an evaluation made since its channel's events are all kept
        # (shared with its dashboard), so that replaying from any id of it needs no `gap`.
        since = projects.channel(tenant).replayable_after
        report = await anyio.to_thread.run_sync(tenant_dashboards(request).evaluated_since, tenant, since)
        projects.publish(tenant, health_event(report))
    live = projects.channel(tenant)  # on the loop from here: no round can drop the channel before subscribing
    return _EventStream(live, live.subscribe(last_seen=last_seen))


def _last_seen(header: str | None) -> datetime | None:
    if header is None or not header.strip():
        return None
    try:
        return datetime.fromisoformat(header.strip())
    except ValueError as exc:
        raise ApiError(400, f"Last-Event-ID {header!r} is not an event id; send the id of an event received") from exc


class _EventStream(StreamingResponse):
    """A text/event-stream response that ends with its subscription, cut short if the client does not read."""

    def __init__(self, live: Live, sub: Subscription) -> None:
        super().__init__(_encoded(sub), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        self.live, self.sub = live, sub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def until_done() -> None:
                    await self.stream_response(send)
                    group.cancel_scope.cancel()

                async def until_disconnected() -> None:
                    await self.listen_for_disconnect(receive)
                    group.cancel_scope.cancel()

                async def until_ended() -> None:
                    await self.sub.ended.wait()
                    # A client that stopped reading would hold its send (and the server's stop) forever:
                    # a dropped one is cut at once, the others get a moment to receive the end.
                    if not self.sub.dropped:
                        await anyio.sleep(END_GRACE_SECONDS)
                    group.cancel_scope.cancel()

                group.start_soon(until_done)
                group.start_soon(until_disconnected)
                group.start_soon(until_ended)
        except OSError:
            pass  # the client went away mid-send
        finally:
            self.live.unsubscribe(self.sub)


async def _encoded(sub: Subscription) -> AsyncIterator[bytes]:
    yield b"retry: 5000\n\n"  # how long a browser's EventSource waits before reconnecting
    async for event in sub.events():
        yield b": heartbeat\n\n" if event is None else event.encode()

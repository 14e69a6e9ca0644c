"""Live updates: each evaluation, published to every subscriber of its project's stream.

In-process pub/sub on the server's event loop, one channel per project: `_all` carries the
scheduled evaluations, a tenant's carries that tenant's (api/tenant_live.py). Each subscriber has a small bounded
queue; publishing never waits: a subscriber whose queue is full (a client that does
not read) is dropped, so a slow client never holds up evaluation or the others.
The last few events are kept, so a client reconnecting with `Last-Event-ID` gets what
it missed, or a `gap` event saying since when it cannot be replayed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from healthdeck.engine.health import HealthReport
from healthdeck.engine.serialize import health_json

# Events a client may fall behind by before it is dropped.
SUBSCRIBER_QUEUE = 8
# Events kept for clients that reconnect with Last-Event-ID.
REPLAYED_EVENTS = 16
# A comment line this often keeps proxies from closing an idle stream, and finds closed clients.
HEARTBEAT_SECONDS = 15.0
# Channels of tenants nobody streams any more, kept (with their events) for clients that come back.
IDLE_TENANT_CHANNELS = 256


@dataclass(frozen=True)
class LiveEvent:
    """One server-sent event: its id (the evaluation time, ISO 8601 UTC), its name and JSON data."""

    at: datetime
    name: str
    data: bytes

    def encode(self) -> bytes:
        return b"id: %s\nevent: %s\ndata: %s\n\n" % (self.at.isoformat().encode(), self.name.encode(), self.data)


def health_event(report: HealthReport) -> LiveEvent:
    """An evaluation as an event whose data is what `GET /v1/health` answers for the same instant."""
    return LiveEvent(at=report.at, name="health", data=orjson.dumps(health_json(report)))


def gap_event(since: datetime, until: datetime) -> LiveEvent:
    """Evaluations after `since` that cannot be replayed; `GET /v1/history?since=…` has their scores."""
    data = orjson.dumps({"since": since.isoformat(), "until": until.isoformat()})
    return LiveEvent(at=since, name="gap", data=data)


@dataclass(eq=False)  # each subscription is its own: kept in a set by identity
class Subscription:
    """One client's queue of events; `ended` is set once it is closed or dropped."""

    queue: asyncio.Queue[LiveEvent | None] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False
    heartbeat: float = HEARTBEAT_SECONDS

    async def events(self) -> AsyncIterator[LiveEvent | None]:
        """Each event as it comes, None after `heartbeat` seconds without one; ends when closed."""
        while not self.ended.is_set() or not self.queue.empty():
            try:
                event = await asyncio.wait_for(self.queue.get(), timeout=self.heartbeat)
            except TimeoutError:
                yield None
                continue
            if event is None:
                return
            yield event


class Live:
    """One project's publisher: every subscriber gets each event; the last `REPLAYED_EVENTS` are kept."""

    def __init__(self) -> None:
        self.recent: deque[LiveEvent] = deque(maxlen=REPLAYED_EVENTS)
        self.subscribers: set[Subscription] = set()
        # Events after this instant are all still kept: the server's start, then the newest one evicted.
        self.replayable_after = datetime.now(UTC)
        self.closed = False

    def subscribe(self, *, last_seen: datetime | None) -> Subscription:
        """A new subscription, starting with what the client has not seen (the latest event if it is new)."""
        sub = Subscription()
        for event in self._backlog(last_seen):
            sub.queue.put_nowait(event)
        if self.closed:
            sub.ended.set()
            sub.queue.put_nowait(None)
        else:
            self.subscribers.add(sub)
        return sub

    def _backlog(self, last_seen: datetime | None) -> list[LiveEvent]:
        if last_seen is None:
            return list(self.recent)[-1:]
        missed = [event for event in self.recent if event.at > last_seen]
        if last_seen >= self.replayable_after and len(missed) <= SUBSCRIBER_QUEUE:
            return missed
        # The queue holds a gap event and the newest missed ones; the gap covers all that came before them.
        replayed = missed[-(SUBSCRIBER_QUEUE - 1) :]
        skipped = missed[: len(missed) - len(replayed)]
        until = skipped[-1].at if skipped else self.replayable_after
        return [gap_event(last_seen, until), *replayed]

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    def publish(self, event: LiveEvent) -> None:
        """Queue `event` for every subscriber; drop those whose queue is full. Never waits."""
        if self.recent and event.at <= self.recent[-1].at:
            return  # not news: a tenant's cached evaluation offered again (ids only ever increase)
        if len(self.recent) == self.recent.maxlen:
            self.replayable_after = self.recent[0].at
        self.recent.append(event)
        for sub in list(self.subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.dropped = True
                self._end(sub)

    def close(self) -> None:
        """End every stream (the server is stopping); streams asked for from now on end at once."""
        self.closed = True
        for sub in list(self.subscribers):
            self._end(sub)

    def _end(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)
        sub.ended.set()
        try:
            sub.queue.put_nowait(None)
        except asyncio.QueueFull:
            sub.dropped = True  # it cannot even take the end marker: its stream is cut instead


class LiveProjects:
    """Every project's channel: `_all`'s (the tenant None) and each streamed tenant's, made on first use."""

    def __init__(self) -> None:
        self.every_tenant = Live()
        self._tenants: OrderedDict[str, Live] = OrderedDict()  # least recently subscribed to first
        self.closed = False

    def channel(self, tenant: str | None) -> Live:
        """The channel of `tenant` (None: every tenant), to subscribe to."""
        if tenant is None:
            return self.every_tenant
        live = self._tenants.pop(tenant, None) or self._new_channel()
        self._tenants[tenant] = live
        self._forget_idle()
        return live

    def _new_channel(self) -> Live:
        live = Live()
        if self.closed:
            live.close()
        return live

    def _forget_idle(self) -> None:
        idle = [tenant for tenant, live in self._tenants.items() if not live.subscribers]
        for tenant in idle[: max(0, len(idle) - IDLE_TENANT_CHANNELS)]:
            del self._tenants[tenant]

    def is_watched(self, tenant: str) -> bool:
        """Whether `tenant` has a subscriber (and so gets evaluations for its stream)."""
        live = self._tenants.get(tenant)
        return live is not None and bool(live.subscribers)

    def publish(self, tenant: str | None, event: LiveEvent) -> None:
        """Publish to `tenant`'s channel (None: every tenant's), if it still has one."""
        live = self.every_tenant if tenant is None else self._tenants.get(tenant)
        if live is not None:
            live.publish(event)

    def watched(self) -> list[str]:
        """The tenants streamed by at least one client, least recently subscribed to first."""
        return [tenant for tenant, live in self._tenants.items() if live.subscribers]

    def close(self) -> None:
        """End every stream of every project (the server is stopping)."""
        self.closed = True
        for live in (self.every_tenant, *self._tenants.values()):
            live.close()

"""`GET /api/projects/{project}/metrics/stream`: live evaluations over server-sent events, against a real server."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from healthdeck.api.live import SUBSCRIBER_QUEUE, Live, LiveEvent, LiveProjects, Subscription
from healthdeck.api.owner import StoreOwner
from healthdeck.api.routes.dashboard import TenantDashboards
from healthdeck.api.tenant_live import TenantRounds
from healthdeck.api.tokens import Role
from healthdeck.engine.session import load_checked_catalog
from healthdeck.store.connection import open_store
from tests.conftest import run_cli
from tests.test_serve_server import HOST, NDJSON, Server, jsonl, make_tokens, request_event, tenant

STREAM = "/api/projects/{}/metrics/stream"
EVERY_SECONDS = 1.0
# httpx's default is 5 s: under load, a batch posted to a server evaluating every 0.5 s took longer.
ANSWER_SECONDS = 60


@dataclass
class Event:
    id: str
    name: str
    data: dict[str, Any]


@dataclass
class Streaming:
    server: Server
    tokens: dict[str, str]

    def headers(self, caller: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[caller]}"} if caller in self.tokens else {}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Streaming]:
    db = tmp_path_factory.mktemp("stream") / "store.duckdb"
    names = ["viewer", "operator", "viewer@t-1"]
    texts = make_tokens(db, (Role.viewer, None), (Role.operator, None), (Role.viewer, "t-1"))
    server = Server(db, "--evaluate-every", f"{EVERY_SECONDS}s").start()
    deployed = Streaming(server, dict(zip(names, texts, strict=True)))
    try:
        at = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        records = [tenant("t-1"), tenant("t-2")] + [{**request_event(n, f"t-{1 + n % 2}"), "ts": at} for n in range(40)]
        # And a minute ago (within the 5-minute windows), 4 requests of t-1 and 2 of t-2.
        just_now = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        records += [{**request_event(40 + n, "t-1" if n < 4 else "t-2"), "ts": just_now} for n in range(6)]
        posted = httpx.post(
            f"{server.url}/v1/events",
            content=jsonl(records),
            headers={**NDJSON, **deployed.headers("operator")},
            timeout=ANSWER_SECONDS,
        )
        assert posted.status_code == 200, posted.text
        yield deployed
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0 and "Traceback" not in stderr, stderr


def read_events(lines: Iterator[str], count: int) -> list[Event]:
    """The next `count` events of an open stream (comments and the retry line skipped)."""
    events: list[Event] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                events.append(Event(fields["id"], fields["event"], orjson.loads(fields["data"])))
                if len(events) == count:
                    return events
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    raise AssertionError(f"the stream ended after {len(events)} events")


def open_stream(live: Streaming, caller: str = "viewer", project: str = "_all", **headers: str) -> Any:
    return httpx.stream(
        "GET", f"{live.server.url}{STREAM.format(project)}", headers={**live.headers(caller), **headers}, timeout=30
    )


def test_each_evaluation_arrives_as_an_event_whose_data_is_v1_health(live: Streaming) -> None:
    with open_stream(live) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response.iter_lines(), 3)
    assert [e.name for e in events] == ["health"] * 3
    ids = [datetime.fromisoformat(e.id) for e in events]
    assert ids == sorted(set(ids))  # one event per evaluation, in order
    # The first may be the evaluation kept from before the fixture's data arrived: compare those after it.
    for event in events[1:]:
        assert event.data["at"] == event.id
        same_instant = httpx.get(
            f"{live.server.url}/v1/health", params={"at": event.id}, headers=live.headers("viewer"), timeout=30
        )
        assert event.data == same_instant.json()


def test_the_dashboard_serves_the_latest_scheduled_evaluation(live: Streaming) -> None:
    with open_stream(live) as response:
        read_events(response.iter_lines(), 2)
    viewer = live.headers("viewer")
    dashboard = httpx.get(f"{live.server.url}{STREAM.format('_all')[:-6]}dashboard", headers=viewer, timeout=30)
    kept = httpx.get(f"{live.server.url}/v1/history", params={"since": "1h"}, headers=viewer, timeout=30).json()
    # With an evaluation every second and a 5 s cache, every dashboard answer is a kept evaluation.
    assert dashboard.json()["at"] in {point["at"] for point in kept["overall"]}


@pytest.mark.parametrize("project", ["_all", "t-1"])
def test_a_client_reconnecting_with_last_event_id_gets_what_it_missed(live: Streaming, project: str) -> None:
    # A tenant is evaluated for its stream while someone streams it: another client does meanwhile,
    # and what it receives while the first is away is what the first must get on reconnecting.
    with open_stream(live, project=project) as keeper, open_stream(live, project=project) as response:
        [first] = read_events(response.iter_lines(), 1)
        response.close()
        kept_lines = keeper.iter_lines()
        meanwhile: list[Event] = []
        while len(meanwhile) < 2:  # however long two evaluations take on a loaded machine
            meanwhile += [e for e in read_events(kept_lines, 1) if e.id > first.id]
        with open_stream(live, project=project, **{"Last-Event-ID": first.id}) as again:
            missed = read_events(again.iter_lines(), 2)
    assert [e.name for e in missed] == ["health", "health"]
    assert [e.id for e in missed] == [e.id for e in meanwhile]  # replayed, oldest first, none skipped


@pytest.mark.parametrize("project", ["_all", "t-1"])
def test_an_id_older_than_the_kept_events_gets_a_gap_event_first(live: Streaming, project: str) -> None:
    long_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    with open_stream(live, project=project, **{"Last-Event-ID": long_ago}) as response:
        gap, after = read_events(response.iter_lines(), 2)
    assert gap.name == "gap" and gap.data["since"] == long_ago
    assert after.name == "health" and after.id > gap.data["until"]
    assert after.data.get("tenant") == (None if project == "_all" else project)


def test_a_last_event_id_that_is_not_an_event_id_is_refused(live: Streaming) -> None:
    with open_stream(live, **{"Last-Event-ID": "yesterday-ish"}) as response:
        response.read()
    assert response.status_code == 400
    assert "Last-Event-ID 'yesterday-ish'" in response.json()["error"]


@pytest.mark.parametrize(
    ("caller", "project", "status"),
    [
        ("none", "_all", 401),
        ("forged", "_all", 401),
        ("viewer@t-1", "_all", 404),
        ("viewer@t-1", "t-2", 404),
        ("viewer", "t-404", 404),
        ("viewer@t-1", "t-404", 404),
    ],
)
def test_refusals_are_status_codes_before_any_event(live: Streaming, caller: str, project: str, status: int) -> None:
    tokens = {**live.tokens, "forged": live.tokens["viewer"][:-4] + "AAAA"}
    headers = {"Authorization": f"Bearer {tokens[caller]}"} if caller in tokens else {}
    with httpx.stream("GET", f"{live.server.url}{STREAM.format(project)}", headers=headers, timeout=30) as response:
        body = response.read()
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = orjson.loads(body)["error"]
    assert set(orjson.loads(body)) == {"error"}
    if status == 404:
        assert error == f"no project {project!r}"  # not even whether it exists


@pytest.mark.parametrize("caller", ["viewer", "viewer@t-1"])
@pytest.mark.parametrize("project", ["_all", "t-1", "t-2"])
def test_each_project_a_token_may_see_streams_and_the_others_answer_404(
    live: Streaming, caller: str, project: str
) -> None:
    scope = caller.partition("@")[2]
    allowed = not scope or scope == project  # a token limited to t-1 streams t-1 only, not even `_all`
    with open_stream(live, caller, project) as response:
        if not allowed:
            response.read()
            assert response.status_code == 404 and response.json() == {"error": f"no project {project!r}"}
            return
        assert response.status_code == 200
        [first] = read_events(response.iter_lines(), 1)
    assert first.data.get("tenant") == (None if project == "_all" else project)


def test_a_tenants_stream_carries_its_own_evaluations(live: Streaming) -> None:
    with open_stream(live, "viewer@t-1", "t-1") as response:
        events = read_events(response.iter_lines(), 3)
    assert [e.name for e in events] == ["health"] * 3
    ids = [datetime.fromisoformat(e.id) for e in events]
    assert ids == sorted(set(ids))
    for event in events[1:]:  # the first is the tenant's dashboard evaluation, maybe from before the data
        assert event.data["at"] == event.id and event.data["tenant"] == "t-1"
        as_asked = {"at": event.id, "project": "t-1"}
        same_instant = httpx.get(
            f"{live.server.url}/v1/health", params=as_asked, headers=live.headers("viewer@t-1"), timeout=30
        )
        assert event.data == same_instant.json()
        every_tenant = httpx.get(
            f"{live.server.url}/v1/health", params={"at": event.id}, headers=live.headers("viewer"), timeout=30
        ).json()
        # t-1's 4 requests of the last minutes, not both tenants' 6.
        assert 0 < _kpi_value(event.data, "request_rate") < _kpi_value(every_tenant, "request_rate")


def _kpi_value(health: dict[str, Any], kpi_id: str) -> float:
    [value] = [k["value"] for area in health["areas"].values() for k in area["kpis"] if k["id"] == kpi_id]
    return float(value)


@pytest.mark.parametrize("project", ["_all", "t-1"])
def test_a_client_that_stops_reading_holds_up_neither_evaluation_nor_others_nor_the_stop(
    tmp_path: Path, project: str
) -> None:
    db = tmp_path / "store.duckdb"
    tokens = make_tokens(db, (Role.viewer, None), (Role.operator, None))
    server = Server(db, "--evaluate-every", "0.5s").start()
    deployed = Streaming(server, dict(zip(["viewer", "operator"], tokens, strict=True)))
    stalled: socket.socket | None = None
    try:  # the server is stopped whatever fails (a failed post left it evaluating every 0.5 s for good)
        ingested = httpx.post(
            f"{server.url}/v1/events",
            content=jsonl([tenant("t-1")]),
            headers={**NDJSON, **deployed.headers("operator")},
            timeout=ANSWER_SECONDS,
        )
        assert ingested.status_code == 200, ingested.text
        stalled = _stalled_stream(deployed, project)
        with open_stream(deployed, project=project) as gone:
            assert gone.status_code == 200  # and closed before reading anything
        kept_before = _kept_evaluations(deployed)
        with open_stream(deployed, project=project) as reader:
            lines = reader.iter_lines()
            first, second = read_events(lines, 2)
            assert first.id < second.id
            assert _kept_evaluations(deployed) > kept_before
            started = time.monotonic()
            code, stderr = server.stop(signal.SIGTERM)
            # Open streams, even one that does not read, do not hold the stop for its 30 s grace period.
            assert code == 0 and "Traceback" not in stderr, stderr
            assert time.monotonic() - started < 10
            list(lines)  # the reader's stream ends cleanly: the rest neither hangs nor fails
    finally:
        if stalled is not None:
            stalled.close()
        if server.process and server.process.poll() is None:
            server.stop(signal.SIGKILL)


def _stalled_stream(live: Streaming, project: str) -> socket.socket:
    """A raw connection that asks for the stream, then never reads, with a tiny receive buffer."""
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.connect((HOST, live.server.port))
    token = live.tokens["viewer"]
    conn.sendall(
        f"GET {STREAM.format(project)} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    return conn


def _kept_evaluations(live: Streaming) -> int:
    history = httpx.get(
        f"{live.server.url}/v1/history", params={"since": "1h"}, headers=live.headers("viewer"), timeout=30
    )
    return len(history.json()["overall"])


# The publisher itself, in process: what it queues, drops and replays, and its heartbeat.


def _event(seconds: int) -> LiveEvent:
    return LiveEvent(at=datetime(2026, 11, 26, 9, 0, seconds, tzinfo=UTC), name="health", data=b"{}")


def test_publishing_never_waits_for_a_full_subscriber_it_drops_it() -> None:
    async def scenario() -> tuple[Subscription, Subscription]:
        live = Live()
        slow, fast = live.subscribe(last_seen=None), live.subscribe(last_seen=None)
        for n in range(SUBSCRIBER_QUEUE + 1):
            live.publish(_event(n))
            await fast.queue.get()  # the fast one keeps up
        return slow, fast

    slow, fast = asyncio.run(scenario())
    assert slow.dropped and slow.ended.is_set()
    assert not fast.dropped and not fast.ended.is_set()


def test_a_new_subscriber_starts_with_the_latest_event_and_a_returning_one_with_what_it_missed() -> None:
    async def scenario() -> tuple[list[LiveEvent | None], list[LiveEvent | None]]:
        live = Live()
        live.replayable_after = _event(0).at
        for n in (1, 2, 3):
            live.publish(_event(n))
        fresh, back = live.subscribe(last_seen=None), live.subscribe(last_seen=_event(1).at)
        return _drain(fresh), _drain(back)

    fresh, back = asyncio.run(scenario())
    assert fresh == [_event(3)]
    assert back == [_event(2), _event(3)]


def test_a_returning_subscriber_that_missed_more_than_its_queue_gets_a_gap_then_the_newest() -> None:
    async def scenario() -> list[LiveEvent | None]:
        live = Live()
        live.replayable_after = _event(0).at
        for n in range(1, SUBSCRIBER_QUEUE + 5):
            live.publish(_event(n))
        return _drain(live.subscribe(last_seen=_event(1).at))

    gap, *replayed = asyncio.run(scenario())
    assert replayed == [_event(n) for n in range(6, SUBSCRIBER_QUEUE + 5)]  # the newest, filling the queue
    assert gap is not None and gap.name == "gap"  # and a gap for the ones before them
    assert orjson.loads(gap.data) == {"since": _event(1).at.isoformat(), "until": _event(5).at.isoformat()}


def _drain(sub: Subscription) -> list[LiveEvent | None]:
    return [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]


def test_a_quiet_stream_yields_a_heartbeat_and_a_closed_one_ends() -> None:
    async def scenario() -> list[LiveEvent | None]:
        live = Live()
        sub = Subscription(heartbeat=0.05)
        live.subscribers.add(sub)
        seen: list[LiveEvent | None] = []
        async for item in sub.events():
            seen.append(item)
            if item is None:
                live.close()
        return seen

    assert asyncio.run(scenario()) == [None]


# Tenants' rounds, in process over a real store: which tenants each round evaluates, and the shared cache.


@pytest.fixture
def three_tenants(tmp_path: Path) -> Iterator[StoreOwner]:
    records = tmp_path / "tenants.jsonl"
    records.write_bytes(jsonl([tenant(f"t-{n}") for n in (1, 2, 3)]))
    ingested = run_cli("ingest", str(records), "--db", str(tmp_path / "store.duckdb"))
    assert ingested.returncode == 0, ingested.stderr
    owner = StoreOwner(open_store(tmp_path / "store.duckdb"), load_checked_catalog())
    try:
        yield owner
    finally:
        owner.close()


def test_streamed_tenants_take_turns_and_share_the_dashboards_evaluations(three_tenants: StoreOwner) -> None:
    dashboards = TenantDashboards(three_tenants)
    at_start = datetime.now(UTC)
    cached_before = dashboards.get("t-2")  # a dashboard request just now: the first round reuses it

    async def scenario() -> tuple[dict[str, list[LiveEvent]], dict[str, list[LiveEvent]]]:
        projects = LiveProjects()
        unwatched = projects.channel("t-9")  # a channel nobody subscribes to is not evaluated
        subs = {t: projects.channel(t).subscribe(last_seen=None) for t in ("t-1", "t-2", "t-3")}
        rounds = TenantRounds(projects, dashboards, per_round=2)
        task = asyncio.create_task(rounds.run())
        rounds.evaluated(at_start)
        first = await _received(subs, count=2)
        rounds.evaluated(datetime.now(UTC))
        second = await _received(subs, count=2)
        rounds.stop()
        await task
        assert not unwatched.recent
        return first, second

    first, second = asyncio.run(scenario())
    # Two a round, the least recently evaluated first: t-1 and t-2, then t-3 and t-1 again.
    assert {t: len(events) for t, events in first.items()} == {"t-1": 1, "t-2": 1, "t-3": 0}
    assert {t: len(events) for t, events in second.items()} == {"t-1": 1, "t-2": 0, "t-3": 1}
    assert first["t-2"][0].at == cached_before.at  # not evaluated again
    for tenant_id, [event] in (("t-1", second["t-1"]), ("t-3", second["t-3"])):
        kept = dashboards.get(tenant_id)  # and a dashboard request now reuses the round's evaluation
        assert kept.at == event.at and kept.tenant == tenant_id


async def _received(subs: dict[str, Subscription], *, count: int) -> dict[str, list[LiveEvent]]:
    """The events received by `count` of the subscriptions, waiting up to 60 s for them."""
    got: dict[str, list[LiveEvent]] = {tenant_id: [] for tenant_id in subs}
    deadline = time.monotonic() + 60
    while sum(map(len, got.values())) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        for tenant_id, sub in subs.items():
            while not sub.queue.empty():
                event = sub.queue.get_nowait()
                assert event is not None
                got[tenant_id].append(event)
    return got

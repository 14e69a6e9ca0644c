"""The live platform's hashes of recently stored ids (store/recent_ids.py): a batch they call new is
stored without reading the day's ids, and whatever they hold, ingest stores and rejects exactly what
it does without them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthdeck.errors import HealthdeckError
from healthdeck.store.connection import Store, open_store
from healthdeck.store.ingest import IngestReport, ingest_files, ingest_table, warm_recent_ids
from healthdeck.store.recent_ids import _EPOCH, _HASHES, SPAN, SPANS_BACK, BatchIds, RecentIds, span_of
from healthdeck.store.schema import KINDS
from healthdeck.store.transaction import transaction

from .conftest import write_jsonl
from .test_rollups import StatementLog

NOW = datetime.now(UTC).replace(microsecond=0)
REQUESTS = KINDS["requests"]
LOOKUP = "CREATE OR REPLACE TEMP TABLE _known"  # ingest's look through the stored ids near a batch
RUNS = itertools.count()


def request(event_id: str, at: timedelta, status: int | str = 200) -> dict[str, Any]:
    return {
        "kind": "requests",
        "event_id": event_id,
        "ts": (NOW + at).isoformat(),
        "tenant_id": "t1",
        "endpoint": "/v1/items",
        "method": "GET",
        "status": status,
        "latency_ms": 12.5,
    }


def ingest(store: Store, records: list[dict[str, Any]], folder: Path) -> tuple[IngestReport, list[tuple[int, str]]]:
    """Ingest `records` as one body of the server would be; the report and each reject's line and reason."""
    run = next(RUNS)
    body, rejects = write_jsonl(folder / f"body-{run}.jsonl", records), folder / f"rejects-{run}.jsonl"
    report = ingest_files(store, [str(body)], rejects_path=rejects)
    reasons = [orjson.loads(line) for line in rejects.read_bytes().splitlines()] if rejects.exists() else []
    return report, [(reason["line"], reason["error"]) for reason in reasons]


def batch_of(store: Store, event_id: str, at: datetime) -> None:
    """A batch of one valid event staged as ingest stages it (`_checked`), for the hashes to read."""
    store.con.execute(
        "CREATE OR REPLACE TEMP TABLE _checked AS SELECT ? AS event_id, ? AS ts, NULL AS _errors, 1 AS _line",
        [event_id, at],
    )


def stored(store: Store, table: str = "requests") -> list[tuple[Any, ...]]:
    return store.con.execute(f"SELECT * EXCLUDE (_ingested_at) FROM {table} ORDER BY ALL").fetchall()


def test_new_events_skip_the_lookup_and_events_stored_before_are_still_found(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with open_store(db, create=True) as store:  # stored before the server started: over the past 19 hours
        earlier = [request(f"old{i}", timedelta(hours=-19 + i)) for i in range(20)]
        assert ingest(store, earlier, tmp_path)[0].accepted == 20
    with open_store(db) as store:
        store.recent_ids = RecentIds()
        spy = StatementLog(store.con)
        store.con = spy
        live = [request(f"new{i}", timedelta(seconds=-i)) for i in range(50)]
        report, _ = ingest(store, live, tmp_path)
        assert (report.accepted, report.duplicates) == (50, 0)
        assert not [sql for sql in spy.statements if sql.startswith(LOOKUP)]
        assert store.recent_ids.hashes == 70  # the past day read once from the store, and the batch added

        # Re-sent: five of this batch and one stored an hour ago, before the server started.
        again = [*live[:5], earlier[18], request("new-2", timedelta(minutes=1))]
        report, rejects = ingest(store, again, tmp_path)
        assert (report.accepted, report.duplicates, rejects) == (1, 6, [])
        assert len([sql for sql in spy.statements if sql.startswith(LOOKUP)]) == 1

        changed = request("old19", timedelta(minutes=-30), status=503)  # stored at NOW with status 200
        report, rejects = ingest(store, [changed], tmp_path)
        assert report.accepted == 0
        assert rejects == [(1, rejects[0][1])] and "conflicts with the stored record" in rejects[0][1]
        assert "different ts, status" in rejects[0][1]
        assert store.count("requests") == 71


def test_warming_reads_the_ids_a_batch_from_now_needs_before_any_batch(tmp_path: Path) -> None:
    """`serve`'s writer warms the hashes first (api/owner.py): the spans a batch of events from now
    reaches are read then, and the first batches read nothing more from the store."""
    db = tmp_path / "store.duckdb"
    with open_store(db, create=True) as store:
        earlier = [request(f"old{i}", timedelta(hours=-19 + i)) for i in range(20)]
        long_ago = [request(f"older{i}", timedelta(hours=-40 - i)) for i in range(3)]  # before the window
        assert ingest(store, earlier + long_ago, tmp_path)[0].accepted == 23
    with open_store(db) as store:
        store.recent_ids = RecentIds()
        warm_recent_ids(store)
        assert store.recent_ids.hashes == 20
        spy = StatementLog(store.con)
        store.con = spy
        live = [request(f"new{i}", timedelta(seconds=-i)) for i in range(50)]
        assert ingest(store, live, tmp_path)[0].accepted == 50
        report, rejects = ingest(store, [earlier[18], request("new-a", timedelta(minutes=-5))], tmp_path)
        assert (report.accepted, report.duplicates, rejects) == (1, 1, [])
        read_stored = [sql for sql in spy.statements if "hash(event_id)" in sql and "_checked" not in sql]
        assert read_stored == []
        assert store.recent_ids.answers == {"new": 1, "maybe": 1, "not_kept": 0}


def test_warming_reaches_one_span_back_for_events_a_little_late(tmp_path: Path) -> None:
    """Ten minutes past a span's start a day ago, the window of an event sent fifteen minutes late begins
    in the span before: warming reads it too, and the batch reads nothing more from the store."""
    boundary = _EPOCH + SPAN * span_of(datetime.now(UTC) - timedelta(days=1, minutes=10))
    now = boundary + timedelta(days=1, minutes=10)
    moments = {
        "edge": boundary - timedelta(minutes=3),
        "first": boundary + timedelta(minutes=1),
        "late": now - timedelta(minutes=40),
        "now": now,
    }
    db = tmp_path / "store.duckdb"
    with open_store(db, create=True) as store:
        stored = [{**request(name, timedelta(0)), "ts": at.isoformat()} for name, at in moments.items()]
        assert ingest(store, stored, tmp_path)[0].accepted == 4
    with open_store(db) as store:
        store.recent_ids = RecentIds(clock=lambda: now)
        warm_recent_ids(store)
        assert store.recent_ids.hashes == 4  # "edge" is in the span before the one a day back
        spy = StatementLog(store.con)
        store.con = spy
        late = {**request("sent-late", timedelta(0)), "ts": (now - timedelta(minutes=15)).isoformat()}
        assert ingest(store, [late], tmp_path)[0].accepted == 1
        assert [sql for sql in spy.statements if "hash(event_id)" in sql and "_checked" not in sql] == []
        assert store.recent_ids.answers["new"] == 1


@pytest.mark.parametrize(
    ("stored_at", "warmed"),
    [
        (timedelta(hours=-5, minutes=-59), 1),  # sent within six hours: being sent live
        (timedelta(hours=-6, minutes=-1), 0),  # not since: left to the first batch that asks
        (timedelta(hours=23), 1),  # only ahead of now, a day's reach: its span is read too
    ],
)
def test_warming_reads_kinds_sent_in_the_past_six_hours_to_a_day_ahead(
    tmp_path: Path, stored_at: timedelta, warmed: int
) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    db = tmp_path / "store.duckdb"
    with open_store(db, create=True) as store:
        record = {**request("only", timedelta(0)), "ts": (now + stored_at).isoformat()}
        assert ingest(store, [record], tmp_path)[0].accepted == 1
    with open_store(db) as store:
        store.recent_ids = RecentIds(clock=lambda: now)
        warm_recent_ids(store)
        assert store.recent_ids.hashes == warmed


def test_warming_leaves_out_kinds_not_sent_lately(tmp_path: Path) -> None:
    """A kind with nothing stored in the past six hours is not being sent live: its hashes are read
    only if a batch asks for them."""
    db = tmp_path / "store.duckdb"
    with open_store(db, create=True) as store:
        assert ingest(store, [request(f"old{i}", timedelta(hours=-20 + i)) for i in range(10)], tmp_path)[0].accepted
    with open_store(db) as store:
        store.recent_ids = RecentIds()
        warm_recent_ids(store)
        assert store.recent_ids.hashes == 0
        assert ingest(store, [request("now", timedelta(0))], tmp_path)[0].accepted == 1
        assert store.recent_ids.hashes == 11  # read when the batch needed them, and the batch's added


def test_hashes_of_a_batch_rolled_back_cost_a_lookup_never_a_record(tmp_path: Path) -> None:
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        store.recent_ids = RecentIds()
        assert ingest(store, [request("first", timedelta(0))], tmp_path)[0].accepted == 1
        before = store.recent_ids.hashes
        with pytest.raises(RuntimeError), transaction(store.con):  # a batch that failed after adding its ids
            batch_of(store, "lost", NOW)
            store.recent_ids.add(BatchIds(store.con, REQUESTS), NOW - timedelta(days=1))
            raise RuntimeError("the batch fails before its commit")
        assert store.recent_ids.hashes == before + 1
        report, rejects = ingest(store, [request("lost", timedelta(0))], tmp_path)
        assert (report.accepted, report.duplicates, rejects) == (1, 0, [])
        assert store.con.execute("SELECT count(*) FROM requests WHERE event_id = 'lost'").fetchone() == (1,)


def test_hours_pass_out_of_memory_and_windows_outside_them_are_read_from_the_store(tmp_path: Path) -> None:
    clock = [NOW]
    recent = RecentIds(clock=lambda: clock[0])
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        store.recent_ids = recent
        ingest(store, [request(f"a{i}", timedelta(minutes=-i)) for i in range(10)], tmp_path)
        assert recent.hashes == 10
        late = request("late", timedelta(hours=-40))  # its window starts 64 hours back: not kept
        earliest, latest = NOW + timedelta(hours=-64), NOW + timedelta(hours=-16)
        assert span_of(earliest) < span_of(NOW) - SPANS_BACK
        assert recent.may_hold(BatchIds(store.con, REQUESTS), earliest, latest) is None
        assert ingest(store, [late, request("a3", timedelta(minutes=-3))], tmp_path)[0].duplicates == 1

        clock[0] = NOW + timedelta(days=3)  # three days on, this morning's spans are forgotten
        batch_of(store, "a3", clock[0])
        window = (clock[0] - timedelta(days=1), clock[0] + timedelta(days=1))
        assert recent.may_hold(BatchIds(store.con, REQUESTS), *window) is False
        assert recent.hashes == 0


def test_an_id_stored_in_the_first_span_of_a_window_is_found(tmp_path: Path) -> None:
    """A span's hashes must be exactly that span's: the window of a batch re-sending an event 23 h 59 min
    later begins at the first microsecond of the span the event was stored in."""
    start = datetime(1970, 1, 1, tzinfo=UTC) + SPAN * span_of(NOW - timedelta(hours=23))
    stored_at = start + timedelta(minutes=1)
    db = tmp_path / "store.duckdb"
    with open_store(db, create=True) as store:  # stored before the server started
        assert ingest(store, [request("x", stored_at - NOW)], tmp_path)[0].accepted == 1
    with open_store(db) as store:
        store.recent_ids = RecentIds()
        resent = request("x", stored_at + timedelta(hours=23, minutes=59) - NOW)
        report, rejects = ingest(store, [resent], tmp_path)
        assert report.accepted == 0 and "conflicts with the stored record" in rejects[0][1]
        assert store.recent_ids.hashes == 2  # "x" in the span it was stored in, and in its re-send's


def test_a_read_only_view_of_the_store_refuses_ingest(tmp_path: Path) -> None:
    """The server's readers see the store through read-only views; only its writer stores, and keeps the hashes."""
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        view = Store(path=store.path, con=store.con.cursor(), read_only=True)
        table = pa.table({"event_id": ["a"], "ts": [NOW], "tenant_id": ["t1"], "endpoint": ["/"], "method": ["GET"]})
        with pytest.raises(HealthdeckError, match="read-only"):
            ingest_table(view, REQUESTS, table, source="test", sink=None, report=IngestReport())
        report, rejects = ingest(view, [request("a", timedelta(0))], tmp_path)  # a file: rejected whole, with why
        assert report.accepted == 0 and "open read-only" in rejects[0][1]
        assert store.count("requests") == 0


def test_the_store_and_python_put_a_time_in_the_same_span(tmp_path: Path) -> None:
    """The spans read from the store and those of a batch's window must agree to the microsecond."""
    edge = datetime(2026, 11, 27, 6, tzinfo=UTC)  # a span's first microsecond
    times = [edge, edge - timedelta(microseconds=1), edge + timedelta(microseconds=1), edge + SPAN / 2]
    times += [datetime(1969, 12, 31, 18, tzinfo=UTC), datetime(1969, 12, 31, 17, 59, 59, 999999, tzinfo=UTC)]
    times += [datetime(2262, 4, 11, 17, 59, 59, 999999, tzinfo=UTC)]
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        store.con.execute("CREATE TEMP TABLE _times (event_id VARCHAR, ts TIMESTAMPTZ)")
        store.con.executemany("INSERT INTO _times VALUES (?, ?)", [[str(n), at] for n, at in enumerate(times)])
        spans = store.con.execute(_HASHES.format(time="ts", rows="_times ORDER BY event_id::INT")).fetchall()
    assert [span for _, span in spans] == [span_of(at) for at in times]
    assert span_of(edge) - span_of(edge - timedelta(microseconds=1)) == 1
    assert span_of(datetime(1969, 12, 31, 17, 59, 59, 999999, tzinfo=UTC)) == -2


def test_more_ids_than_kept_are_looked_up_in_the_store_until_the_hour_ends(tmp_path: Path) -> None:
    clock = [NOW]
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        ingest(store, [request(f"a{i}", timedelta(minutes=-i)) for i in range(10)], tmp_path)
        store.recent_ids = RecentIds(clock=lambda: clock[0], max_hashes=5)  # fewer than the 10 stored
        report, _ = ingest(store, [request("a1", timedelta(minutes=-1)), request("b", timedelta(0))], tmp_path)
        assert (report.accepted, report.duplicates, store.recent_ids.hashes) == (1, 1, 0)

        # Room for the 11 stored and one more, not for four more.
        store.recent_ids = RecentIds(clock=lambda: clock[0], max_hashes=14)
        assert ingest(store, [request("c", timedelta(0))], tmp_path)[0].accepted == 1
        assert store.recent_ids.hashes == 12
        new = [request(f"d{i}", timedelta(0)) for i in range(3)]
        assert ingest(store, [*new, request("a2", timedelta(minutes=-2))], tmp_path)[0].accepted == 3
        assert store.recent_ids.hashes == 0  # forgotten at the batch that overflowed
        batch_of(store, "e", NOW)
        window = (NOW - timedelta(days=1), NOW + timedelta(days=1))
        assert store.recent_ids.may_hold(BatchIds(store.con, REQUESTS), *window) is None  # resting: not read again
        clock[0] = NOW + timedelta(hours=1)
        assert store.recent_ids.may_hold(BatchIds(store.con, REQUESTS), *window) is None  # tried again: still too many
        assert store.recent_ids.hashes == 0


def test_over_the_cap_spans_older_than_the_window_are_forgotten_first(tmp_path: Path) -> None:
    now = datetime(2030, 1, 1, 3, tzinfo=UTC)  # 00:00 begins a span; spans run 00, 06, 12 and 18 h
    recent = RecentIds(clock=lambda: now, max_hashes=9)
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        store.con.execute(  # six events stored at 21:00 the day before yesterday, before the server started
            "INSERT INTO requests (event_id, ts, _ingested_at) SELECT 'old' || i, ?, now() FROM range(6) t(i)",
            [now - timedelta(hours=30)],
        )

        def batch(event_id: str, at: datetime) -> bool | None:
            """One event's batch through the hashes: the answer to it, then it added."""
            batch_of(store, event_id, at)
            ids = BatchIds(store.con, REQUESTS)
            answer = recent.may_hold(ids, at - timedelta(days=1), at + timedelta(days=1))
            recent.add(ids, at - timedelta(days=1))
            return answer

        assert batch("old0", now - timedelta(hours=28)) is True  # a day late: its window holds the six
        assert batch("late", now - timedelta(hours=28)) is False
        assert recent.hashes == 7  # the six, and "late": a re-sent id is held once
        assert [batch(f"new{i}", now) for i in range(3)] == [False] * 3  # 10 hashes: 21:00's span goes
        assert recent.hashes == 3
        assert batch("old1", now - timedelta(hours=28)) is True  # the six read again, beside the three
        assert recent.hashes == 9


# Where a generated record falls: more than a day back, where a batch's window is read from the
# store (-48 and -40 hours), within a day of now, where the hashes in memory answer, and a day and a
# microsecond apart, at the edge of the rule that two events with one id are one.
DAY, MICRO = timedelta(days=1), timedelta(microseconds=1)
OFFSETS = [timedelta(hours=h) for h in (-48, -40, -27, -20, -12, -1.5, -0.25, 0, 0.5, 1.5)]
OFFSETS += [-DAY - MICRO, -DAY, -DAY + MICRO, MICRO]
KINDS_MADE = ("requests", "samples", "tier_events")
records = st.lists(
    st.tuples(
        st.sampled_from(KINDS_MADE), st.integers(0, 7), st.sampled_from(OFFSETS), st.sampled_from([200, 503, "bad"])
    ),
    min_size=1,
    max_size=6,
)


def made(kind: str, n: int, at: timedelta, value: int | str) -> dict[str, Any]:
    """A record of `kind`: a request, a sample (no id: its content is its identity) or a tier event
    (its time is `timestamp`); `value` its content, or "bad" to be rejected."""
    if kind == "requests":
        return request(f"e{n}", at, value)
    if kind == "samples":
        return {"kind": "samples", "ts": (NOW + at).isoformat(), "metric": f"m{n}", "value": value}
    moment = (NOW + at).isoformat()
    reason = 7 if value == "bad" else str(value)  # a number where text is due: rejected
    fields = {"event_type": "tier_transition", "project_id": "p1", "tenant_id": "t1", "reason": reason}
    return {"kind": "tier_events", "event_id": f"t{n}", "timestamp": moment, **fields}


def assert_every_stored_id_is_held(store: Store, recent: RecentIds) -> None:
    """The invariant the hashes rest on: each span kept holds the hash of every id stored in it."""
    for name, spans in recent._spans.items():
        kind = KINDS[name]
        for span, held in spans.items():
            start = datetime(1970, 1, 1, tzinfo=UTC) + SPAN * span
            end = start + SPAN
            rows = f'{name} WHERE "{kind.time_field}" >= $start AND "{kind.time_field}" < $end'
            sql = _HASHES.format(time=f'"{kind.time_field}"', rows=rows)
            stored = store.con.execute(sql, {"start": start, "end": end}).fetchnumpy()["hash"]
            assert np.isin(np.asarray(stored, np.uint64), held).all(), (name, span)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=records, batches=st.lists(records, min_size=1, max_size=6))
def test_ingest_stores_and_rejects_the_same_with_recent_ids_as_without(
    tmp_path: Path, history: list[Any], batches: list[list[Any]]
) -> None:
    run = tmp_path / f"run-{next(RUNS)}"
    run.mkdir()
    with open_store(run / "kept.duckdb", create=True) as kept, open_store(run / "plain.duckdb", create=True) as plain:
        body = [made(*record) for record in history]
        assert ingest(kept, body, run)[0].as_json()["accepted"] == ingest(plain, body, run)[0].as_json()["accepted"]
        kept.recent_ids = RecentIds()
        for batch in batches:
            body = [made(*record) for record in batch]
            (with_ids, kept_rejects), (without, plain_rejects) = ingest(kept, body, run), ingest(plain, body, run)
            counts = ("accepted", "duplicates", "rejected", "by_kind")
            assert [with_ids.as_json()[c] for c in counts] == [without.as_json()[c] for c in counts]
            assert kept_rejects == plain_rejects
            assert_every_stored_id_is_held(kept, kept.recent_ids)
        for name in KINDS_MADE:
            assert stored(kept, name) == stored(plain, name)

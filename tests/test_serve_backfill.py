"""At start-up, `serve` keeps one evaluation per past day of a store that has none (api/backfill.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from healthdeck.api.backfill import missing_day_ends
from healthdeck.api.settings import ServeSettings
from healthdeck.store.connection import Store
from tests.conftest import clear_of_a_utc_boundary

from .console import Console, console

# The scheduler evaluates once at start, then not again while the test runs.
SETTINGS = ServeSettings(evaluate_every=timedelta(hours=1))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    clear_of_a_utc_boundary(timedelta(days=1))  # the tests recompute today's midnight from the clock
    with console(tmp_path_factory.mktemp("backfill"), settings=SETTINGS, days=10) as served:
        yield served


def _history_of_past_days(app: Console, days: int) -> list[dict[str, Any]]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        overall = app.ok("/v1/history", since="30d")["overall"]
        past = [p for p in overall if datetime.fromisoformat(p["at"]) <= today]
        if len(past) >= days:
            return past
        time.sleep(0.5)
    raise AssertionError(f"fewer than {days} past days kept in 120 s: {overall}")


def test_each_past_day_is_kept_as_the_score_at_its_end(app: Console) -> None:
    first = app.sql("SELECT min(ts) FROM requests")[0][0]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    ends = [today - timedelta(days=i) for i in range(30, -1, -1)]
    expected = [end for end in ends if end > first]
    assert len(expected) == 10  # ten days simulated up to now: today's data began ten midnights after the first
    past = _history_of_past_days(app, len(expected))
    assert [datetime.fromisoformat(p["at"]) for p in past] == expected
    for point in past:
        health = app.ok("/v1/health", at=point["at"])
        # the report rounds its score to 2 decimals, the history to 4
        assert (point["score"], point["status"]) == (pytest.approx(health["score"], abs=0.0051), health["status"])
        assert point["score"] is not None


def test_a_restart_finds_nothing_left_to_keep(app: Console) -> None:
    _history_of_past_days(app, 10)
    with app.store.con.cursor() as cursor:
        store = Store(path=app.store.path, con=cursor, read_only=True)
        assert missing_day_ends(store, now=datetime.now(UTC), retention=timedelta(days=30)) == []


NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def _day(day: int) -> datetime:
    return datetime(2026, 11, day, tzinfo=UTC)


def test_which_days_are_missing(store: Store) -> None:
    store.con.execute(
        "INSERT INTO spend (event_id, ts, category, amount, _ingested_at) VALUES ('e1', ?, 'ads', 1, now())",
        [_day(5) + timedelta(hours=9)],
    )
    row = "INSERT INTO health_history VALUES (?, 'overall', 'overall', NULL, NULL, 'GREEN', 90)"
    store.con.execute(row, [_day(17) + timedelta(hours=13)])  # kept during the 17th: the 17th is kept
    store.con.execute(row, [_day(19)])  # kept at the 18th's end (midnight): the 18th is kept, not the 19th
    every = missing_day_ends(store, now=NOW, retention=timedelta(days=30))
    # from the first event's day (the 5th ends on the 6th) to yesterday (the 19th ends today at midnight)
    assert every == [_day(d) for d in range(6, 21) if d not in (18, 19)]
    assert missing_day_ends(store, now=NOW, retention=timedelta(days=3)) == [_day(20)]

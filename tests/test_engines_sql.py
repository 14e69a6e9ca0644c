"""The engine's DuckDB SQL, run on PostgreSQL and ClickHouse: the same answers, parameters bound, UTC kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from healthdeck.engines.store import EngineStore, open_engine_store
from healthdeck.engines.url import parse_engine_url
from tests.engine_servers import new_engine_url

INSTANT = datetime(2026, 11, 19, 23, 59, 58, 123456, tzinfo=UTC)


@pytest.fixture(scope="module", params=["postgres", "clickhouse"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineStore]:
    url = new_engine_url(request.param, request, tmp_path_factory)
    with open_engine_store(parse_engine_url(url), create=True, read_only=False) as store:
        yield store


def one(store: EngineStore, sql: str, params: dict[str, object] | None = None) -> tuple[object, ...]:
    rows = store.con.execute(sql, params).fetchall()
    assert len(rows) == 1
    return tuple(rows[0])


def test_a_percent_sign_is_text_not_a_parameter(target: EngineStore) -> None:
    assert one(target, "SELECT 'a%b' AS x, 7 % 3 AS y") == ("a%b", 1)
    assert one(target, "SELECT 'a%b' AS x, $n AS n", {"n": 2}) == ("a%b", 2)


def test_a_null_parameter_is_null(target: EngineStore) -> None:
    assert one(target, "SELECT $tenant IS NULL, coalesce($tenant, 'all')", {"tenant": None}) == (True, "all")
    assert one(target, "SELECT $tenant IS NULL, coalesce($tenant, 'all')", {"tenant": "t1"}) == (False, "t1")


def test_instants_keep_their_microseconds_and_come_back_in_utc(target: EngineStore) -> None:
    elsewhere = INSTANT.astimezone(timezone(timedelta(hours=5, minutes=30)))
    (back, later) = one(target, "SELECT $at AS back, $at > $before AS later", {"at": elsewhere, "before": INSTANT})[:2]
    assert back == INSTANT and back.utcoffset() == timedelta(0)
    assert later is False or later == 0  # the same instant, written in another zone


def test_an_empty_aggregate_is_null_and_an_empty_count_zero(target: EngineStore) -> None:
    assert one(target, "SELECT max(ts), sum(latency_ms), count(*) FROM requests WHERE ts < $at", {"at": INSTANT}) == (
        None,
        None,
        0,
    )

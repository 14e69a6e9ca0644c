"""Coverage after raw events expire: what the per-minute rollups answer stays answered, the same.

A store of 125 days of hourly requests keeps its raw requests 90 days; every KPI is evaluated over
windows wholly and partly before the oldest raw request, before and after `store expire`. A KPI the
rollups answer must give the same value, previous value and window after expiry as before; one that
needs raw requests must say its window is no longer covered, and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from healthdeck.engine.evaluate import KpiResult
from healthdeck.engine.explain import describe_kpi
from healthdeck.engine.measures import rollup
from healthdeck.engine.scoring import Status
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store import rollups
from healthdeck.store.connection import open_store

from .conftest import ingested, run_cli

CATALOG = load_checked_catalog()
# The minute the test began: windows end on whole minutes, requests come 17 s past them.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
DAYS = 125
# Answered from the rollups: 5xx and 4xx rates, p95 latency, request rate.
ROLLED_UP = ("api_error_rate", "api_client_error_rate", "ops_p95_latency", "ops_requests_per_second")
RAW_ONLY = "api_response_size_p50"  # a quantile of response_bytes: the rollups keep only their sum
WHOLLY_BEFORE = NOW - timedelta(days=95)  # a 20-day window ending here lies before the raw cutoff (90 days)
PARTLY_BEFORE = NOW - timedelta(days=80)  # a 20-day window ending here straddles it
WINDOWS = [
    (WHOLLY_BEFORE, timedelta(days=20)),
    (PARTLY_BEFORE, timedelta(days=20)),
    (WHOLLY_BEFORE, timedelta(hours=5)),
]


def request(hours_ago: int) -> dict[str, Any]:
    """One request an hour: a 5xx every 7th, a 4xx every 11th but only in the last 95 days."""
    status = 503 if hours_ago % 7 == 0 else 404 if hours_ago % 11 == 0 and hours_ago < 95 * 24 else 200
    return {
        "kind": "requests",
        "event_id": f"r-{hours_ago}",
        "ts": (NOW - timedelta(hours=hours_ago, seconds=-17)).isoformat(),
        "tenant_id": f"t-{hours_ago % 3}",
        "endpoint": "/v1/infer",
        "method": "POST",
        "status": status,
        "latency_ms": 5.0 + (hours_ago * 37) % 480,
        "response_bytes": 100 + (hours_ago * 13) % 900,
    }


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("expired")
    yield ingested(folder, [request(h) for h in range(1, DAYS * 24)])


def evaluated(db: Path, kpi_ids: tuple[str, ...] | list[str]) -> dict[tuple[str, datetime, timedelta], KpiResult]:
    """Each KPI over each window of WINDOWS, read by the engine from the store at `db`."""
    kpis = [CATALOG.get(kpi_id) for kpi_id in kpi_ids]
    with open_store(db, read_only=True) as store:
        engine = Engine(store, CATALOG)
        return {
            (result.kpi.id, at, length): result
            for at, length in WINDOWS
            for result in engine.evaluate(kpis, at=at, window=length)
        }


def shown(result: KpiResult) -> tuple[Any, ...]:
    """What a report shows of a KPI: value, previous value, status, and the window it was measured over."""
    return result.value, result.previous, result.status, result.window.start, result.window.end


def first_raw_request(db: Path) -> datetime:
    with open_store(db, read_only=True) as store:
        first = store.con.execute("SELECT min(ts) FROM requests").fetchone()
    assert first is not None
    return first[0].astimezone(UTC)


@pytest.fixture(scope="module")
def before_and_after(store_path: Path) -> dict[str, Any]:
    """Every KPI of the test over every window, before and after expiring raw requests older than 90 days."""
    kpis = [*ROLLED_UP, RAW_ONLY]
    before = evaluated(store_path, kpis)
    assert run_cli("store", "retention", "--raw", "90d", "--rollups", "2y", "--db", str(store_path)).returncode == 0
    assert run_cli("store", "expire", "--db", str(store_path)).returncode == 0
    assert first_raw_request(store_path) > NOW - timedelta(days=91)  # expiry did happen
    return {"before": before, "after": evaluated(store_path, kpis)}


@pytest.mark.parametrize("kpi_id", ROLLED_UP)
def test_a_kpi_the_rollups_answer_has_the_same_value_after_raw_events_expire(
    before_and_after: dict[str, Any], kpi_id: str
) -> None:
    for at, length in WINDOWS:
        was, now = before_and_after["before"][kpi_id, at, length], before_and_after["after"][kpi_id, at, length]
        assert was.value is not None, (kpi_id, at, length)  # the windows hold data before expiry
        if kpi_id == "ops_p95_latency" and length < rollup.MIN_WINDOW:
            # Read exactly from raw requests before expiry, from the latency sketch after: within its 1 %.
            assert now.value == pytest.approx(was.value, rel=rollups.ALPHA) and now.value != was.value
            assert now.previous == pytest.approx(was.previous, rel=rollups.ALPHA)
            assert shown(now)[2:] == shown(was)[2:], (kpi_id, at, length)
        else:
            assert shown(now) == shown(was), (kpi_id, at, length)


def test_a_window_with_no_error_before_the_raw_cutoff_is_a_real_zero_not_no_data(
    before_and_after: dict[str, Any],
) -> None:
    # No 4xx before 95 days ago: the rollups still show requests there, so 0 % is known, not unknown.
    key = ("api_client_error_rate", WHOLLY_BEFORE, timedelta(days=20))
    assert before_and_after["before"][key].value == 0.0
    assert before_and_after["after"][key].value == 0.0


def test_a_kpi_that_needs_raw_requests_has_no_data_where_they_expired_and_says_so(
    before_and_after: dict[str, Any], store_path: Path
) -> None:
    wholly = before_and_after["after"][RAW_ONLY, WHOLLY_BEFORE, timedelta(days=20)]
    assert before_and_after["before"][RAW_ONLY, WHOLLY_BEFORE, timedelta(days=20)].value is not None
    first = first_raw_request(store_path)
    assert wholly.status is Status.NO_DATA
    assert f"raw requests before {first:%Y-%m-%d %H:%M} UTC were expired" in describe_kpi(wholly)
    partly = before_and_after["after"][RAW_ONLY, PARTLY_BEFORE, timedelta(days=20)]
    assert partly.value is not None and partly.window.start == first  # measured from the first raw request on
    assert f"raw requests before {first:%Y-%m-%d %H:%M} UTC were expired" in describe_kpi(partly)


def test_the_explanation_says_where_a_value_comes_from_the_rollups(store_path: Path, before_and_after: Any) -> None:
    at = f"{WHOLLY_BEFORE:%Y-%m-%dT%H:%M:%SZ}"
    result = run_cli("metrics", "get", "--name", "api_error_rate", "--at", at, "--window", "20d", "-o", "json",
                     "--db", str(store_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    kpi = orjson.loads(result.stdout)
    first = first_raw_request(store_path)
    assert f"raw requests before {first:%Y-%m-%d %H:%M} UTC were expired" in kpi["explanation"]
    assert "per-minute rollups" in kpi["explanation"]
    # The feed did report then: the rollups know the minute of the newest request, and it is not stale.
    newest = before_and_after["before"]["api_error_rate", WHOLLY_BEFORE, timedelta(days=20)].freshness.newest_event
    assert kpi["newest_event"] == newest.replace(second=0).isoformat() and kpi["stale"] is False


def test_metrics_get_says_which_raw_requests_a_kpi_could_not_read(store_path: Path, before_and_after: Any) -> None:
    at = f"{WHOLLY_BEFORE:%Y-%m-%dT%H:%M:%SZ}"
    result = run_cli("metrics", "get", "--name", RAW_ONLY, "--at", at, "--window", "20d", "--db", str(store_path))
    assert result.returncode == 0, result.stderr
    first = first_raw_request(store_path)
    said = f"expired: raw requests before {first:%Y-%m-%d %H:%M} UTC were expired, and the rollups do not hold this KPI"
    assert said in result.stdout

"""Coverage after raw events expire: what the per-minute rollups answer stays answered, the same.

A store of 140 days of hourly requests keeps its raw requests 90 days; every KPI is evaluated over
windows wholly and partly before the oldest raw request, before and after `store expire`. A KPI the
rollups answer must give the same value, previous value and window after expiry as before; one that
needs raw requests must say its window is no longer covered, and why.
"""

from __future__ import annotations

import shutil
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
from .test_serve_server import tenant

CATALOG = load_checked_catalog()
# The minute the test began: windows end on whole minutes, requests come 17 s past them.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
DAYS = 140
# Answered from the rollups: 5xx and 4xx rates, p95 latency, request rate, 5xx count (occurrences), p95 change (delta).
ROLLED_UP = (
    "api_error_rate",
    "api_client_error_rate",
    "ops_p95_latency",
    "ops_requests_per_second",
    "ops_error_count_24h",
    "ops_p95_latency_change",
)
LATENCY = ("ops_p95_latency", "ops_p95_latency_change")
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
    tenants = [tenant(f"t-{n}", created_at=(NOW - timedelta(days=DAYS + 1)).isoformat()) for n in range(3)]
    yield ingested(folder, [*tenants, *(request(h) for h in range(1, DAYS * 24))])


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


# A window ending 30 s into a minute, before the raw cutoff; after expiry it is measured over its whole minutes.
MID_MINUTE = WHOLLY_BEFORE + timedelta(seconds=30)
WHOLE_MINUTES = (
    WHOLLY_BEFORE,
    timedelta(days=20, minutes=-1),
)  # [the next minute after its start, the minute of its end)


def over(db: Path, kpi_ids: tuple[str, ...], at: datetime, length: timedelta) -> dict[str, KpiResult]:
    with open_store(db, read_only=True) as store:
        return {
            r.kpi.id: r
            for r in Engine(store, CATALOG).evaluate([CATALOG.get(k) for k in kpi_ids], at=at, window=length)
        }


@pytest.fixture(scope="module")
def before_and_after(store_path: Path) -> dict[str, Any]:
    """Every KPI of the test over every window, before and after expiring raw requests older than 90 days."""
    kpis = [*ROLLED_UP, RAW_ONLY]
    before = evaluated(store_path, kpis)
    whole_minutes = over(store_path, ROLLED_UP, *WHOLE_MINUTES)
    shutil.copy(store_path, store_path.with_name("before_expiry.duckdb"))
    assert run_cli("store", "retention", "--raw", "90d", "--rollups", "2y", "--db", str(store_path)).returncode == 0
    assert run_cli("store", "expire", "--db", str(store_path)).returncode == 0
    assert first_raw_request(store_path) > NOW - timedelta(days=91)  # expiry did happen
    mid_minute = over(store_path, ROLLED_UP, MID_MINUTE, timedelta(days=20))
    after = evaluated(store_path, kpis)
    return {"before": before, "after": after, "whole_minutes": whole_minutes, "mid_minute": mid_minute}


def test_where_raw_requests_expired_a_window_is_measured_over_its_whole_minutes(
    before_and_after: dict[str, Any],
) -> None:
    # The rollups know minutes: the 30 s before the window's first whole minute and after its last
    # are left out (not guessed), and the window says so.
    for kpi_id in ROLLED_UP:
        cut, whole = before_and_after["mid_minute"][kpi_id], before_and_after["whole_minutes"][kpi_id]
        assert (cut.window.start, cut.window.end) == (whole.window.start, whole.window.end), kpi_id
        assert cut.window.clipped and cut.window.end == WHOLLY_BEFORE
        assert cut.value == whole.value and cut.value is not None, kpi_id


@pytest.mark.parametrize("kpi_id", ROLLED_UP)
def test_a_kpi_the_rollups_answer_has_the_same_value_after_raw_events_expire(
    before_and_after: dict[str, Any], kpi_id: str
) -> None:
    for at, length in WINDOWS:
        was, now = before_and_after["before"][kpi_id, at, length], before_and_after["after"][kpi_id, at, length]
        assert was.value is not None, (kpi_id, at, length)  # the windows hold data before expiry
        assert was.previous is not None or kpi_id == "ops_p95_latency_change"  # so do their baselines
        if kpi_id in LATENCY and length < rollup.MIN_WINDOW:
            # Read exactly from raw requests before expiry, from the latency sketch after: within its 1 %.
            # A change of p95 is off by at most 1 % of each p95 (latencies stay under 485 ms).
            tolerance = {"rel": rollups.ALPHA} if kpi_id == "ops_p95_latency" else {"abs": 2 * rollups.ALPHA * 485}
            assert now.value == pytest.approx(was.value, **tolerance) and now.value != was.value
            assert now.previous == pytest.approx(was.previous, **tolerance)
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


def test_a_tenants_usage_counts_expired_requests_from_the_rollups_and_says_so(
    store_path: Path, before_and_after: Any
) -> None:
    result = run_cli("customers", "usage", "--tenant-id", "t-0", "--period", "120 days", "-o", "json",
                     "--db", str(store_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    usage = orjson.loads(result.stdout)
    since, kept = datetime.fromisoformat(usage["since"]), datetime.fromisoformat(usage["raw_expired_before"])
    first = first_raw_request(store_path)
    assert kept == first.replace(second=0, microsecond=0) + timedelta(minutes=1)  # the first whole minute kept
    # Before expiry, the same requests: by whole minutes where they expired since, one by one after.
    by_minutes = "SELECT count(*), count(*) FILTER (WHERE status >= 500) FROM requests WHERE tenant_id = 't-0' AND "
    with open_store(store_path.with_name("before_expiry.duckdb"), read_only=True) as old:
        rolled = old.con.execute(by_minutes + "date_trunc('minute', ts) >= ? AND ts < ?", [since, kept]).fetchone()
        raw = old.con.execute(by_minutes + "ts >= ?", [kept]).fetchone()
    assert rolled is not None and raw is not None and rolled[0] > 0
    totals = usage["totals"]
    assert (totals["requests"], totals["errors"]) == (rolled[0] + raw[0], rolled[1] + raw[1])
    assert totals["p95_latency_ms"] is None  # the expired requests' latencies are not all known
    assert sum(point["requests"] for point in usage["points"]) == totals["requests"]
    assert all(p["p95_latency_ms"] is None for p in usage["points"] if datetime.fromisoformat(p["at"]) < kept)
    assert any(p["p95_latency_ms"] is not None for p in usage["points"])  # after it, from the raw requests
    text = run_cli("customers", "usage", "--tenant-id", "t-0", "--period", "120 days", "--db", str(store_path))
    assert f"raw requests before {kept:%Y-%m-%dT%H:%M} UTC were expired" in text.stdout

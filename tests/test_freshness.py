"""Fresh data: every report states the newest event and whether its KPIs' sources are stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from healthdeck.catalog.models import KpiSpec
from healthdeck.cli.engine_access import engine
from healthdeck.engine.freshness import allowance, source_tables
from healthdeck.engine.measures.base import parse_params
from healthdeck.engine.scoring import Status
from healthdeck.engine.session import load_checked_catalog
from healthdeck.store.connection import open_store
from healthdeck.store.schema import TENANTS

from .conftest import ingested, run_cli

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _requests(end: datetime, *, minutes: int = 60) -> list[dict[str, Any]]:
    """A request every 2 seconds for `minutes` minutes, the last one at `end`."""
    return [
        {
            "kind": "requests",
            "event_id": f"r{end:%Y%m%d%H%M%S}-{i}",
            "ts": (end - timedelta(seconds=2 * i)).isoformat(),
            "tenant_id": "t1",
            "endpoint": "/v1/infer",
            "method": "GET",
            "status": 200,
            "latency_ms": 80.0,
        }
        for i in range(minutes * 30)
    ]


def _samples(end: datetime, *, minutes: int = 60) -> list[dict[str, Any]]:
    return [
        {
            "kind": "samples",
            "ts": (end - timedelta(minutes=m)).isoformat(),
            "metric": "up",
            "labels": {"service": "api"},
            "value": 1.0,
        }
        for m in range(minutes)
    ]


def _store(folder: Path, records: list[dict[str, Any]]) -> Path:
    return ingested(folder, records)


def _run(db: Path, *args: str) -> str:
    result = run_cli(*args, "--db", str(db))
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def stale_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Requests and uptime samples that stop 20 minutes before AT."""
    stopped = AT - timedelta(minutes=20)
    return _store(tmp_path_factory.mktemp("stale"), _requests(stopped) + _samples(stopped))


def test_health_json_says_stale_and_names_the_newest_event(stale_db: Path) -> None:
    report = orjson.loads(_run(stale_db, "health", "--at", AT.isoformat(), "-o", "json"))
    assert report["stale"] is True
    assert datetime.fromisoformat(report["newest_event"]) == AT - timedelta(minutes=20)
    assert "2026-11-20 11:40:00 UTC (20 min before the evaluation time)" in report["freshness"]
    kpis = {k["id"]: k for k in report["areas"]["service"]["kpis"]}
    # A 5-minute window after the feed stopped holds nothing reported: no data (not a rate of zero), and stale.
    assert kpis["request_rate"]["stale"] is True and kpis["request_rate"]["status"] == "NO_DATA"
    assert (
        kpis["request_rate"]["score"] is None
        and "no fresh data: requests 20 min old" in (kpis["request_rate"]["explanation"])
    )
    assert kpis["api_latency_p95"]["status"] == "NO_DATA" and kpis["api_latency_p95"]["stale"] is True
    # The 24-hour uptime allows 2.4 hours of lag: 20 minutes is fresh, and it is the only score left.
    assert kpis["uptime"]["stale"] is False and kpis["uptime"]["status"] == "GOOD"
    assert report["areas"]["service"]["score"] == kpis["uptime"]["score"]


def test_health_table_and_markdown_mark_the_stale_kpis(stale_db: Path) -> None:
    # The morning pack's 1-hour error rate has a value from the 40 reported minutes, 20 minutes old: STALE.
    morning = ("--pack", "daily_ops_morning", "--at", AT.isoformat())
    table = _run(stale_db, "health", "--service", "--full", *morning)
    assert "on stale data" in table and "Stale data: newest event 2026-11-20 11:40:00 UTC" in table
    assert "~ STALE" in table
    markdown = _run(stale_db, "health", "--service", *morning, "-o", "markdown")
    assert markdown.splitlines()[0].endswith("(on stale data)")
    assert "Stale data: newest event 2026-11-20 11:40:00 UTC" in markdown and "| STALE |" in markdown


def test_status_and_metrics_get_say_stale(stale_db: Path) -> None:
    status = orjson.loads(_run(stale_db, "status", "--quick", "--at", AT.isoformat(), "-o", "json"))
    assert status["stale"] is True and status["newest_event"].startswith("2026-11-20T11:40:00")
    text = _run(stale_db, "status", "--quick", "--at", AT.isoformat())
    assert "not confirmed: 1 of 5 panels have fresh data" in text  # the 24-hour uptime
    assert "newest event 2026-11-20 11:40:00 UTC" in text
    assert "All systems operational" not in text
    kpi = orjson.loads(_run(stale_db, "metrics", "get", "--name", "request_rate", "--at", AT.isoformat(), "-o", "json"))
    assert kpi["stale"] is True and kpi["status"] == "NO_DATA" and kpi["newest_event"].startswith("2026-11-20T11:40:00")
    text = _run(stale_db, "metrics", "get", "--name", "request_rate", "--at", AT.isoformat())
    assert "Stale data: newest event 2026-11-20 11:40:00 UTC (20 min before the evaluation time)" in text


def test_a_store_fed_until_a_minute_ago_is_fresh(tmp_path: Path) -> None:
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    db = _store(tmp_path, _requests(recent) + _samples(recent))
    report = orjson.loads(_run(db, "health", "-o", "json"))  # at the default: now
    assert report["stale"] is False and datetime.fromisoformat(report["newest_event"]) == recent
    assert "every KPI shown has fresh data" in report["freshness"]
    rate = next(k for k in report["areas"]["service"]["kpis"] if k["id"] == "request_rate")
    assert rate["stale"] is False and rate["status"] != "STALE" and rate["score"] is not None
    assert orjson.loads(_run(db, "status", "-o", "json"))["stale"] is False


def test_an_empty_store_has_no_newest_event(tmp_path: Path) -> None:
    with open_store(tmp_path / "empty.duckdb", create=True) as store:
        db = store.path
    report = orjson.loads(_run(db, "health", "-o", "json"))
    assert report["newest_event"] is None and report["stale"] is False
    assert orjson.loads(_run(db, "status", "-o", "json"))["newest_event"] is None
    assert "No event at or before" in _run(db, "health")


@pytest.mark.parametrize(
    "command", [("health",), ("status", "--quick"), ("metrics", "get", "--name", "request_rate")], ids=" ".join
)
def test_an_evaluation_time_in_the_future_is_refused(stale_db: Path, command: tuple[str, ...]) -> None:
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    result = run_cli(*command, "--at", future, "--db", str(stale_db))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "--at" in result.stderr and "in the future" in result.stderr


def test_a_clock_a_few_seconds_ahead_is_tolerated(stale_db: Path) -> None:
    ahead = (datetime.now(UTC) + timedelta(seconds=20)).isoformat()
    assert orjson.loads(_run(stale_db, "health", "--at", ahead, "-o", "json"))["stale"] is True


def test_a_catalog_max_lag_overrides_the_allowance(stale_db: Path, tmp_path: Path) -> None:
    mine = tmp_path / "lag.yaml"
    mine.write_text("kpis:\n  - id: request_rate\n    max_lag: 30m\n")
    args = ("metrics", "get", "--name", "request_rate", "--at", AT.isoformat(), "-o", "json", "--catalog", str(mine))
    kpi = orjson.loads(_run(stale_db, *args))
    # Not stale within the lag allowed; still no data: nothing was reported in the last 5 minutes.
    assert kpi["stale"] is False and kpi["status"] == "NO_DATA" and kpi["value"] is None


def test_business_records_are_judged_by_the_store_s_newest_event(tmp_path: Path) -> None:
    """No signup for ten days is quiet, not stale, while requests keep arriving."""
    signup = {**TENANTS.example, "kind": "tenants", "created_at": (AT - timedelta(days=10)).isoformat()}
    db = _store(tmp_path, [*_requests(AT - timedelta(seconds=30)), signup])
    with engine(db, None) as hd:
        fresh = hd.kpi("new_signups_daily", at=AT)
        later = hd.kpi("new_signups_daily", at=AT + timedelta(days=1))
    assert fresh.value == 0.0 and fresh.status is not Status.STALE
    # A day after the last request nothing at all has arrived: no data, and stale says why.
    assert later.status is Status.NO_DATA and later.freshness is not None and later.freshness.stale


def test_the_default_allowance_is_five_minutes_or_a_tenth_of_the_window() -> None:
    kpi = KpiSpec(id="k", title="k", area="service", measure="aggregate", params={"table": "requests"})
    assert allowance(kpi, timedelta(minutes=5)) == timedelta(minutes=5)
    assert allowance(kpi, timedelta(hours=1)) == timedelta(minutes=6)
    assert allowance(kpi, timedelta(days=30)) == timedelta(days=3)
    assert allowance(kpi.model_copy(update={"max_lag": timedelta(hours=2)}), timedelta(minutes=5)) == timedelta(hours=2)


def test_every_shipped_kpi_has_a_source_table() -> None:
    catalog = load_checked_catalog()
    sources = {k.id: source_tables(k.measure, parse_params(k.measure, k.params)) for k in catalog.kpis.values()}
    assert not [kpi_id for kpi_id, tables in sources.items() if not tables]
    assert sources["api_calls_per_user"] == ("activity", "requests")  # a measure that names no table
    assert sources["ops_p95_latency_change"] == ("requests",)  # a measure of another measure
    assert sources["tier_free_conversion_rate"] == ("tenants", "tier_events")


def test_records_after_the_evaluation_time_are_not_the_newest(tmp_path: Path) -> None:
    moments = [AT - timedelta(days=2), AT - timedelta(minutes=20), AT + timedelta(hours=1)]
    db = _store(tmp_path, [r for moment in moments for r in _requests(moment, minutes=1)])
    with engine(db, None) as hd:
        assert hd.health(at=AT).newest_event == AT - timedelta(minutes=20)  # found in the last day
        assert hd.health(at=AT - timedelta(days=1)).newest_event == AT - timedelta(days=2)  # found further back
        assert hd.health(at=AT + timedelta(hours=2)).newest_event == AT + timedelta(hours=1)

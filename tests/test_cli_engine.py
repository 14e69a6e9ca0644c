"""The engine's commands end to end: real CLI, real store, hand-built data at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from .conftest import run_cli, write_jsonl

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a day of uptime samples and two hours of requests, p95 rising in the last hour."""
    folder = tmp_path_factory.mktemp("cli")
    records: list[dict[str, Any]] = [
        {
            "kind": "samples",
            "ts": (AT - timedelta(minutes=m)).isoformat(),
            "metric": "up",
            "labels": {"service": "api"},
            "value": 0.0 if m == 30 else 1.0,
        }
        for m in range(1, 1441)
    ]
    for i in range(7200):
        moment = AT - timedelta(seconds=i + 1)
        slow = i < 3600  # the last hour is slower
        records.append(
            {
                "kind": "requests",
                "event_id": f"r{i}",
                "ts": moment.isoformat(),
                "tenant_id": "t1",
                "endpoint": "/v1/infer",
                "method": "GET",
                "status": 500 if i % 500 == 0 else 200,
                "latency_ms": (150.0 if slow else 60.0) + i % 10,
            }
        )
    path = write_jsonl(folder / "data.jsonl", records)
    store = folder / "cli.duckdb"
    result = run_cli("ingest", str(path), "--db", str(store))
    assert result.returncode == 0, result.stderr
    return store


def cli(db: Path, *args: str) -> Any:
    result = run_cli(*args, "--db", str(db))
    assert result.returncode == 0, result.stderr
    return result


def test_health_json_shape(db: Path) -> None:
    report = orjson.loads(cli(db, "health", "--at", AT.isoformat(), "--output", "json").stdout)
    assert set(report) >= {"score", "status", "at", "areas", "explanation"}
    assert set(report["areas"]) == {"service", "customer", "business", "capacity"}
    service = report["areas"]["service"]
    assert set(service) == {"score", "weight", "status", "change", "kpis"} and service["weight"] == 0.35
    kpi = next(k for k in service["kpis"] if k["id"] == "uptime")
    assert {"id", "title", "value", "unit", "status", "score", "threshold"} <= set(kpi)
    assert kpi["value"] == pytest.approx(1439 / 1440 * 100, abs=1e-3)
    assert report["areas"]["business"]["score"] is None  # no revenue data: left out, not zero
    assert report["status"] in ("GREEN", "YELLOW", "RED")


def test_health_area_flag_and_markdown(db: Path) -> None:
    markdown = cli(db, "health", "--service", "--at", AT.isoformat(), "--output", "markdown").stdout
    assert markdown.startswith("# Health ")
    assert "| P95 latency |" in markdown and "## Why" in markdown
    assert "| customer |" not in markdown


def test_window_override_changes_the_measurement(db: Path) -> None:
    five = orjson.loads(
        cli(db, "metrics", "get", "--name", "api_latency_p50", "--at", AT.isoformat(), "-o", "json").stdout
    )
    two_hours = orjson.loads(
        cli(
            db, "metrics", "get", "--name", "api_latency_p50", "--at", AT.isoformat(), "--window", "2h", "-o", "json"
        ).stdout
    )
    assert five["value"] == pytest.approx(154.5, abs=0.6)  # last 5 minutes: 150–159 ms
    assert two_hours["value"] == pytest.approx(109.5, abs=45.1)  # half slow, half fast
    assert two_hours["value"] < five["value"]


def test_metrics_get_text(db: Path) -> None:
    text = cli(db, "metrics", "get", "--name", "api_latency_p95", "--at", AT.isoformat()).stdout
    assert "P95 latency" in text and "WARNING" in text
    assert "promql: histogram_quantile(0.95" in text


def test_metrics_compare_previous_hour_with_last_hour(db: Path) -> None:
    rows = orjson.loads(
        cli(
            db,
            "metrics",
            "compare",
            "--name",
            "api_latency_p50",
            "--period1",
            (AT - timedelta(hours=2)).isoformat(),
            "--period2",
            (AT - timedelta(hours=1)).isoformat(),
            "-o",
            "json",
        ).stdout
    )
    # period1 covers both hours, period2 only the slow one
    assert rows[0]["period2"] > rows[0]["period1"]


def test_metrics_export_formats(db: Path, tmp_path: Path) -> None:
    args = (
        "metrics",
        "export",
        "--name",
        "request_rate",
        "--start",
        (AT - timedelta(hours=3)).isoformat(),
        "--end",
        AT.isoformat(),
        "--step",
        "1h",
    )
    csv_text = cli(db, *args).stdout.splitlines()
    # --start itself, every step, and --end: AT − 3h, − 2h, − 1h and AT
    assert csv_text[0] == "at,kpi,value,unit,status" and len(csv_text) == 5
    rows = orjson.loads(cli(db, *args, "--format", "json").stdout)
    # 300 requests in the last 5 minutes, measured up to the newest one, 1 s before AT
    assert [r["value"] for r in rows][-1] == pytest.approx(300 / 299.000001)
    out = tmp_path / "x.parquet"
    cli(db, *args, "--format", "parquet", "--out", str(out))
    assert pq.read_table(out).num_rows == 4


def test_status_quick(db: Path) -> None:
    report = orjson.loads(cli(db, "status", "--quick", "--at", AT.isoformat(), "-o", "json").stdout)
    panels = {k["id"]: k for k in report["areas"]["service"]["kpis"]}
    assert set(panels) == {
        "morning_api_uptime_24h",
        "morning_error_rate_1h",
        "morning_p95_latency",
        "morning_active_pods",
        "morning_gpu_utilization",
    }
    assert panels["morning_error_rate_1h"]["value"] == pytest.approx(100 * 8 / 3600, rel=1e-3)
    text = cli(db, "status", "--quick", "--at", AT.isoformat()).stdout
    assert "P95 latency" in text and "Status" in text


def test_bad_time_phrase_is_a_clear_error(db: Path) -> None:
    result = run_cli("health", "--at", "the day before tomorrow", "--db", str(db))
    assert result.returncode == 2
    assert "cannot read --at 'the day before tomorrow'" in result.stderr
    assert "8 hours ago" not in result.stderr or "ago" in result.stderr


def test_watch_stops_after_count(db: Path) -> None:
    result = cli(db, "metrics", "watch", "--name", "uptime", "--count", "2", "--interval", "0.5")
    assert "Uptime" in result.stdout

"""`healthdeck history backfill` and `healthdeck health --history`, directly and through a server.

The data lies in the last three days (history is evaluated up to now); each kept score is
checked against `health --at` at the same instant.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import clear_of_a_utc_boundary, ingested, run_cli
from tests.test_serve_server import Server

STEP = timedelta(hours=12)
SPAN = timedelta(days=2)


def records(now: datetime) -> list[dict[str, Any]]:
    """Three days of uptime samples (down for an hour a day ago) and requests, slower since yesterday."""
    samples = [
        {
            "kind": "samples",
            "ts": (now - timedelta(minutes=m)).isoformat(),
            "metric": "up",
            "value": 0.0 if 1440 <= m < 1500 else 1.0,
        }
        for m in range(1, 3 * 1440, 5)
    ]
    requests = [
        {
            "kind": "requests",
            "event_id": f"r{i}",
            "ts": (now - timedelta(minutes=i + 1)).isoformat(),
            "tenant_id": "t1",
            "endpoint": "/v1/infer",
            "method": "GET",
            "status": 500 if i % 50 == 0 else 200,
            "latency_ms": (300.0 if i < 1440 else 60.0) + i % 10,
        }
        for i in range(3 * 1440)
    ]
    return samples + requests


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clear_of_a_utc_boundary(STEP)  # the tests recompute the 12 h instants from the clock
    return ingested(tmp_path_factory.mktemp("history"), records(datetime.now(UTC)))


@pytest.fixture(scope="module")
def backfilled(db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store, with two days of history filled in directly, every 12 h."""
    store = tmp_path_factory.mktemp("backfilled") / "store.duckdb"
    shutil.copy(db, store)
    assert orjson.loads(cli(store, "health", "--history", "2d", "-o", "json")) == []
    cli(store, "history", "backfill", "--since", "2d", "--step", "12h")
    return store


def expected_instants() -> list[str]:
    """Every multiple of 12 h (UTC midnight and noon) within the last 2 days."""
    now = datetime.now(UTC)
    latest = now.replace(hour=now.hour // 12 * 12, minute=0, second=0, microsecond=0)
    instants = [latest - k * STEP for k in range(5)]
    return sorted(i.isoformat() for i in instants if i >= now - SPAN)


def cli(db: Path, *args: str) -> str:
    result = run_cli(*args, "--db", str(db))
    assert result.returncode == 0, result.stderr
    return result.stdout


def kept_rows(db: Path) -> int:
    return int(orjson.loads(cli(db, "sql", "SELECT count(*) AS n FROM health_history", "-o", "json"))[0]["n"])


def test_backfill_keeps_the_engines_scores_once_and_health_history_shows_them(backfilled: Path) -> None:
    store = backfilled
    rows = kept_rows(store)
    again = run_cli("history", "backfill", "--since", "2d", "--step", "12h", "--db", str(store))
    assert "kept 0 evaluations" in again.stderr and kept_rows(store) == rows  # idempotent

    points = orjson.loads(cli(store, "health", "--history", "2d", "-o", "json"))
    assert [p["at"] for p in points] == expected_instants()
    for point in (points[0], points[-1]):
        report = orjson.loads(cli(store, "health", "--at", point["at"], "-o", "json"))
        assert (round(point["score"], 2), point["status"]) == (report["score"], report["status"])
        assert {a: round(v["score"], 2) for a, v in point["areas"].items() if v["score"] is not None} == {
            a: v["score"] for a, v in report["areas"].items() if v["score"] is not None
        }
    assert len({p["score"] for p in points}) > 1  # the curve moves: the check above is not of a constant

    text = cli(store, "health", "--history", "2d")
    assert "overall" in text and "service" in text
    spark = next(line for line in text.splitlines() if "overall" in line)
    assert sum(ch in "▁▂▃▄▅▆▇█" for ch in spark) == len(points)
    latest, day_before = points[-1], points[-3]  # 24 h before, at a 12 h step
    assert f"since yesterday: {latest['score'] - day_before['score']:+.1f}" in text


def test_backfill_and_history_through_a_server_match_the_direct_ones(
    db: Path, backfilled: Path, tmp_path: Path
) -> None:
    alone, served = backfilled, tmp_path / "served.duckdb"
    shutil.copy(db, served)
    server = Server(served).start()
    try:
        cli(served, "history", "backfill", "--since", "2d", "--step", "12h")
        through = [cli(served, "health", "--history", "2d", "-o", "json"), cli(served, "health", "--history", "2d")]
    finally:
        server.stop()
    assert orjson.loads(through[0]) == orjson.loads(cli(alone, "health", "--history", "2d", "-o", "json"))
    assert through[1] == cli(alone, "health", "--history", "2d")
    assert kept_rows(served) == kept_rows(alone)


def test_backfill_deletes_only_past_an_explicit_retention(backfilled: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    shutil.copy(backfilled, store)
    cli(store, "history", "backfill", "--since", "1d", "--step", "6h")  # no --retention: nothing goes
    kept = [p["at"] for p in orjson.loads(cli(store, "health", "--history", "2d", "-o", "json"))]
    assert set(expected_instants()) < set(kept)
    cli(store, "history", "backfill", "--since", "1d", "--step", "4h", "--retention", "1d")
    now = datetime.now(UTC)
    left = [
        datetime.fromisoformat(p["at"]) for p in orjson.loads(cli(store, "health", "--history", "2d", "-o", "json"))
    ]
    assert left and min(left) >= now - timedelta(days=1, minutes=5)

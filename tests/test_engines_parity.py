"""Parity: the same simulated SaaS on DuckDB, PostgreSQL and ClickHouse (chdb) gives the same health.

The same SaaS is simulated (deterministically) into a DuckDB store and, by `healthdeck simulate
--engine`, into a real PostgreSQL and into chdb: each batch validated in DuckDB, then stored
there. Every KPI's value, previous value, status and score, each area's score and the overall
score agree to a relative 1e-9 (engines sum floating-point numbers in different orders, and so
does DuckDB from run to run).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from healthdeck.engine.evaluate import KpiResult
from healthdeck.engine.health import HealthReport
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.engines.store import open_engine_store
from healthdeck.engines.url import parse_engine_url
from healthdeck.store.connection import open_store
from tests.conftest import run_cli
from tests.engine_servers import new_engine_url

END = "2026-11-20T00:00:00Z"
AT = datetime(2026, 11, 20, tzinfo=UTC)
TENANT = "t-0003"


SIMULATION = ("simulate", "--tenants", "8", "--days", "8", "--seed", "7", "--end", END, "-o", "json")


def simulate(*target: str) -> None:
    done = run_cli(*SIMULATION, *target)
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert report["rejected"] == report["duplicates"] == 0
    assert report["accepted"] > 100_000


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: a small simulated SaaS in a DuckDB store."""
    db = tmp_path_factory.mktemp("duck") / "store.duckdb"
    simulate("--db", str(db))
    return db


@pytest.fixture(params=["postgres", "clickhouse"])
def engine_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = new_engine_url(request.param, request, tmp_path_factory)
    simulate("--engine", url)  # the same records: the simulator is deterministic
    yield url


def health(target: Path | str, tenant: str | None = None) -> HealthReport:
    catalog = load_checked_catalog()
    if isinstance(target, Path):
        with open_store(target, read_only=True) as store:
            return Engine(store, catalog).health(at=AT, tenant=tenant)
    with open_engine_store(parse_engine_url(target)) as engine_store:
        return Engine(engine_store, catalog).health(at=AT, tenant=tenant)


def evaluate_all(target: Path | str) -> list[KpiResult]:
    """Every KPI of every shipped pack, scored or not."""
    catalog = load_checked_catalog()
    kpis = list(catalog.kpis.values())
    if isinstance(target, Path):
        with open_store(target, read_only=True) as store:
            return Engine(store, catalog).evaluate(kpis, at=AT)
    with open_engine_store(parse_engine_url(target)) as engine_store:
        return Engine(engine_store, catalog).evaluate(kpis, at=AT)


def figures(report: HealthReport) -> dict[Any, Any]:
    """Every number and status of a report, by what it belongs to."""
    found: dict[Any, Any] = {"score": report.score, "previous": report.previous_score}
    for name, area in report.areas.items():
        found[name] = (area.score, area.previous_score)
        for r in area.kpis:
            found[r.kpi.id] = (r.value, r.previous, r.status, r.score, r.previous_score)
    return found


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_same(want: dict[Any, Any], have: dict[Any, Any]) -> None:
    assert want.keys() == have.keys()
    differ = {key: (want[key], have[key]) for key in want if not same(want[key], have[key])}
    assert not differ, "\n".join(f"{key}: duckdb {a}, engine {b}" for key, (a, b) in differ.items())


def assert_parity(expected: HealthReport, got: HealthReport, *, scored_at_least: int) -> None:
    want = figures(expected)
    assert_same(want, figures(got))
    scored = [k for k, v in want.items() if isinstance(v, tuple) and len(v) == 5 and v[3] is not None]
    assert len(scored) >= scored_at_least  # the comparison covers the catalog, not KPIs with no data


# One test per engine, so that under xdist each worker builds one engine's store (not both).
def test_kpis_areas_and_score_match_duckdb_for_every_tenant_one_tenant_and_the_cli(duck: Path, engine_url: str) -> None:
    assert_parity(health(duck), health(engine_url), scored_at_least=25)
    assert_parity(health(duck, TENANT), health(engine_url, TENANT), scored_at_least=5)

    every_kpi = {r.kpi.id: (r.value, r.previous, r.status) for r in evaluate_all(duck)}
    assert_same(every_kpi, {r.kpi.id: (r.value, r.previous, r.status) for r in evaluate_all(engine_url)})

    args = ["health", "--at", END, "--full", "-o", "json"]
    expected = run_cli(*args, "--db", str(duck))
    got = run_cli(*args, "--engine", engine_url)
    assert got.returncode == expected.returncode == 0, got.stderr
    assert orjson.loads(got.stdout) == orjson.loads(expected.stdout)

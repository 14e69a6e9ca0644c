"""A report's aggregates computed together (engine/measures/batch.py, generic.plan): the same values as
each KPI's own query and as hand-written SQL, in far fewer queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from healthdeck.engine.measures import MeasureContext, Window
from healthdeck.engine.measures.base import compute, parse_params
from healthdeck.engine.measures.customers import plan_return_days
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store.connection import Store, open_store

from .conftest import ingested, run_cli
from .test_rollups import kpi_values

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WINDOW = Window(AT - timedelta(minutes=10), AT)


def sample(metric: str, minutes_ago: float, value: float, **labels: str) -> dict[str, Any]:
    moment = AT - timedelta(minutes=minutes_ago)
    return {"kind": "samples", "ts": moment.isoformat(), "metric": metric, "labels": labels, "value": value}


def records() -> list[dict[str, Any]]:
    """Two metrics across services (one reading without the label), a counter, readings outside the window."""
    readings = [sample("up", m, m % 2, service="api") for m in range(12)]
    readings += [sample("up", m, 1.0, service="db") for m in range(0, 12, 3)]
    readings += [sample("up", 4, 0.0), sample("cpu_utilization_pct", 2, 70.0, service="api")]
    readings += [sample("cpu_utilization_pct", m, 10.0 * m, service="db") for m in (1, 5, 9, 30)]
    readings += [sample("jobs_done_total", m, 1000.0 - 7 * m) for m in (0.5, 3, 9.5, 11)]
    return readings


@pytest.fixture(scope="module")
def samples_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    db = ingested(tmp_path_factory.mktemp("batch"), records())
    with open_store(db, read_only=True) as store:
        yield store


UP_API, UP_DB = "metric = 'up' AND labels->>'service' = 'api'", "metric = 'up' AND labels->>'service' = 'db'"
CPU, CPU_DB = "metric = 'cpu_utilization_pct'", "metric = 'cpu_utilization_pct' AND labels->>'service' = 'db'"
JOBS = "metric = 'jobs_done_total'"
# (sample params, the hand-written SQL of its value over WINDOW: the aggregate and the rows it reads)
CASES = [
    ({"metric": "up", "labels": {"service": "api"}}, "avg(value)", UP_API),
    ({"metric": "up", "labels": {"service": "db"}, "agg": "min"}, "min(value)", UP_DB),
    ({"metric": "up", "agg": "sum"}, "sum(value)", "metric = 'up'"),
    ({"metric": "cpu_utilization_pct", "agg": "max"}, "max(value)", CPU),
    ({"metric": "cpu_utilization_pct", "labels": {"service": "db"}, "agg": "last"}, "arg_max(value, ts)", CPU_DB),
    ({"metric": "jobs_done_total", "agg": "increase"}, "arg_max(value, ts) - arg_min(value, ts)", JOBS),
    ({"metric": "queue_depth"}, "avg(value)", "metric = 'queue_depth'"),
    ({"metric": "up", "labels": {"service": "cache"}}, "avg(value)", "metric = 'up' AND labels->>'service' = 'cache'"),
]


def by_hand(store: Store, aggregate: str, where: str) -> float | None:
    query = f"SELECT {aggregate} FROM samples WHERE ts >= $start AND ts < $end AND {where}"
    row = store.con.execute(query, {"start": WINDOW.start, "end": WINDOW.end}).fetchone()
    assert row is not None
    return None if row[0] is None else float(row[0])


class CountingConnection:
    """The store's DuckDB connection, counting the statements run through it."""

    def __init__(self, con: Any) -> None:
        self.con, self.statements = con, 0

    def execute(self, *args: Any) -> Any:
        self.statements += 1
        return self.con.execute(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


def sampled(store: Store, params: dict[str, Any]) -> float | None:
    return compute(MeasureContext(store), "sample", parse_params("sample", params), WINDOW)


@pytest.mark.parametrize(("params", "aggregate", "where"), CASES)
def test_a_sampled_metric_from_the_batch_is_its_own_querys_value(
    samples_store: Store, params: dict[str, Any], aggregate: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched = sampled(samples_store, params)
    monkeypatch.setenv("HEALTHDECK_BATCH", "off")
    assert batched == sampled(samples_store, params) == by_hand(samples_store, aggregate, where)


def test_the_sampled_metrics_of_a_window_take_one_query_per_labelled_metric(samples_store: Store) -> None:
    ctx, counting = MeasureContext(samples_store), CountingConnection(samples_store.con)
    for params, *_ in CASES:  # warm the coverage lookups: only the samples' queries are counted below
        compute(ctx, "sample", parse_params("sample", params), WINDOW.previous(timedelta(days=1)))
    ctx.table("samples")  # and the table's schema, which building a query may ask for at any point
    real, samples_store.con = samples_store.con, counting  # type: ignore[assignment]
    try:
        values = [compute(ctx, "sample", parse_params("sample", params), WINDOW) for params, *_ in CASES]
    finally:
        samples_store.con = real
    assert values[0] is not None and values[-1] is None
    # Every metric without labels in one query; `up` and cpu_utilization_pct, each grouped by service.
    assert counting.statements == 3


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("simulated") / "sim.duckdb"
    result = run_cli("simulate", "--tenants", "4", "--days", "2", "--end", AT.isoformat(), "-q", "--db", str(db))
    assert result.returncode == 0, result.stderr
    return db


def counted_health(db: Path, *, at: datetime, area: str) -> tuple[Any, int]:
    """An area's report and how many statements its evaluation ran."""
    with open_store(db, read_only=True) as store:
        counting = CountingConnection(store.con)
        store.con = counting  # type: ignore[assignment]
        report = Engine(store, load_checked_catalog()).health(at=at, areas=[area])
    return report, counting.statements


def test_the_service_area_runs_one_query_per_window_for_its_request_kpis(simulated: Path) -> None:
    report, statements = counted_health(simulated, at=AT - timedelta(minutes=3), area="service")
    assert sum(r.value is not None for r in report.results()) >= 8
    # Before the batches, 66: a query per KPI, window, sampled metric and table bound.
    assert statements <= 20


def test_windows_cut_at_the_newest_event_are_batched_as_well(simulated: Path) -> None:
    """As in a live store judged now: every window ends at the newest event, at a length no KPI asked for."""
    report, statements = counted_health(simulated, at=AT + timedelta(minutes=2, seconds=7), area="service")
    assert any(r.window.clipped and r.value is not None for r in report.results())
    # Before, 23: the plan was looked up by the cut length, which no KPI asked for.
    assert statements <= 15


def test_the_batches_and_each_kpis_own_query_give_the_same_report(simulated: Path) -> None:
    db = str(simulated)
    for scope in ([], ["--tenant", "t-0001"]):
        reports = {}
        for mode in ("on", "off"):
            args = ("health", "--full", *scope, "--output", "json", "--db", db, "--at", "2026-11-20T11:57:41.5Z")
            result = run_cli(*args, env={"HEALTHDECK_BATCH": mode})
            assert result.returncode in (0, 1), result.stderr
            reports[mode] = json.loads(result.stdout)
        assert sum(v is not None for v in kpi_values(reports["on"]).values()) > 10
        assert reports["on"] == reports["off"]


def test_the_capacity_area_reads_each_windows_capacity_samples_in_one_query(simulated: Path) -> None:
    report, statements = counted_health(simulated, at=AT - timedelta(minutes=3), area="capacity")
    assert sum(r.value is not None for r in report.results()) >= 5
    # Used and total capacity by resource: one query per window (2 h now and before, the 7-day
    # lookback now and before), not one per metric; each lookback's growth of every resource in one.
    # Before, 17: a query per metric and window, and per resource and lookback.
    assert statements <= 9


def capacity(minutes_ago: float, metric: str, resource: str, value: float) -> dict[str, Any]:
    return sample(metric, minutes_ago, value, resource=resource)


# Two resources growing at different rates, a third flat; their totals; a reading without a resource.
GROWING = (
    [capacity(m, "capacity_used", "gpu", 100.0 - 0.5 * m + (m % 3)) for m in range(0, 600, 7)]
    + [capacity(m, "capacity_used", "storage_gb", 900.0 - 0.01 * m * m / 60) for m in range(0, 600, 11)]
    + [capacity(m, "capacity_used", "db_connections", 40.0) for m in range(0, 600, 13)]
    + [capacity(m, "capacity_total", r, t) for m in (0, 300) for r, t in (("gpu", 400.0), ("storage_gb", 1000.0))]
    + [capacity(m, "capacity_total", "db_connections", 50.0) for m in (0, 300)]
    + [sample("capacity_used", 5, 1e6)]
)


@pytest.fixture(scope="module")
def capacity_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    db = ingested(tmp_path_factory.mktemp("capacity"), GROWING)
    with open_store(db, read_only=True) as store:
        yield store


def days_until_full(store: Store, resource: str) -> float | None:
    params = parse_params("days_until_full", {"resource": resource, "lookback": "12h"})
    return compute(MeasureContext(store), "days_until_full", params, WINDOW)


@pytest.mark.parametrize("resource", ["gpu", "storage_gb", "db_connections", "cpu_cores"])
def test_a_resources_growth_from_the_grouped_query_is_its_own_querys(
    capacity_store: Store, resource: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched = days_until_full(capacity_store, resource)
    monkeypatch.setenv("HEALTHDECK_BATCH", "off")
    assert batched == days_until_full(capacity_store, resource)
    if resource == "cpu_cores":  # no samples at all
        assert batched is None
    elif resource == "db_connections":  # flat: never full
        assert batched == 3650.0
    else:  # (total - used now) / growth per day, with the least-squares slope SQL computes by hand
        slope, used = over_lookback(capacity_store, resource)
        total = {"gpu": 400.0, "storage_gb": 1000.0}[resource]
        assert batched == pytest.approx((total - used) / (slope * 86400), rel=1e-9)


def over_lookback(store: Store, resource: str) -> tuple[float, float]:
    """The resource's growth per second (least squares) and its last capacity used, over the 12 hours."""
    query = """SELECT regr_slope(value, epoch(ts)), arg_max(value, ts) FROM samples
        WHERE ts >= $start AND ts < $end AND metric = 'capacity_used' AND labels->>'resource' = $resource"""
    row = store.con.execute(query, {"start": AT - timedelta(hours=12), "end": AT, "resource": resource}).fetchone()
    assert row is not None and None not in row
    return float(row[0]), float(row[1])


MONTH = Window(AT - timedelta(days=30), AT)
RETURN_DAYS = (1, 7, 30, 365)  # no signup's day 365 lies in the month: no rate


def signed_up(user_id: str, when: str) -> dict[str, Any]:
    return {"kind": "users", "user_id": user_id, "tenant_id": "t1", "signup_at": f"2026-{when}:00+00:00"}


def active(user_id: str, when: str) -> dict[str, Any]:
    return {"kind": "activity", "ts": f"2026-{when}:00+00:00", "tenant_id": "t1", "user_id": user_id, "event": "login"}


# Signups whose day 1, 7 or 30 lies in the month, some back on that day, some a day late or never;
# u1 and u4 are in two cohorts (their day 1 and day 7 both lie in the month).
RETURNS = [
    signed_up("old", "08-01T09:00"),
    active("old", "08-02T09:00"),  # the data cover the whole month
    active("old", "11-20T11:59"),  # and reach its end
    *(signed_up(u, "11-10T08:00") for u in ("u1", "u2", "u3")),
    active("u1", "11-11T23:30"),  # day 1
    active("u2", "11-12T00:10"),  # day 2
    active("u1", "11-17T10:00"),  # day 7
    *(signed_up(u, "11-01T22:00") for u in ("u4", "u5")),
    active("u4", "11-08T01:00"),  # day 7
    active("u5", "11-02T00:00"),  # day 1
    signed_up("u6", "10-15T12:00"),
    active("u6", "11-14T18:00"),  # day 30
    signed_up("u7", "10-01T12:00"),  # day 30 (31 Oct) without activity
    signed_up("u8", "10-25T12:00"),
    active("u8", "11-01T12:00"),  # day 7, the first day of the month
]


@pytest.fixture(scope="module")
def returns_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    db = ingested(tmp_path_factory.mktemp("returns"), RETURNS)
    with open_store(db, read_only=True) as store:
        yield store


def return_rates(store: Store, ctx: MeasureContext | None = None) -> list[float | None]:
    """The return rate of each of RETURN_DAYS over the month, all planned for the month's length."""
    ctx = ctx or MeasureContext(store)
    plan_return_days(ctx, [(day, MONTH.length) for day in RETURN_DAYS])
    return [compute(ctx, "return_rate", parse_params("return_rate", {"day": day}), MONTH) for day in RETURN_DAYS]


def return_rate_by_hand(store: Store, day: int) -> float | None:
    """Signups whose UTC day N lies in the month, and how many of them were active on that calendar day."""
    cohort = "CAST(u.signup_at AS DATE) + $day >= $start AND CAST(u.signup_at AS DATE) + $day + 1 <= $end"
    on_day_n = "CAST(a.ts AS DATE) = CAST(u.signup_at AS DATE) + $day AND a.ts >= $start AND a.ts < $end"
    query = f"""
        SELECT (SELECT count(*) FROM users u WHERE {cohort}),
               (SELECT count(DISTINCT u.user_id) FROM users u JOIN activity a USING (user_id)
                WHERE {cohort} AND {on_day_n})
    """
    bounds = {"day": day, "start": MONTH.start, "end": MONTH.end}
    row = store.con.execute(query, bounds).fetchone()
    assert row is not None
    signups, returned = row
    return None if signups == 0 else returned / signups * 100.0


def test_a_reports_return_rates_from_one_pass_are_each_days_own(
    returns_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    together = return_rates(returns_store)
    monkeypatch.setenv("HEALTHDECK_BATCH", "off")
    assert together == return_rates(returns_store) == [return_rate_by_hand(returns_store, d) for d in RETURN_DAYS]
    assert together[-1] is None and len({rate for rate in together[:-1]}) == 3  # three different rates


def test_a_windows_return_rates_take_two_queries_whatever_the_days(returns_store: Store) -> None:
    ctx, counting = MeasureContext(returns_store), CountingConnection(returns_store.con)
    return_rates(returns_store, ctx)  # the coverage lookups and table schemas: only the rates' queries are counted
    previous = Window(MONTH.start - MONTH.length, MONTH.start)
    real, returns_store.con = returns_store.con, counting  # type: ignore[assignment]
    try:
        for day in RETURN_DAYS:
            compute(ctx, "return_rate", parse_params("return_rate", {"day": day}), previous)
    finally:
        returns_store.con = real
    # The signups of every day N, then their returns. Before, two queries per day N: 8.
    assert counting.statements == 2

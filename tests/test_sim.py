"""The simulator: valid, deterministic, idempotent, and shaped like the specification says."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from healthdeck.engine.evaluate import KpiResult
from healthdeck.engine.scoring import Status
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.errors import HealthdeckError
from healthdeck.sim import simulate
from healthdeck.sim.config import make_config
from healthdeck.sim.incidents import LATE_INCIDENT_BEFORE_END
from healthdeck.sim.pipeline import Outbox, run_ahead
from healthdeck.sim.traffic import day_requests
from healthdeck.sim.world import build_world
from healthdeck.store.connection import Store, open_store
from healthdeck.store.ingest import IngestReport, ingest_table
from healthdeck.store.schema import KINDS, TIER_EVENT_TYPES

from .conftest import run_cli

# Whole days (midnight to midnight), so every hour of the day is seen on the same dates.
END = datetime(2026, 10, 28, tzinfo=UTC)
SMALL: dict[str, Any] = {"tenants": 20, "days": 5, "seed": 7, "end": END, "requests_per_day": 20_000}
# The operations checklist's traffic pattern table: UTC hours and share of the peak hour.
TRAFFIC_BANDS = [
    (0, 6, 0.10, 0.20),
    (6, 10, 0.40, 0.60),
    (10, 14, 0.80, 1.00),
    (14, 18, 0.70, 0.90),
    (18, 24, 0.30, 0.50),
]
# The sample series the catalog relies on (every minute), as metric -> labels.
UNLABELLED = [
    "gpu_utilization_pct",
    "gpu_memory_pct",
    "disk_usage_pct",
    "network_in_bps",
    "pods_ready",
    "pods_desired",
    "pod_restarts",
    "db_connections_pct",
    "db_query_latency_ms",
    "db_slow_queries",
    "db_replication_lag_s",
    "db_size_bytes",
    "redis_memory_pct",
    "redis_hit_rate_pct",
    "redis_connected_clients",
    "redis_evictions_per_s",
    "dp_epsilon_spent",
    "he_ops_per_s",
    "he_latency_p95_us",
    "gradient_norm",
]
MINUTE_METRICS = {
    "up": {'{"service":"api"}', '{"service":"db"}', '{"service":"redis"}'},
    "cpu_utilization_pct": {'{"service":"api"}'},
    "memory_utilization_pct": {'{"service":"api"}'},
    **{name: {"{}"} for name in UNLABELLED},
    "queue_depth": {f'{{"queue":"{q}"}}' for q in ("training", "etl", "default", "webhooks", "agentic_sessions")},
}
RESOURCES = {"api_pods", "cpu_cores", "memory_gb", "gpu", "db_connections", "storage_gb"}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, IngestReport]]:
    """One small simulated month-let, shared by the read-only tests of this module."""
    store = open_store(tmp_path_factory.mktemp("sim") / "store.duckdb", create=True)
    report = simulate(store, **SMALL)
    yield store, report
    store.close()


def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return store.con.execute(sql).fetchall()


def one(store: Store, sql: str) -> Any:
    return rows(store, sql)[0][0]


def contents(store: Store) -> dict[str, pa.Table]:
    """Every table's records, sorted, without the ingest timestamp."""
    return {
        name: store.con.sql(f'SELECT * EXCLUDE (_ingested_at) FROM "{name}" ORDER BY ALL').to_arrow_table()
        for name in KINDS
    }


def test_every_record_passes_validation(simulated: tuple[Store, IngestReport]) -> None:
    store, report = simulated
    assert report.rejected == 0, [r.describe() for r in report.first_rejects]
    assert report.accepted == sum(store.count(name) for name in KINDS)


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_gets_rows(simulated: tuple[Store, IngestReport], name: str) -> None:
    store, _ = simulated
    assert store.count(name) > 0


def test_request_volume_follows_requests_per_day(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    requests = store.count("requests")
    assert 0.98 * 5 * 20_000 <= requests <= 5 * 20_000
    assert (
        one(
            store,
            "SELECT min(ts) >= TIMESTAMPTZ '2026-10-23 00:00:00+00' AND max(ts) < TIMESTAMPTZ "
            "'2026-10-28 00:00:00+00' FROM requests",
        )
        is True
    )


def test_all_eight_tier_event_types_are_logged(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    logged = {r[0] for r in rows(store, "SELECT DISTINCT event_type FROM tier_events")}
    assert logged == set(TIER_EVENT_TYPES)


def test_hourly_traffic_follows_the_checklist_pattern(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    hourly = dict(rows(store, "SELECT hour(ts), count(*) FROM requests GROUP BY 1"))
    peak = max(hourly.values())
    for first, last, low, high in TRAFFIC_BANDS:
        share = sum(hourly[h] for h in range(first, last)) / (last - first) / peak
        assert low - 0.02 <= share <= high + 0.02, f"{first:02d}-{last:02d} UTC at {share:.0%} of peak"


def test_weekends_are_quieter_than_weekdays(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    weekend, weekday = rows(
        store,
        "SELECT avg(c) FILTER (WHERE d IN (0, 6)), avg(c) FILTER (WHERE d NOT IN (0, 6)) "
        "FROM (SELECT dayofweek(ts) d, ts::DATE, count(*) c FROM requests GROUP BY ALL)",
    )[0]
    assert weekend < 0.8 * weekday


def test_statuses_are_mostly_2xx_with_some_4xx_and_5xx(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    client, server = rows(
        store, "SELECT avg((status BETWEEN 400 AND 499)::INT), avg((status >= 500)::INT) FROM requests"
    )[0]
    assert 0.01 <= client <= 0.06
    assert 0 < server < 0.01


def test_latency_percentiles_are_realistic(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    p50, p95, p99 = rows(store, "SELECT quantile_cont(latency_ms, [0.5, 0.95, 0.99]) FROM requests WHERE status < 400")[
        0
    ][0]
    # The specification's GOOD: p50 < 50 ms, p95 < 100 ms, p99 < 200 ms.
    assert 20 <= p50 < 50 and 50 <= p95 < 100 and 100 <= p99 < 200


def test_tier_latency_is_ordered_and_within_each_slo(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    p95 = dict(rows(store, "SELECT tier, quantile_cont(latency_ms, 0.95) FROM requests WHERE status < 400 GROUP BY 1"))
    assert p95["ENTERPRISE"] < p95["PRO"] < p95["STARTER"] < p95["FREE"], p95
    # Seed 002's query latency SLOs (p95) per tier.
    slo = {"ENTERPRISE": 50, "PRO": 100, "STARTER": 200, "FREE": 500}
    assert all(p95[tier] < limit for tier, limit in slo.items()), p95


def test_documented_prices_are_charged(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    monthly = dict(
        rows(
            store,
            "SELECT tier, list(DISTINCT amount) FROM subscriptions WHERE interval = 'month' "
            "AND tier <> 'ENTERPRISE' GROUP BY 1",
        )
    )
    assert monthly == {"STARTER": [29.0], "PRO": [99.0], "BUSINESS": [499.0]}
    custom = rows(
        store,
        "SELECT amount / CASE interval WHEN 'month' THEN 1 WHEN 'quarter' THEN 3 ELSE 12 END "
        "FROM subscriptions WHERE tier = 'ENTERPRISE'",
    )
    assert custom and all(2_000 <= amount <= 12_000 for (amount,) in custom)
    assert one(store, "SELECT count(*) FROM subscriptions WHERE tier = 'FREE'") == 0


def test_tenant_tier_is_the_subscription_state_at_the_end(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    mismatched = rows(
        store,
        """
        WITH last AS (SELECT tenant_id, arg_max(tier, ts) tier, arg_max(status, ts) status
                      FROM subscriptions GROUP BY 1)
        SELECT t.tenant_id, t.tier, last.tier, last.status FROM tenants t LEFT JOIN last USING (tenant_id)
        WHERE t.tier <> CASE WHEN last.status IN ('active', 'trialing', 'past_due') THEN last.tier ELSE 'FREE' END
    """,
    )
    assert mismatched == []


def test_failed_payments_put_the_subscription_past_due(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    failed = rows(store, "SELECT tenant_id, ts FROM payments WHERE status = 'failed'")
    assert failed
    past_due = rows(
        store,
        "SELECT count(*) FROM payments p WHERE status = 'failed' AND NOT EXISTS (SELECT 1 FROM "
        "subscriptions s WHERE s.tenant_id = p.tenant_id AND s.status IN ('past_due', 'canceled') "
        "AND s.ts BETWEEN p.ts AND p.ts + INTERVAL 8 DAY)",
    )
    assert past_due == [(0,)]


def test_samples_keep_the_metric_contract(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    found: dict[str, set[str]] = {}
    for metric, labels, readings in rows(
        store,
        "SELECT metric, labels, count(*) FROM samples "
        "WHERE metric NOT LIKE 'capacity%' AND metric NOT LIKE 'tenant%' GROUP BY ALL",
    ):
        found.setdefault(metric, set()).add(labels)
        assert readings == 5 * 1440, f"{metric} {labels}: {readings} readings, expected one per minute"
    assert found == MINUTE_METRICS
    hourly = rows(
        store, "SELECT metric, count(DISTINCT labels), count(*) FROM samples WHERE metric LIKE 'capacity%' GROUP BY 1"
    )
    assert sorted(hourly) == [("capacity_total", 6, 6 * 5 * 24), ("capacity_used", 6, 6 * 5 * 24)]
    resources = {
        r[0] for r in rows(store, "SELECT DISTINCT labels->>'resource' FROM samples WHERE metric = 'capacity_used'")
    }
    assert resources == RESOURCES


def test_tenant_usage_is_sampled_hourly_per_tenant(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    per_tenant = rows(
        store,
        "SELECT metric, count(DISTINCT labels->>'tenant_id'), max(c) FROM (SELECT metric, labels, "
        "count(*) OVER (PARTITION BY metric, labels->>'tenant_id') c FROM samples "
        "WHERE metric LIKE 'tenant%') GROUP BY 1 ORDER BY 1",
    )
    assert [r[0] for r in per_tenant] == ["tenant_cpu_millicores", "tenant_memory_bytes", "tenant_storage_bytes"]
    assert all(tenants == 20 and most == 5 * 24 for _, tenants, most in per_tenant)


def test_incidents_show_in_errors_and_availability(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    inside, outside = rows(
        store,
        """
        SELECT avg((status >= 500)::INT) FILTER (WHERE i.incident_id IS NOT NULL),
               avg((status >= 500)::INT) FILTER (WHERE i.incident_id IS NULL)
        FROM requests r LEFT JOIN incidents i ON r.ts >= i.started_at AND r.ts < i.resolved_at
    """,
    )[0]
    assert inside > 10 * outside
    uptime = one(store, "SELECT avg(value) FROM samples WHERE metric = 'up'")
    assert 0.99 < uptime < 1.0


def test_enterprise_tenants_never_cold_start(simulated: tuple[Store, IngestReport]) -> None:
    store, _ = simulated
    assert one(store, "SELECT count(*) FROM tier_events WHERE event_type = 'cold_start' AND tier = 'ENTERPRISE'") == 0
    assert one(store, "SELECT count(*) FROM tier_events WHERE event_type = 'cold_start'") > 0


def test_same_arguments_give_the_same_store(simulated: tuple[Store, IngestReport], tmp_path: Path) -> None:
    first, _ = simulated
    with open_store(tmp_path / "again.duckdb", create=True) as second:
        simulate(second, **SMALL)
        again = contents(second)
    for name, table in contents(first).items():
        assert table.equals(again[name]), f"{name} differs between two runs with the same arguments"


def test_another_seed_gives_other_data(simulated: tuple[Store, IngestReport], tmp_path: Path) -> None:
    first, _ = simulated
    with open_store(tmp_path / "other.duckdb", create=True) as other:
        simulate(other, **{**SMALL, "seed": 8})
        different = contents(other)
    same = [name for name, table in contents(first).items() if table.equals(different[name])]
    assert same == []


class Interrupted(Exception):
    """Stands for a Ctrl-C or a crash in the middle of a run."""


@dataclass
class InterruptAfter:
    """A progress listener that stops the run once `limit` rows of `kind` were ingested."""

    kind: str
    limit: int

    def begin(self, days: int, requests: int) -> None:
        pass

    def rows(self, kind: str, count: int) -> None:
        if kind == self.kind:
            self.limit -= count
            if self.limit <= 0:
                raise Interrupted

    def day(self) -> None:
        pass


def test_running_it_again_completes_an_interrupted_run(tmp_path: Path) -> None:
    end = END - timedelta(hours=10, minutes=23)
    small = {"tenants": 8, "days": 3, "seed": 3, "end": end, "requests_per_day": 3_000}
    with open_store(tmp_path / "whole.duckdb", create=True) as store:
        whole = simulate(store, **small)
        expected = {name: store.count(name) for name in KINDS}
        assert simulate(store, **small).accepted == 0  # complete: nothing to add
    with open_store(tmp_path / "twice.duckdb", create=True) as store:
        with pytest.raises(Interrupted):
            simulate(store, **small, progress=InterruptAfter("requests", 1))
        assert 0 < sum(store.count(name) for name in KINDS) < sum(expected.values())
        again = simulate(store, **small)
        assert again.rejected == 0 and again.accepted + again.duplicates == whole.accepted
        assert again.duplicates > 0  # what the interrupted run stored is recognised, not stored twice
        assert {name: store.count(name) for name in KINDS} == expected


@dataclass
class ProgressLog:
    """Records what the simulator reports, as the CLI's progress bars see it."""

    planned: tuple[int, int] = (0, 0)
    seen: list[tuple[str, int]] = field(default_factory=list)
    days: int = 0

    def begin(self, days: int, requests: int) -> None:
        self.planned = (days, requests)

    def rows(self, kind: str, count: int) -> None:
        self.seen.append((kind, count))

    def day(self) -> None:
        self.days += 1


def test_progress_reports_every_ingested_row_and_every_day(tmp_path: Path) -> None:
    log = ProgressLog()
    with open_store(tmp_path / "progress.duckdb", create=True) as store:
        report = simulate(store, tenants=6, days=2, seed=1, end=END, requests_per_day=2_000, progress=log)
    assert {stage for stage, _ in log.seen} == set(KINDS)
    assert sum(n for _, n in log.seen) == report.accepted + report.duplicates
    assert log.planned[0] == log.days == 2
    assert 0.98 * log.planned[1] <= report.by_kind["requests"] <= log.planned[1]


def test_churn_signals_show_in_a_longer_window(tmp_path: Path) -> None:
    with open_store(tmp_path / "churn.duckdb", create=True) as store:
        simulate(store, tenants=30, days=12, seed=5, end=END + timedelta(hours=13), requests_per_day=4_000)
        silent = one(
            store,
            "SELECT count(*) FROM (SELECT tenant_id FROM requests GROUP BY 1 "
            "HAVING max(ts) < (SELECT max(ts) FROM requests) - INTERVAL 7 DAY)",
        )
        declining = one(
            store,
            """
            WITH weeks AS (SELECT tenant_id,
                count(*) FILTER (WHERE ts >= (SELECT max(ts) FROM requests) - INTERVAL 7 DAY) this_week,
                count(*) FILTER (WHERE ts < (SELECT max(ts) FROM requests) - INTERVAL 7 DAY
                                   AND ts >= (SELECT max(ts) FROM requests) - INTERVAL 14 DAY) last_week
                FROM requests GROUP BY 1)
            SELECT count(*) FROM weeks WHERE this_week > 0 AND this_week < 0.5 * last_week
        """,
        )
        removed = one(store, "SELECT count(*) FROM users WHERE removed_at IS NOT NULL")
    assert silent >= 1 and declining >= 1 and removed >= 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end": datetime(2026, 10, 28)}, "no time zone"),
        ({"end": datetime.now(UTC) + timedelta(days=3)}, "in the future"),
        ({"tenants": 0}, "--tenants must be at least 1"),
        ({"days": 0}, "--days must be at least 1"),
    ],
)
def test_bad_arguments_are_explained(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with open_store(tmp_path / "bad.duckdb", create=True) as store, pytest.raises(HealthdeckError, match=message):
        simulate(store, **{**SMALL, **changes})


def test_generation_errors_reach_the_caller() -> None:
    def produce(outbox: Outbox) -> None:
        outbox.add("requests", pa.table({"a": [1]}))
        raise ValueError("generator broke")

    seen: list[str] = []
    with pytest.raises(ValueError, match="generator broke"):
        run_ahead(produce, lambda name, table: seen.append(name))
    assert seen == ["requests"]


def test_an_ingest_error_stops_generation() -> None:
    produced: list[int] = []

    def produce(outbox: Outbox) -> None:
        for i in range(1_000):
            produced.append(i)
            outbox.add("requests", pa.table({"a": [i]}))

    def consume(name: str, table: pa.Table) -> None:
        raise RuntimeError("store full")

    with pytest.raises(RuntimeError, match="store full"):
        run_ahead(produce, consume, depth=2)
    assert len(produced) < 10


# ---------------------------------------------------------------- the store remembers its simulations


def store_counts(db: Path) -> dict[str, int]:
    with open_store(db, read_only=True) as store:
        return {name: store.count(name) for name in KINDS}


def simulate_cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A small `simulate` run with JSON output; no --end, so it ends now (or where the same run ended)."""
    tiny = ("--tenants", "6", "--days", "1", "--requests-per-day", "2000")
    return run_cli("simulate", *tiny, *args, "--db", str(db), "-o", "json")


def test_the_same_simulation_again_adds_nothing_and_another_needs_append(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    first = simulate_cli(db, "--seed", "3")
    assert first.returncode == 0, first.stderr
    counts = store_counts(db)

    again = simulate_cli(db, "--seed", "3")
    assert again.returncode == 0, again.stderr
    repeated = orjson.loads(again.stdout)
    assert (repeated["mode"], repeated["accepted"]) == ("complete", 0)
    assert store_counts(db) == counts

    other = simulate_cli(db, "--seed", "4")
    assert other.returncode == 2
    assert "already holds" in other.stderr and "seed 3" in other.stderr and "--append" in other.stderr
    assert "Traceback" not in other.stderr and other.stdout == ""
    assert store_counts(db) == counts

    appended = simulate_cli(db, "--seed", "4", "--append")
    assert appended.returncode == 0, appended.stderr
    assert orjson.loads(appended.stdout)["mode"] == "append"
    assert store_counts(db)["requests"] > counts["requests"]


def ingest_spend(store: Store) -> None:
    """One record that no simulation wrote."""
    spend = pa.table({"ts": [datetime(2026, 10, 1, tzinfo=UTC)], "category": ["marketing"], "amount": [10.0]})
    ingest_table(store, KINDS["spend"], spend, source="test", sink=None, report=IngestReport())


TINY: dict[str, Any] = {"tenants": 6, "days": 1, "seed": 3, "end": END, "requests_per_day": 2_000}


def test_a_store_with_other_data_is_refused_without_append(tmp_path: Path) -> None:
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        ingest_spend(store)
        with pytest.raises(HealthdeckError, match=r"data that no simulation wrote.*--append"):
            simulate(store, **TINY)
        assert store.count("requests") == 0
        assert simulate(store, **TINY, append=True).accepted > 0


def test_data_ingested_after_a_simulation_makes_the_same_run_need_append(tmp_path: Path) -> None:
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        first = simulate(store, **TINY)
        ingest_spend(store)
        counts = {name: store.count(name) for name in KINDS}
        with pytest.raises(HealthdeckError, match="plus data written since"):
            simulate(store, **TINY)
        # Appended anyway, the same run regenerates identical records of every kind: all deduplicated.
        appended = simulate(store, **TINY, append=True)
        assert (appended.accepted, appended.duplicates, appended.rejected) == (0, first.accepted, 0)
        assert {name: store.count(name) for name in KINDS} == counts


def test_the_run_is_recorded_in_the_store(tmp_path: Path) -> None:
    with open_store(tmp_path / "meta.duckdb", create=True) as store:
        simulate(store, **{**SMALL, "days": 1, "scenario": "healthy"})
        runs = orjson.loads(one(store, "SELECT value FROM _healthdeck_meta WHERE key = 'simulations'"))
        after = orjson.loads(one(store, "SELECT value FROM _healthdeck_meta WHERE key = 'simulation_rows'"))
        assert after == {name: store.count(name) for name in KINDS}
    assert runs == [
        {
            "tenants": 20,
            "days": 1,
            "seed": 7,
            "end": END.isoformat(),
            "requests_per_day": 20_000,
            "scenario": "healthy",
        }
    ]


def test_an_unknown_scenario_is_explained(tmp_path: Path) -> None:
    result = simulate_cli(tmp_path / "store.duckdb", "--scenario", "chaos")
    assert result.returncode == 2
    assert "--scenario 'chaos' is not a preset" in result.stderr and "capacity" in result.stderr


# ---------------------------------------------------------------- calibrated to the specification


def test_default_traffic_is_above_the_critical_rate_all_working_day() -> None:
    """At the default size (500 tenants), a weekday's busy hours beat seed 000's "critical < 5/s"."""
    world = build_world(make_config(tenants=500, days=30, seed=7, end=END, requests_per_day=None))
    tuesday = world.cfg.days - 1  # the window's last day, 2026-10-27
    hours = np.bincount((day_requests(world, tuesday).ts_us // 3_600_000_000) % 24, minlength=24) / 3600
    assert hours.max() > 10  # GOOD at the peak
    assert all(hours[h] > 5 for h in range(8, 20)), hours.round(1)


def evaluate(db: Path, kpi: str, at: datetime, window: timedelta | None = None) -> KpiResult:
    with open_store(db, read_only=True) as store:
        return Engine(store, load_checked_catalog()).kpi(kpi, at=at, window=window)


def scenario_store(tmp_path: Path, scenario: str, **sizes: Any) -> Path:
    db = tmp_path / f"{scenario}.duckdb"
    with open_store(db, create=True) as store:
        simulate(store, seed=11, end=END, scenario=scenario, **sizes)
    return db


def test_incident_preset_makes_the_error_rate_critical_during_the_incident(tmp_path: Path) -> None:
    sizes = {"tenants": 30, "days": 4, "requests_per_day": 40_000}
    during = END - timedelta(microseconds=LATE_INCIDENT_BEFORE_END) + timedelta(minutes=20)
    incident = scenario_store(tmp_path, "incident", **sizes)
    healthy = scenario_store(tmp_path, "healthy", **sizes)
    assert evaluate(incident, "error_rate_5xx", during).status is Status.CRITICAL
    assert evaluate(healthy, "error_rate_5xx", during).status is not Status.CRITICAL
    assert evaluate(incident, "error_rate_5xx", END).status is not Status.CRITICAL  # over by the end
    assert evaluate(incident, "uptime", END).status is not Status.GOOD
    assert evaluate(healthy, "uptime", END).status is Status.GOOD


def test_capacity_preset_fills_the_gpus_within_two_weeks(tmp_path: Path) -> None:
    sizes = {"tenants": 10, "days": 8, "requests_per_day": 2_000}
    squeezed = scenario_store(tmp_path, "capacity", **sizes)
    healthy = scenario_store(tmp_path, "healthy", **sizes)
    full = evaluate(squeezed, "days_until_full_gpu", END)
    assert full.value is not None and full.value < 14 and full.status is Status.CRITICAL
    used = evaluate(squeezed, "capacity_gpu", END)
    assert used.value is not None and used.value > 85
    assert evaluate(healthy, "days_until_full_gpu", END).status is Status.GOOD
    assert evaluate(healthy, "capacity_gpu", END).status is Status.GOOD


def test_churn_preset_churns_more_than_healthy(tmp_path: Path) -> None:
    # Two weeks, judged over the whole window: the segment cancels in the window's second half.
    sizes, window = {"tenants": 200, "days": 14, "requests_per_day": 2_000}, timedelta(days=14)
    churning = evaluate(scenario_store(tmp_path, "churn", **sizes), "logo_churn_rate", END, window)
    healthy = evaluate(scenario_store(tmp_path, "healthy", **sizes), "logo_churn_rate", END, window)
    assert churning.value is not None and healthy.value is not None
    assert churning.value > healthy.value + 3
    assert churning.status is Status.CRITICAL


def run_with_terminal_stderr(*args: str) -> tuple[subprocess.CompletedProcess[bytes], str]:
    """Run the CLI with standard error on a pseudo-terminal (as in a shell) and standard output piped."""
    controller, terminal = pty.openpty()
    seen = bytearray()

    def drain() -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(controller, 65536):
                seen.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
        result = subprocess.run(
            [sys.executable, "-m", "healthdeck", *args], stdout=subprocess.PIPE, stderr=terminal, env=env, timeout=300
        )
    finally:
        os.close(terminal)
        reader.join(timeout=10)
        os.close(controller)
    return result, seen.decode(errors="replace")


def test_progress_bars_on_a_terminal_and_off_with_quiet(tmp_path: Path) -> None:
    tiny = ("simulate", "--tenants", "6", "--days", "2", "--requests-per-day", "2000")
    shown, terminal = run_with_terminal_stderr(*tiny, "--db", str(tmp_path / "a.duckdb"), "-o", "json")
    assert shown.returncode == 0
    assert "window days generated" in terminal and "requests ingested" in terminal
    assert orjson.loads(shown.stdout)["accepted"] > 0  # standard output holds the JSON document only
    quiet, terminal = run_with_terminal_stderr(*tiny, "--db", str(tmp_path / "b.duckdb"), "--quiet")
    assert quiet.returncode == 0 and "window days generated" not in terminal


def test_demo_simulates_the_demo_scenario_once_then_shows_health(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.duckdb")
    first = run_cli("demo", "--tenants", "6", "--days", "1", "--db", db)
    assert first.returncode == 0, first.stderr
    assert "scenario demo" in first.stderr and "Health" in first.stdout
    second = run_cli("demo", "--db", db)
    assert second.returncode == 0 and "simulating" not in second.stderr and "Health" in second.stdout


def test_no_record_lies_after_the_simulation_s_end(tmp_path: Path) -> None:
    """An end just after 10:00, when busy tenants go HOT with up to 30 minutes of jitter: none past the end."""
    from healthdeck.engine.measures.base import TIME_COLUMNS

    end = datetime(2026, 11, 18, 10, 8, tzinfo=UTC)  # a Wednesday: busy tenants are promoted from 10:00
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        simulate(store, tenants=30, days=3, seed=3, end=end, requests_per_day=30_000)
        newest = {kind: one(store, f"SELECT max({TIME_COLUMNS.get(kind, 'ts')}) FROM {kind}") for kind in KINDS}
    assert newest["tier_events"] is not None, "the test needs tier events to prove anything"
    assert {kind: t for kind, t in newest.items() if t is not None and t >= end} == {}

"""The analytics measures against small hand-computed datasets in a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from healthdeck.engine.measures import MEASURES, MeasureContext, Window
from healthdeck.engine.measures.base import parse_params
from healthdeck.store.connection import Store
from healthdeck.store.ingest import ingest_files

from .conftest import write_jsonl

DAY = datetime(2026, 11, 1, tzinfo=UTC)


def at(hh_mm_ss: str, day: datetime = DAY) -> datetime:
    hours, minutes, *seconds = (float(part) for part in hh_mm_ss.split(":"))
    return day + timedelta(hours=hours, minutes=minutes, seconds=seconds[0] if seconds else 0.0)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def load(store: Store, tmp_path: Path, records: list[dict[str, Any]]) -> None:
    report = ingest_files(store, [str(write_jsonl(tmp_path / "data.jsonl", records))], rejects_path=tmp_path / "r")
    assert report.rejected == 0, [r.describe() for r in report.first_rejects]


def run(store: Store, name: str, params: dict[str, Any], start: datetime, end: datetime) -> float | None:
    return MEASURES[name].compute(MeasureContext(store), parse_params(name, params), Window(start, end))


def job(
    job_id: str, enqueued: str, started: str | None, finished: str | None, status: str, **extra: Any
) -> dict[str, Any]:
    return {"kind": "jobs", "job_id": job_id, "queue": extra.pop("queue", "training"),
            "job_type": extra.pop("job_type", "fine_tune"), "tenant_id": extra.pop("tenant_id", "t1"),
            "enqueued_at": iso(at(enqueued)), "started_at": iso(at(started) if started else None),
            "finished_at": iso(at(finished) if finished else None), "status": status, **extra}  # fmt: skip


def request(tenant: str, when: datetime, *, status: int = 200, latency: float = 50.0, **extra: Any) -> dict[str, Any]:
    return {"kind": "requests", "ts": when.isoformat(), "tenant_id": tenant, "endpoint": "/v1/x", "method": "GET",
            "status": status, "latency_ms": latency, **extra}  # fmt: skip


def tier_event(event_type: str, project: str, when: datetime, **attributes: Any) -> dict[str, Any]:
    return {"kind": "tier_events", "event_type": event_type, "project_id": project, "tenant_id": f"org-{project}",
            "timestamp": when.isoformat(), **attributes}  # fmt: skip


def tenant(tenant_id: str, tier: str, created: datetime) -> dict[str, Any]:
    return {"kind": "tenants", "tenant_id": tenant_id, "name": tenant_id, "tier": tier, "plan": tier.lower(),
            "created_at": created.isoformat(), "enterprise": False}  # fmt: skip


# ---------------------------------------------------------------------------------------------- elapsed


@pytest.fixture
def queue_jobs(store: Store, tmp_path: Path) -> Store:
    load(store, tmp_path, [
        # waits 30 s, runs 5 min
        job("j1", "10:00:00", "10:00:30", "10:05:30", "succeeded"),
        # waits 90 s, runs 10 min
        job("j2", "10:01:00", "10:02:30", "10:12:30", "failed"),
        # waits 10.5 s, runs 59.5 s; an ETL job
        job("j3", "10:02:00", "10:02:10.5", "10:03:10", "succeeded", job_type="import"),
        # still queued: no wait time yet
        job("j4", "10:03:00", None, None, "queued"),
        # outside the hour
        job("j5", "12:00:00", "12:30:00", "12:40:00", "succeeded"),
    ])  # fmt: skip
    return store


def test_elapsed_queue_wait(queue_jobs: Store) -> None:
    hour = (at("10:00"), at("11:00"))
    wait = {"start": "enqueued_at", "end": "started_at", "time": "enqueued_at"}
    # waits 30, 90, 10.5 s: median 30, mean 130.5 / 3 = 43.5, max 90 (j4 has not started, j5 is later)
    assert run(queue_jobs, "elapsed", wait, *hour) == pytest.approx(30.0)
    assert run(queue_jobs, "elapsed", {**wait, "stat": "avg"}, *hour) == pytest.approx(43.5)
    assert run(queue_jobs, "elapsed", {**wait, "stat": "max", "unit": "ms"}, *hour) == pytest.approx(90_000.0)
    # only the import job: 10.5 s
    assert run(queue_jobs, "elapsed", {**wait, "where": {"job_type": "import"}}, *hour) == pytest.approx(10.5)


def test_elapsed_run_time_counts_jobs_by_when_they_finish(queue_jobs: Store) -> None:
    run_time = {"start": "started_at", "end": "finished_at", "unit": "min"}
    # finished 10:00-11:00: j1 5 min, j2 10 min, j3 59.5 s -> median 5 min
    assert run(queue_jobs, "elapsed", run_time, at("10:00"), at("11:00")) == pytest.approx(5.0)
    # finished 10:00-10:10: j1 and j3 -> the mean of 5 min and 59.5 s = (300 + 59.5) / 2 s = 2.9958 min
    mean = run(queue_jobs, "elapsed", {**run_time, "stat": "avg"}, at("10:00"), at("10:10"))
    assert mean == pytest.approx(359.5 / 2 / 60)
    assert run(queue_jobs, "elapsed", run_time, at("13:00"), at("14:00")) is None


def test_elapsed_rejects_a_column_that_is_not_a_timestamp() -> None:
    with pytest.raises(ValidationError, match="not a timestamp"):
        parse_params("elapsed", {"start": "enqueued_at", "end": "status"})


# ---------------------------------------------------------------------------------------------- time to first


def test_time_to_first_completion(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, [
        tenant("A", "FREE", at("09:00")),  # first success 09:20: 20 min
        tenant("B", "FREE", at("09:30")),  # failed 09:40, first success 10:30: 60 min
        tenant("C", "PRO", DAY - timedelta(days=30)),  # created before the window: not in the cohort
        tenant("D", "FREE", at("10:00")),  # never completed
        tenant("E", "FREE", at("11:00")),  # completes only after the window
        job("a1", "09:10", "09:12", "09:20", "succeeded", tenant_id="A", queue="agentic_sessions"),
        job("a2", "09:40", "09:42", "09:50", "succeeded", tenant_id="A", queue="agentic_sessions"),
        job("b1", "09:35", "09:36", "09:40", "failed", tenant_id="B", queue="agentic_sessions"),
        job("b2", "10:20", "10:21", "10:30", "succeeded", tenant_id="B", queue="agentic_sessions"),
        job("b3", "09:31", "09:32", "09:33", "succeeded", tenant_id="B", queue="training"),  # another queue
        job("c1", "09:00", "09:01", "09:05", "succeeded", tenant_id="C", queue="agentic_sessions"),
    ])  # fmt: skip
    load(store, tmp_path, [job("e1", "00:00", "00:01", "00:02", "succeeded", tenant_id="E", queue="agentic_sessions")
                           | {"enqueued_at": iso(DAY + timedelta(days=2)), "started_at": iso(DAY + timedelta(days=2)),
                              "finished_at": iso(DAY + timedelta(days=2))}])  # fmt: skip
    params = {"event": {"table": "jobs", "where": {"queue": "agentic_sessions", "status": "succeeded"},
                        "time": "finished_at"}}  # fmt: skip
    day = (DAY, DAY + timedelta(days=1))
    # A 20 min, B 60 min (C is older, D and E have none by the end): median 40 min
    assert run(store, "time_to_first", params, *day) == pytest.approx(40.0)
    assert run(store, "time_to_first", {**params, "stat": "avg", "unit": "h"}, *day) == pytest.approx(40.0 / 60)
    # E's completion two days later counts once the window reaches it: A 20, B 60, E 2 days - 11 h = 37 h
    three_days = (DAY, DAY + timedelta(days=3))
    assert run(store, "time_to_first", {**params, "stat": "avg"}, *three_days) == pytest.approx((20 + 60 + 37 * 60) / 3)


# ---------------------------------------------------------------------------------------------- in flight


def test_in_flight_running_and_queued(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, [
        job("j1", "09:00", "09:10", "09:50", "succeeded"),  # done before 10:00
        job("j2", "09:20", "09:40", None, "running"),  # running at 10:00
        job("j3", "09:30", None, None, "queued"),  # queued at 10:00
        job("j4", "09:35", "10:30", "10:40", "succeeded"),  # still queued at 10:00, started later
        job("j5", "09:05", None, "09:15", "canceled"),  # canceled while queued
        job("j6", "09:00", "09:01", None, "running", queue="etl"),  # another queue
    ])  # fmt: skip
    window = (at("09:55"), at("10:00"))
    running = {"since": "started_at", "until": ["finished_at"], "where": {"queue": "training"}}
    queued = {"since": "enqueued_at", "until": ["started_at", "finished_at"], "where": {"queue": "training"}}
    assert run(store, "in_flight", running, *window) == 1  # j2
    assert run(store, "in_flight", queued, *window) == 2  # j3 and j4
    # at 10:35 j4 runs too; j3 is still queued
    assert run(store, "in_flight", running, at("10:30"), at("10:35")) == 2
    assert run(store, "in_flight", queued, at("10:30"), at("10:35")) == 1
    # nothing at all had started by 09:00 in this queue: no data rather than a zero
    assert run(store, "in_flight", running, at("08:00"), at("09:00")) is None


# ---------------------------------------------------------------------------------------------- latest state


def breaker(project: str, when: str, state: str) -> dict[str, Any]:
    return tier_event("circuit_breaker_event", project, at(when), database_type="postgres", state=state,
                      error_threshold=0.5, volume=100)  # fmt: skip


def test_latest_state_counts_open_circuits(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, [
        breaker("p1", "09:00", "open"), breaker("p1", "09:20", "closed"),  # closed again
        breaker("p2", "09:50", "open"),  # open for 10 minutes at 10:00
        breaker("p3", "09:57", "open"),  # open for 3 minutes at 10:00
        breaker("p4", "09:10", "half_open"),
        breaker("p1", "10:30", "open"),  # after the window's end
    ])  # fmt: skip
    params = {"table": "tier_events", "key": ["project_id", "database_type"], "column": "state", "values": ["open"],
              "where": {"event_type": "circuit_breaker_event"}}  # fmt: skip
    window = (at("09:55"), at("10:00"))
    assert run(store, "latest_state", params, *window) == 2  # p2, p3
    assert run(store, "latest_state", {**params, "held_for": "5m"}, *window) == 1  # p2 only
    assert run(store, "latest_state", {**params, "held_for": "9m"}, *window) == 1  # p2: 10 minutes
    assert run(store, "latest_state", {**params, "held_for": "11m"}, *window) == 0
    assert run(store, "latest_state", {**params, "stat": "share"}, *window) == pytest.approx(50.0)  # 2 of 4
    assert run(store, "latest_state", params, at("10:35"), at("10:40")) == 3  # p1 reopened
    assert run(store, "latest_state", params, at("08:00"), at("08:30")) is None


# ---------------------------------------------------------------------------------------------- per group


def ceiling_hits(project: str, count: int) -> list[dict[str, Any]]:
    return [tier_event("tier_ceiling_hit", project, at(f"10:{i:02d}"), resource_type="connections", hit_count_24h=i,
                       upgrade_suggested=False) for i in range(count)]  # fmt: skip


def test_per_group_projects_over_a_ceiling(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, ceiling_hits("a", 6) + ceiling_hits("b", 5) + ceiling_hits("c", 7))
    hits = {"value": {"table": "tier_events", "where": {"event_type": "tier_ceiling_hit"}}, "by": "project_id"}
    hour = (at("10:00"), at("11:00"))
    assert run(store, "per_group", {**hits, "across": "count", "having": "> 5"}, *hour) == 2  # a (6) and c (7)
    assert run(store, "per_group", {**hits, "across": "share", "having": "> 5"}, *hour) == pytest.approx(200 / 3)
    assert run(store, "per_group", hits, *hour) == 7  # the most: c
    assert run(store, "per_group", {**hits, "across": "top_share"}, *hour) == pytest.approx(7 / 18 * 100)
    # a later hour with no hits at all: a real zero, since hits were recorded before
    assert run(store, "per_group", {**hits, "across": "count", "having": "> 5"}, at("12:00"), at("13:00")) == 0
    assert run(store, "per_group", hits, at("12:00"), at("13:00")) == 0  # the most hits of any project: none
    assert run(store, "per_group", {**hits, "across": "avg"}, at("12:00"), at("13:00")) is None  # no mean of nothing
    assert run(store, "per_group", hits, at("08:00"), at("09:00")) is None  # nothing recorded yet


def test_per_group_error_rate_of_the_worst_tenant(store: Store, tmp_path: Path) -> None:
    base = at("10:00")
    records = [request("A", base, status=500 if i == 0 else 200) for i in range(10)]  # 1 of 10: 10%
    records += [request("B", base, status=503 if i < 2 else 200) for i in range(4)]  # 2 of 4: 50%
    records += [request("C", base) for _ in range(20)]  # 0 of 20: 0%
    load(store, tmp_path, [r | {"event_id": f"r{i}"} for i, r in enumerate(records)])
    params = {"value": {"table": "requests", "where": {"status": {"gte": 500}}}, "of": {"table": "requests"},
              "by": "tenant_id"}  # fmt: skip
    hour = (at("10:00"), at("11:00"))
    assert run(store, "per_group", params, *hour) == pytest.approx(50.0)
    assert run(store, "per_group", {**params, "across": "avg"}, *hour) == pytest.approx(20.0)  # (10 + 50 + 0) / 3
    # B has only 4 requests: with min_rows 5 the worst is A
    assert run(store, "per_group", {**params, "min_rows": 5}, *hour) == pytest.approx(10.0)


def tenant_cpu(tenant_id: str, tier: str, values: list[float]) -> list[dict[str, Any]]:
    return [{"kind": "samples", "ts": iso(at(f"10:0{i}")), "metric": "tenant_cpu_millicores",
             "labels": {"tenant_id": tenant_id, "tier": tier}, "value": v} for i, v in enumerate(values)]  # fmt: skip


def test_per_group_samples_by_label_against_tier_limits(store: Store, tmp_path: Path) -> None:
    # t1 (FREE) averages 300 millicores, t2 (PRO) 1600
    load(store, tmp_path, tenant_cpu("t1", "FREE", [200, 400]) + tenant_cpu("t2", "PRO", [1500, 1700]))
    cpu = {"value": {"table": "samples", "agg": "avg", "column": "value",
                     "where": {"metric": "tenant_cpu_millicores"}}, "by": "labels.tenant_id"}  # fmt: skip
    hour = (at("10:00"), at("11:00"))
    # against limits of 500 (FREE) and 2000 (PRO): 60% and 80%
    limited = {**cpu, "limits": {"FREE": 500, "PRO": 2000}, "limit_by": "labels.tier"}
    assert run(store, "per_group", limited, *hour) == pytest.approx(80.0)
    assert run(store, "per_group", {**limited, "across": "min"}, *hour) == pytest.approx(60.0)
    # all tenants' average use, in cores: (300 + 1600) / 1000 = 1.9; PRO tenants only: 1.6
    in_cores = {**cpu, "value": {**cpu["value"], "scale": 0.001}, "across": "sum"}
    assert run(store, "per_group", in_cores, *hour) == pytest.approx(1.9)
    pro = {**in_cores, "value": {**in_cores["value"], "labels": {"tier": "PRO"}}}
    assert run(store, "per_group", pro, *hour) == pytest.approx(1.6)


def test_per_group_checks_its_parameters() -> None:
    value = {"table": "requests"}
    with pytest.raises(ValidationError, match="needs having"):
        parse_params("per_group", {"value": value, "by": "tenant_id", "across": "share"})
    with pytest.raises(ValidationError, match="no column 'team'"):
        parse_params("per_group", {"value": value, "by": "team"})
    with pytest.raises(ValidationError, match="cannot read condition"):
        parse_params("per_group", {"value": value, "by": "tenant_id", "across": "count", "having": "over 5"})


# ---------------------------------------------------------------------------------------------- budgets and limits


def test_burn_rate_of_an_availability_slo(store: Store, tmp_path: Path) -> None:
    records = [request("A", at("10:00"), status=500 if i == 0 else 200, tier="PRO") for i in range(100)]
    records += [request("B", at("10:00"), status=500, tier="FREE") for _ in range(5)]  # other tier
    load(store, tmp_path, [r | {"event_id": f"r{i}"} for i, r in enumerate(records)])
    params = {"good": {"table": "requests", "where": {"tier": "PRO", "status": {"lt": 500}}},
              "total": {"table": "requests", "where": {"tier": "PRO"}}, "target": 99.5}  # fmt: skip
    hour = (at("10:00"), at("11:00"))
    # compliance 99 / 100 = 0.99; burn (1 - 0.99) / (1 - 0.995) = 2
    assert run(store, "burn_rate", params, *hour) == pytest.approx(2.0)
    assert run(store, "burn_rate", {**params, "target": 99.0}, *hour) == pytest.approx(1.0)
    assert run(store, "burn_rate", params, at("12:00"), at("13:00")) is None


def test_rate_limit_consumption_peak_minute_of_the_busiest_key(store: Store, tmp_path: Path) -> None:
    records = [request("A", at("10:00:01"), api_key="k1", tier="FREE") for _ in range(30)]  # 30 in 10:00
    records += [request("A", at("10:01:30"), api_key="k1", tier="FREE") for _ in range(12)]  # 12 in 10:01
    records += [request("B", at("10:02:59"), api_key="k2", tier="PRO") for _ in range(15)]  # 15 in 10:02
    load(store, tmp_path, [r | {"event_id": f"r{i}"} for i, r in enumerate(records)])
    params = {"limits": {"FREE": 60, "PRO": 20}}
    window = (at("10:00"), at("10:05"))
    # k1 peaks at 30 / 60 = 50%, k2 at 15 / 20 = 75%
    assert run(store, "rate_limit_consumption", params, *window) == pytest.approx(75.0)
    assert run(store, "rate_limit_consumption", {**params, "where": {"tier": "FREE"}}, *window) == pytest.approx(50.0)
    # per tenant the same here; keys of a tier without a limit are left out
    assert run(store, "rate_limit_consumption", {"limits": {"FREE": 60}, "per": "tenant_id"}, *window) == 50.0
    with pytest.raises(ValidationError, match="per plan tier"):
        parse_params("rate_limit_consumption", {"limits": {"GOLD": 10}})


def limit_hit(when: str, action: str, rejections: int, tier: str) -> dict[str, Any]:
    return tier_event("limit_hit", "p", at(when), tier=tier, limit_type="max_pool_size", action=action, queue_depth=0,
                      rejection_count=rejections)  # fmt: skip


def test_occurrences_rejected_connections_per_minute(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, [
        limit_hit("10:00", "rejected", 100, "PRO"), limit_hit("10:03", "rejected", 50, "ENTERPRISE"),
        limit_hit("10:04", "queued", 0, "PRO"), limit_hit("10:02", "rejected", 400, "FREE"),
    ])  # fmt: skip
    params = {"table": "tier_events", "column": "rejection_count", "per": "min",
              "where": {"event_type": "limit_hit", "action": "rejected", "tier": ["PRO", "ENTERPRISE"]}}  # fmt: skip
    # (100 + 50) rejections in 5 minutes: 30 per minute, 0.5 per second, 150 in all
    assert run(store, "occurrences", params, at("10:00"), at("10:05")) == pytest.approx(30.0)
    assert run(store, "occurrences", {**params, "per": "s"}, at("10:00"), at("10:05")) == pytest.approx(0.5)
    assert run(store, "occurrences", {**params, "per": None}, at("10:00"), at("10:05")) == pytest.approx(150.0)
    # rejected limit hits in the window, counted: 3
    hits = {"table": "tier_events", "where": {"event_type": "limit_hit", "action": "rejected"}}
    assert run(store, "occurrences", hits, at("10:00"), at("10:05")) == 3
    assert run(store, "occurrences", params, at("11:00"), at("11:05")) == 0.0
    # nothing recorded yet before 10:00: no data
    assert run(store, "occurrences", params, at("09:00"), at("09:05")) is None


def test_occurrences_none_of_a_kind_never_seen_is_a_zero(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, [tier_event("cold_start", "p", at("10:00"), tier="FREE", source_tier="COLD",
                                      cache_level="L1_miss", startup_duration_ms=900.0,
                                      first_query_latency_ms=950.0)])  # fmt: skip
    enterprise = {"table": "tier_events", "where": {"event_type": "cold_start", "tier": "ENTERPRISE"}}
    # no ENTERPRISE cold start ever, but the tier event log reports: a real 0
    assert run(store, "occurrences", enterprise, at("10:00"), at("10:05")) == 0.0
    # unless the known rows must be ENTERPRISE events of some other kind, of which there are none
    known = {**enterprise, "known": {"tier": "ENTERPRISE"}}
    assert run(store, "occurrences", known, at("10:00"), at("10:05")) is None
    assert run(store, "occurrences", {**enterprise, "where": {"tier": "FREE"}}, at("10:00"), at("10:05")) == 1


def subscription(
    tenant_id: str, tier: str, interval: str, amount: float, status: str, when: datetime
) -> dict[str, Any]:
    return {"kind": "subscriptions", "ts": when.isoformat(), "tenant_id": tenant_id,
            "subscription_id": f"s-{tenant_id}", "plan": tier.lower(), "tier": tier, "interval": interval,
            "amount": amount, "currency": "USD", "status": status}  # fmt: skip


def test_mrr_by_tier(store: Store, tmp_path: Path) -> None:
    start = DAY - timedelta(days=10)
    load(store, tmp_path, [
        subscription("A", "PRO", "month", 99.0, "active", start),  # 99
        subscription("B", "STARTER", "month", 29.0, "active", start),  # 29
        subscription("C", "PRO", "year", 1200.0, "active", start),  # 100 a month
        subscription("D", "BUSINESS", "month", 499.0, "canceled", start),  # pays nothing
        subscription("B", "PRO", "month", 99.0, "active", DAY + timedelta(days=2)),  # upgrades after the window
    ])  # fmt: skip
    window = (DAY - timedelta(days=1), DAY)
    assert run(store, "mrr_by_tier", {"tier": "PRO"}, *window) == pytest.approx(199.0)
    assert run(store, "mrr_by_tier", {"tier": "STARTER"}, *window) == pytest.approx(29.0)
    assert run(store, "mrr_by_tier", {"tier": "BUSINESS"}, *window) == 0.0
    assert run(store, "mrr_by_tier", {"tier": "PRO", "share": True}, *window) == pytest.approx(199 / 228 * 100)
    # after B's upgrade: PRO 99 + 100 + 99 = 298
    later = (DAY + timedelta(days=2), DAY + timedelta(days=3))
    assert run(store, "mrr_by_tier", {"tier": "PRO"}, *later) == pytest.approx(298.0)


# ---------------------------------------------------------------------------------------------- combinations


def test_quotient_free_tier_conversion(store: Store, tmp_path: Path) -> None:
    old = DAY - timedelta(days=60)
    plan_change = {"to_tier": "PRO", "effective_timestamp": iso(at("12:00"))}
    load(store, tmp_path, [tenant(f"f{i}", "FREE", old) for i in range(4)] + [tenant("p1", "PRO", old)] + [
        tier_event("plan_change", "x", at("12:00"), from_tier="FREE", change_type="upgrade", **plan_change),
        tier_event("plan_change", "y", at("13:00"), from_tier="PRO", change_type="downgrade",
                   **{**plan_change, "to_tier": "FREE"}),
    ])  # fmt: skip
    upgrades = {"table": "tier_events", "where": {"event_type": "plan_change", "from_tier": "FREE",
                                                  "change_type": "upgrade"}}  # fmt: skip
    free = {"table": "tenants", "key": ["tenant_id"], "column": "tier", "values": ["FREE"]}
    params = {"numerator": {"measure": "aggregate", "params": upgrades},
              "denominator": {"measure": "latest_state", "params": free}}  # fmt: skip
    # 1 upgrade from FREE / 4 FREE tenants = 25%
    assert run(store, "quotient", params, DAY, DAY + timedelta(days=1)) == pytest.approx(25.0)
    assert run(store, "quotient", {**params, "percent": False}, DAY, DAY + timedelta(days=1)) == pytest.approx(0.25)
    with pytest.raises(ValidationError, match="unknown measure 'nope'"):
        parse_params("quotient", {"numerator": {"measure": "nope"}, "denominator": params["denominator"]})
    with pytest.raises(ValidationError, match="params of measure latest_state"):
        parse_params(
            "quotient",
            {
                "numerator": params["numerator"],
                "denominator": {"measure": "latest_state", "params": {"table": "tenants"}},
            },
        )


def test_delta_of_the_worst_latency_against_yesterday(store: Store, tmp_path: Path) -> None:
    yesterday, today = DAY - timedelta(days=1), DAY
    records = [request("A", yesterday + timedelta(hours=1), latency=v) for v in (40.0, 100.0)]
    records += [request("A", today + timedelta(hours=1), latency=v) for v in (60.0, 180.0)]
    records.append(request("A", yesterday, latency=10.0))  # requests are recorded since yesterday's start
    load(store, tmp_path, [r | {"event_id": f"r{i}"} for i, r in enumerate(records)])
    worst = {"measure": "aggregate", "params": {"table": "requests", "agg": "max", "column": "latency_ms"}}
    # today's worst 180 ms - yesterday's 100 ms = +80 ms
    assert run(store, "delta", {"of": worst}, today, today + timedelta(days=1)) == pytest.approx(80.0)
    # against two days ago (nothing recorded): no data
    assert run(store, "delta", {"of": worst, "baseline": "2d"}, today, today + timedelta(days=1)) is None

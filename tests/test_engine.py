"""The engine on small hand-built stores: each KPI family against values computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from healthdeck.catalog.models import AREA_WEIGHTS
from healthdeck.engine.measures.customers import tenant_health
from healthdeck.engine.scoring import Status
from healthdeck.engine.serialize import health_json
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store.connection import Store
from healthdeck.store.ingest import ingest_files

from .conftest import write_jsonl

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CATALOG = load_checked_catalog()


def load(store: Store, tmp_path: Path, records: list[dict[str, Any]]) -> Engine:
    path = write_jsonl(tmp_path / f"data{len(list(tmp_path.iterdir()))}.jsonl", records)
    report = ingest_files(store, [str(path)], rejects_path=tmp_path / "rejects.jsonl")
    assert report.rejected == 0, [r.describe() for r in report.first_rejects]
    return Engine(store, CATALOG)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def requests_last_5_minutes() -> list[dict[str, Any]]:
    """1000 requests, latencies 1..1000 ms, 3 answered 5xx and 60 answered 4xx."""
    records = []
    for i in range(1000):
        status = 503 if i < 3 else 404 if i < 63 else 200
        records.append(
            {
                "kind": "requests",
                "event_id": f"q{i}",
                "ts": iso(AT - timedelta(seconds=1 + i % 300)),  # the first one opens the window
                "tenant_id": "t1",
                "endpoint": "/v1/infer",
                "method": "GET",
                "status": status,
                "latency_ms": float(i + 1),
            }
        )
    return records


def test_request_family(store: Store, tmp_path: Path) -> None:
    engine = load(store, tmp_path, requests_last_5_minutes())
    results = {
        r.kpi.id: r
        for r in engine.evaluate(
            [
                CATALOG.get(k)
                for k in (
                    "request_rate",
                    "error_rate_5xx",
                    "error_rate_4xx",
                    "api_latency_p50",
                    "api_latency_p95",
                    "api_latency_p99",
                )
            ],
            at=AT,
        )
    }
    # The newest request is 1 s before AT: the window is measured up to it, not over the unreported second.
    assert results["request_rate"].value == pytest.approx(1000 / 299.000001)  # 3.34/s
    assert results["request_rate"].status is Status.CRITICAL  # < 5/s
    assert results["error_rate_5xx"].value == pytest.approx(0.3)  # 3 / 1000
    assert results["error_rate_5xx"].status is Status.WARNING  # 0.1–1 %
    assert results["error_rate_4xx"].value == pytest.approx(6.0)  # 60 / 1000
    # Continuous quantiles of 1..1000: 1 + q × 999
    assert results["api_latency_p50"].value == pytest.approx(500.5)
    assert results["api_latency_p95"].value == pytest.approx(950.05)
    assert results["api_latency_p99"].value == pytest.approx(990.01)
    assert results["api_latency_p95"].score == pytest.approx(0.0)  # beyond worst (500 ms)
    # Before the first request ever recorded there is no data, not a rate of zero.
    assert results["request_rate"].previous is None


def minute_samples(
    metric: str, values: list[float], labels: dict[str, str] | None = None, every: timedelta = timedelta(minutes=1)
) -> list[dict[str, Any]]:
    """Samples ending just before AT, oldest first."""
    return [
        {
            "kind": "samples",
            "ts": iso(AT - every * (len(values) - i)),
            "metric": metric,
            "labels": labels or {},
            "value": v,
        }
        for i, v in enumerate(values)
    ]


def test_uptime_and_gauges(store: Store, tmp_path: Path) -> None:
    up = [1.0] * 1440
    up[100] = up[900] = 0.0
    records = minute_samples("up", up, {"service": "api"}) + minute_samples("up", [0.0] * 1440, {"service": "db"})
    records += minute_samples("pods_ready", [5, 5, 4, 3, 2]) + minute_samples("pod_restarts", [0] * 50 + [2, 0, 4])
    engine = load(store, tmp_path, records)
    uptime = engine.kpi("uptime", at=AT)
    assert uptime.value == pytest.approx(1438 / 1440 * 100)  # 99.861 %, the db's downtime does not count
    assert uptime.status is Status.WARNING
    assert uptime.score == pytest.approx(60 + 20 * (1438 / 1440 * 100 - 99.5) / 0.4)
    assert engine.kpi("pod_count", at=AT).value == 2  # the last sample in the window
    assert engine.kpi("pod_restarts", at=AT).value == 6  # sum over the hour -> CRITICAL (> 5)
    assert engine.kpi("pod_restarts", at=AT).status is Status.CRITICAL


def activity(user: str, moment: datetime, event: str = "login", tenant: str = "t1") -> dict[str, Any]:
    return {"kind": "activity", "ts": iso(moment), "tenant_id": tenant, "user_id": user, "event": event}


def test_active_users_stickiness_and_trend(store: Store, tmp_path: Path) -> None:
    records = [activity(f"u{i}", AT - timedelta(hours=2)) for i in range(10)]  # DAU 10
    records += [activity(f"u{i}", AT - timedelta(days=3)) for i in range(10, 40)]  # MAU 40
    records += [activity(f"u{i}", AT - timedelta(days=7, hours=2)) for i in range(8)]  # DAU a week ago: 8
    records.append(activity("early", AT - timedelta(days=40)))  # activity is recorded since long before
    engine = load(store, tmp_path, records)
    dau = engine.kpi("dau", at=AT)
    assert (dau.value, dau.previous) == (10, 8)
    assert dau.change_pct == pytest.approx(25.0) and dau.status is Status.GOOD  # growing
    stickiness = engine.kpi("stickiness", at=AT)
    assert stickiness.value == pytest.approx(25.0)  # 10 / 40, on the boundary: WARNING
    assert stickiness.status is Status.WARNING


def test_engagement_activation_and_returns(store: Store, tmp_path: Path) -> None:
    signup = AT - timedelta(days=10)
    users = [{"kind": "users", "user_id": f"n{i}", "tenant_id": "t1", "signup_at": iso(signup)} for i in range(5)]
    records = [
        *users,
        activity("n0", signup + timedelta(days=1, hours=1)),  # returns on D1
        activity("n1", signup + timedelta(days=1, hours=3)),  # returns on D1
        activity("n2", signup + timedelta(days=2)),  # day 2 does not count for D1
        activity("n0", signup + timedelta(hours=5), "training_job_completed"),
        activity("n3", signup + timedelta(days=8), "training_job_completed"),  # after 7 days
        activity("n0", signup + timedelta(days=3), "dataset_upload"),
        activity("n0", signup + timedelta(days=4), "model_deploy"),
        activity("early", AT - timedelta(days=40)),  # activity is recorded since before the 30-day window
    ]
    engine = load(store, tmp_path, records)
    assert engine.kpi("return_rate_d1", at=AT).value == pytest.approx(40.0)  # 2 of 5
    assert engine.kpi("activation_rate", at=AT).value == pytest.approx(40.0)  # n0 and n3 trained: 2 of 5
    assert engine.kpi("activation_rate_7d", at=AT).value == pytest.approx(20.0)  # only n0 within a week
    # Active users n0..n3; only n0 used 3 features besides login (training, upload, deploy): 1 of 4
    assert engine.kpi("feature_adoption", at=AT).value == pytest.approx(25.0)
    assert engine.kpi("time_to_value", at=AT).value == pytest.approx((5 / 24 + 8) / 2)  # median of n0, n3


def subscription(
    tenant: str,
    moment: datetime,
    amount: float,
    *,
    status: str = "active",
    interval: str = "month",
    tier: str = "PRO",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "kind": "subscriptions",
        "ts": iso(moment),
        "tenant_id": tenant,
        "subscription_id": f"s-{tenant}",
        "plan": tier.lower(),
        "tier": tier,
        "interval": interval,
        "amount": amount,
        "currency": "USD",
        "status": status,
        **extra,
    }


def test_revenue_movements(store: Store, tmp_path: Path) -> None:
    long_ago, start = AT - timedelta(days=90), AT - timedelta(days=30)
    records = [
        subscription("A", long_ago, 99, quantity=2, discount_pct=50),  # 99 × 2 × 0.5 = 99 / month
        subscription("B", long_ago, 499, tier="BUSINESS"),
        subscription("B", AT - timedelta(days=10), 499, tier="BUSINESS", status="canceled"),  # churns
        subscription("C", long_ago, 12000, interval="year", tier="ENTERPRISE"),  # 1000 / month
        subscription("C", AT - timedelta(days=5), 24000, interval="year", tier="ENTERPRISE"),  # expands to 2000
        subscription("D", AT - timedelta(days=20), 99, status="trialing"),
        subscription("D", AT - timedelta(days=6), 99),  # new paying customer
        {"kind": "spend", "ts": iso(AT - timedelta(days=3)), "category": "marketing", "amount": 3000},
        {"kind": "spend", "ts": iso(AT - timedelta(days=4)), "category": "sales", "amount": 1000},
        {"kind": "spend", "ts": iso(AT - timedelta(days=4)), "category": "compute", "amount": 9999},
        {"kind": "spend", "ts": iso(long_ago), "category": "marketing", "amount": 500},  # spend recorded since
    ]
    engine = load(store, tmp_path, records)
    value = {
        k: engine.kpi(k, at=AT).value
        for k in (
            "mrr",
            "arpu",
            "net_revenue_retention",
            "gross_revenue_retention",
            "logo_churn_rate",
            "revenue_churn_rate",
            "expansion_rate",
            "cac",
        )
    }
    start_mrr, end_mrr = 99 + 499 + 1000, 99 + 2000 + 99
    assert value["mrr"] == pytest.approx(end_mrr)
    assert engine.kpi("mrr", at=AT).change_pct == pytest.approx((end_mrr - start_mrr) / start_mrr * 100)
    assert engine.kpi("mrr", at=AT).status is Status.GOOD  # +37.5 % MoM
    assert value["arpu"] == pytest.approx(end_mrr / 3)
    assert value["net_revenue_retention"] == pytest.approx((start_mrr + 1000 - 499) / start_mrr * 100)
    assert value["gross_revenue_retention"] == pytest.approx((start_mrr - 499) / start_mrr * 100)
    assert value["logo_churn_rate"] == pytest.approx(100 / 3)
    assert value["revenue_churn_rate"] == pytest.approx(499 / start_mrr * 100)
    assert value["expansion_rate"] == pytest.approx(1000 / start_mrr * 100)
    assert value["cac"] == pytest.approx(4000.0)  # sales + marketing, one new paying customer (D)
    assert start < AT


def capacity_samples(resource: str, total: float, used: list[float]) -> list[dict[str, Any]]:
    labels = {"resource": resource}
    hourly = timedelta(hours=1)
    return minute_samples("capacity_total", [total] * len(used), labels, hourly) + minute_samples(
        "capacity_used", used, labels, hourly
    )


def test_capacity_utilisation_and_days_until_full(store: Store, tmp_path: Path) -> None:
    hours = 7 * 24
    growing = [2.1 + 0.1 * (h + 1) / 24 for h in range(hours)]  # +0.1 GPU a day, 2.8 at the end
    flat = [45.0] * hours
    engine = load(store, tmp_path, capacity_samples("gpu", 4, growing) + capacity_samples("db_connections", 100, flat))
    assert engine.kpi("capacity_gpu", at=AT).value == pytest.approx(70.0)  # 2.8 / 4
    assert engine.kpi("capacity_gpu", at=AT).status is Status.GOOD  # target < 85 %
    days = engine.kpi("days_until_full_gpu", at=AT)
    assert days.value == pytest.approx(12.0, rel=1e-6)  # (4 − 2.8) / 0.1 per day
    assert days.status is Status.CRITICAL  # under 14 days
    assert engine.kpi("days_until_full_db_connections", at=AT).value == 3650.0  # not growing


def test_tenant_health_matches_the_specification_query(store: Store, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    tenant = {
        "kind": "tenants",
        "name": "x",
        "tier": "PRO",
        "plan": "pro",
        "created_at": "2026-01-01T00:00:00Z",
        "enterprise": False,
    }
    records = [{**tenant, "tenant_id": t} for t in ("A", "B")]
    records += [
        {
            "kind": "requests",
            "event_id": f"A{i}",
            # Early today (UTC), so "active today" holds whatever time the test runs at.
            "ts": iso(now.replace(hour=0, minute=0, second=1, microsecond=0)),
            "tenant_id": "A",
            "endpoint": "/x",
            "method": "GET",
            "status": 200,
            "latency_ms": 1,
        }
        for i in range(2500)
    ]
    records += [activity("ua", now - timedelta(days=3), f"f{i}", tenant="A") for i in range(2)]
    records += [
        {
            "kind": "tickets",
            "ticket_id": "T1",
            "tenant_id": "B",
            "priority": "P2",
            "opened_at": iso(now - timedelta(days=1)),
            "status": "open",
        }
    ]
    engine = load(store, tmp_path, records)
    seed_sql = (Path(__file__).parent / "data" / "seed_sql" / "customer_health_score.sql").read_text()
    expected = {t: float(score) for t, score, _ in store.con.execute(seed_sql).fetchall()}
    ours = {t.tenant_id: t.score for t in tenant_health(engine.context(), now)}
    assert ours == pytest.approx(expected)
    assert ours["A"] == pytest.approx(7.5 + 25 + 10 + 20)  # 2500 calls, active today, 2 features, no tickets


def test_overall_score_is_the_weighted_mean_of_its_areas(store: Store, tmp_path: Path) -> None:
    records = requests_last_5_minutes() + minute_samples("up", [1.0] * 1440, {"service": "api"})
    records += capacity_samples("gpu", 4, [3.0] * 48) + capacity_samples("cpu_cores", 20, [10.0] * 48)
    engine = load(store, tmp_path, records)
    report = health_json(engine.health(at=AT))
    areas = {name: a for name, a in report["areas"].items() if a["score"] is not None}
    assert set(areas) == {"service", "capacity"}  # customer and business have no data: left out
    for area in areas.values():
        scored = [k for k in area["kpis"] if k["score"] is not None]
        expected = sum(k["score"] * k["weight"] for k in scored) / sum(k["weight"] for k in scored)
        assert area["score"] == pytest.approx(expected, abs=0.01)
    weights = {name: AREA_WEIGHTS[name] for name in areas}
    overall = sum(areas[n]["score"] * w for n, w in weights.items()) / sum(weights.values())
    assert report["score"] == pytest.approx(overall, abs=0.01)
    lost = sum(k["points_lost"] or 0 for a in report["areas"].values() for k in a["kpis"])
    assert lost == pytest.approx(100 - report["score"], abs=0.05)
    assert report["status"] == ("GREEN" if report["score"] >= 80 else "YELLOW" if report["score"] >= 60 else "RED")


def test_empty_store_reports_no_data(store: Store) -> None:
    report = Engine(store, CATALOG).health(at=AT)
    assert report.score is None and report.status is None
    assert all(r.status is Status.NO_DATA for r in report.results())
    assert health_json(report)["explanation"] == ["No KPI has data yet: ingest events or run `healthdeck simulate`."]


def test_signup_to_paid_is_the_median_over_tenants_created_in_the_window(store: Store, tmp_path: Path) -> None:
    def tenant(tenant_id: str, days_ago: float) -> dict[str, Any]:
        return {
            "kind": "tenants",
            "tenant_id": tenant_id,
            "name": tenant_id,
            "tier": "PRO",
            "plan": "pro",
            "created_at": iso(AT - timedelta(days=days_ago)),
            "enterprise": False,
        }

    def payment(tenant_id: str, days_ago: float, status: str = "succeeded") -> dict[str, Any]:
        return {
            "kind": "payments",
            "ts": iso(AT - timedelta(days=days_ago)),
            "tenant_id": tenant_id,
            "amount": 99,
            "currency": "USD",
            "status": status,
        }

    records = [
        tenant("A", 20),
        payment("A", 18),  # 2 days
        tenant("B", 25),
        payment("B", 21, "failed"),
        payment("B", 15),  # 10 days: the failed try does not count
        tenant("C", 28),
        payment("C", 22),  # 6 days
        tenant("D", 10),  # never paid: not in the median
        tenant("E", 40),
        payment("E", 39),  # created before the window
    ]
    engine = load(store, tmp_path, records)
    assert engine.kpi("signup_to_paid", at=AT).value == pytest.approx(6.0)  # median of 2, 6, 10


def test_windowed_templates_give_the_same_answer_as_compiling_each_window(store: Store, tmp_path: Path) -> None:
    from healthdeck.engine.measures.base import Window
    from healthdeck.engine.measures.generic import Aggregate, aggregate_expr, filtered

    engine = load(store, tmp_path, requests_last_5_minutes())
    specs = [
        Aggregate(table="requests", agg="rate_per_s"),
        Aggregate(table="requests", agg="quantile", column="latency_ms", q=0.9, where={"status": {"lt": 500}}),
        Aggregate(table="requests", agg="count", where={"status": [404, 503]}),
    ]
    seen = []
    for spec in specs:
        for minutes, shift in ((5, 0), (5, 2), (3, 1)):
            ctx = engine.context()
            window = Window.ending(AT - timedelta(minutes=shift), timedelta(minutes=minutes))
            direct = ctx.scalar(aggregate_expr(filtered(ctx, spec, window), spec))
            templated = engine.context().windowed_scalar(
                ("test", spec.model_dump_json()),
                window,
                lambda w, s=spec, c=ctx: aggregate_expr(filtered(c, s, w), s),
            )
            assert templated == pytest.approx(direct), (spec, minutes, shift)
            seen.append(direct)
    assert len(set(seen)) > 5, "the windows should give different answers, or the test proves nothing"


def test_a_service_that_never_failed_has_a_zero_error_rate_not_no_data(store: Store, tmp_path: Path) -> None:
    records = [r for r in requests_last_5_minutes() if r["status"] == 200]
    engine = load(store, tmp_path, records)
    result = engine.kpi("error_rate_5xx", at=AT)
    assert (result.value, result.status) == (0.0, Status.GOOD)
    assert engine.kpi("error_rate_5xx", at=AT - timedelta(days=1)).status is Status.NO_DATA  # before any traffic


def test_change_since_the_previous_period_compares_only_kpis_scored_in_both(store: Store, tmp_path: Path) -> None:
    # Uptime has two days of samples (both periods); requests exist only in the last 5 minutes.
    up = [1.0] * 2880
    up[-10] = 0.0  # one bad minute today: 99.93 % now, 100 % the day before
    engine = load(store, tmp_path, requests_last_5_minutes() + minute_samples("up", up, {"service": "api"}))
    report = engine.health(at=AT, areas=["service"])
    service = report.areas["service"]
    uptime = next(r for r in service.kpis if r.kpi.id == "uptime")
    assert uptime.score is not None and uptime.previous_score == 100.0
    assert service.comparable_score == pytest.approx(uptime.score)  # the only KPI scored in both periods
    assert report.change == pytest.approx(uptime.score - 100.0)
    assert service.score != service.comparable_score  # the request KPIs still count in the score itself

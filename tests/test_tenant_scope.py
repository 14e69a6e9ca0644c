"""KPIs of one tenant: a hand-built store of two tenants whose every formula family differs,
checked against values computed by hand, through the engine, the CLI and the API."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from healthdeck.engine.measures import Window
from healthdeck.engine.scoring import Status
from healthdeck.engine.serialize import health_json
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store.connection import open_store

from .conftest import ingested, run_cli
from .test_engine import subscription
from .test_serve_server import Server

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CATALOG = load_checked_catalog()
INJECTION = "t1' OR '1'='1"


def iso(moment: datetime) -> str:
    return moment.isoformat()


def requests(tenant: str, count: int, *, lowest_ms: float, failed: int) -> list[dict[str, Any]]:
    """`count` requests in the last 5 minutes, latencies lowest_ms, lowest_ms + 1, …, the first `failed` 5xx."""
    return [
        {
            "kind": "requests",
            "event_id": f"{tenant}-q{i}",
            "ts": iso(AT - timedelta(seconds=300 - i % 300)),  # bolt's first request opens the store's data
            "tenant_id": tenant,
            "endpoint": "/v1/infer",
            "method": "GET",
            "status": 503 if i < failed else 200,
            "latency_ms": lowest_ms + i,
        }
        for i in range(count)
    ]


def activity(tenant: str, user: str, moment: datetime) -> dict[str, Any]:
    return {"kind": "activity", "ts": iso(moment), "tenant_id": tenant, "user_id": user, "event": "login"}


def cpu(tenant: str | None, minutes_ago: int, value: float, tier: str = "PRO") -> dict[str, Any]:
    """A tenant's CPU reading (labelled with it), or the cluster's (tenant None, metric cpu_utilization_pct)."""
    if tenant is None:
        labels, metric = {"service": "api"}, "cpu_utilization_pct"
    else:
        labels, metric = {"tenant_id": tenant, "tier": tier}, "tenant_cpu_millicores"
    return {
        "kind": "samples",
        "ts": iso(AT - timedelta(minutes=minutes_ago)),
        "metric": metric,
        "labels": labels,
        "value": value,
    }


def tenant(tenant_id: str, tier: str) -> dict[str, Any]:
    created = iso(AT - timedelta(days=120))
    return {"kind": "tenants", "tenant_id": tenant_id, "name": tenant_id, "tier": tier, "plan": tier.lower(),
            "created_at": created, "enterprise": False}  # fmt: skip


def records() -> list[dict[str, Any]]:
    long_ago = AT - timedelta(days=90)
    return [
        tenant("acme", "PRO"),
        tenant("bolt", "BUSINESS"),
        # acme: 100 requests of 1..100 ms, 5 failed; bolt: 200 of 1001..1200 ms, 1 failed
        *requests("acme", 100, lowest_ms=1, failed=5),
        *requests("bolt", 200, lowest_ms=1001, failed=1),
        # DAU: acme 3, bolt 7; activity recorded since 40 days ago (bolt's first login)
        *[activity("acme", f"a{i}", AT - timedelta(hours=2)) for i in range(3)],
        *[activity("bolt", f"b{i}", AT - timedelta(hours=3)) for i in range(7)],
        activity("bolt", "b0", AT - timedelta(days=40)),
        # acme pays 99, then 198 from 5 days ago; bolt pays 499 and cancels 10 days ago
        subscription("acme", long_ago, 99, tier="PRO"),
        subscription("acme", AT - timedelta(days=5), 198, tier="PRO"),
        subscription("bolt", long_ago, 499, tier="BUSINESS"),
        subscription("bolt", AT - timedelta(days=10), 499, tier="BUSINESS", status="canceled"),
        # tenant CPU: acme 500 of its PRO quota of 1000 millicores, bolt 1500 of BUSINESS's 2000
        cpu("acme", 30, 500),
        cpu("bolt", 30, 1500, tier="BUSINESS"),
        cpu(None, 2, 42.0),  # the cluster's CPU: no tenant's
        {"kind": "spend", "ts": iso(AT - timedelta(days=3)), "category": "marketing", "amount": 3000},
    ]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingested(tmp_path_factory.mktemp("tenants"), records())


KPIS = (
    "error_rate_5xx",
    "api_latency_p95",
    "request_rate",
    "dau",
    "mrr",
    "logo_churn_rate",
    "revenue_churn_rate",
    "net_revenue_retention",
    "tenant_count",
    "tenant_cpu_peak",
    "cpu_utilization",
    "cac",
)
# Coverage is the whole store's, not a tenant's: requests begin 300 s before AT (the first of each
# tenant) and the store's newest event is bolt's last request, 101 s before AT, so every tenant's
# 5-minute window is measured over those 199 s (acme's own requests end 201 s before AT).
SPAN_S = 199.000001
EXPECTED: dict[str | None, dict[str, float | None]] = {
    "acme": {
        "error_rate_5xx": 5.0,  # 5 of 100
        "api_latency_p95": 1 + 0.95 * 99,  # continuous quantile of 1..100
        "request_rate": 100 / SPAN_S,
        "dau": 3,
        "mrr": 198,
        "logo_churn_rate": 0.0,
        "revenue_churn_rate": 0.0,
        "net_revenue_retention": 200.0,  # 99 -> 198
        "tenant_count": 1,
        "tenant_cpu_peak": 50.0,  # 500 / 1000
        "cpu_utilization": None,  # the cluster's, not acme's
        "cac": None,  # spend has no tenant
    },
    "bolt": {
        "error_rate_5xx": 0.5,  # 1 of 200
        "api_latency_p95": 1001 + 0.95 * 199,
        "request_rate": 200 / SPAN_S,
        "dau": 7,
        "mrr": 0,
        "logo_churn_rate": 100.0,
        "revenue_churn_rate": 100.0,
        "net_revenue_retention": 0.0,
        "tenant_count": 1,
        "tenant_cpu_peak": 75.0,  # 1500 / 2000
        "cpu_utilization": None,
        "cac": None,
    },
    None: {
        "error_rate_5xx": 2.0,  # 6 of 300
        # rank 0.95 × 299 = 284.05 of 1..100 then 1001..1200: between the 285th (1185) and 286th values
        "api_latency_p95": 1185.05,
        "request_rate": 300 / SPAN_S,
        "dau": 10,
        "mrr": 198,
        "logo_churn_rate": 50.0,  # bolt of 2
        "revenue_churn_rate": 499 / 598 * 100,
        "net_revenue_retention": 198 / 598 * 100,
        "tenant_count": 2,
        "tenant_cpu_peak": 75.0,  # the busiest tenant
        "cpu_utilization": 42.0,
        "cac": None,  # no new paying customer
    },
}


@pytest.fixture(scope="module")
def engine(db: Path) -> Iterator[Engine]:
    with open_store(db, read_only=True) as store:
        yield Engine(store, CATALOG)


@pytest.mark.parametrize("who", ["acme", "bolt", None])
def test_every_formula_family_for_one_tenant_and_for_all(engine: Engine, who: str | None) -> None:
    results = {r.kpi.id: r for r in engine.evaluate([CATALOG.get(k) for k in KPIS], at=AT, tenant=who)}
    values = {k: results[k].value for k in KPIS}
    assert values == pytest.approx(EXPECTED[who])


def test_a_kpi_over_a_table_without_tenant_says_it_is_not_available_per_tenant(engine: Engine) -> None:
    cpu, cac = engine.evaluate([CATALOG.get("cpu_utilization"), CATALOG.get("cac")], at=AT, tenant="acme")
    assert cpu.status is Status.NO_DATA
    assert cpu.problem == "not available per tenant: it reads samples not grouped or filtered by a tenant_id label"
    assert cac.problem is not None and "spend, which has no tenant_id" in cac.problem
    assert engine.kpi("cpu_utilization", at=AT).problem is None  # every tenant's: the cluster's CPU


def test_one_tenants_report_leaves_out_what_is_not_per_tenant(engine: Engine) -> None:
    report = health_json(engine.health(at=AT, tenant="acme"))
    assert report["tenant"] == "acme"
    kpis = {k["id"]: k for area in report["areas"].values() for k in area["kpis"]}
    assert kpis["cpu_utilization"]["status"] == "NO_DATA" and kpis["cpu_utilization"]["points_lost"] is None
    assert "tenant" not in health_json(engine.health(at=AT))  # every tenant's report is unchanged


def test_compare_for_a_tenant(engine: Engine) -> None:
    first, second = Window(AT - timedelta(days=20), AT - timedelta(days=10)), Window(AT - timedelta(days=10), AT)
    kpis = [CATALOG.get("mrr"), CATALOG.get("cac")]

    def mrr_and_cac(who: str | None) -> list[tuple[float | None, float | None]]:
        return [(row.first, row.second) for row in engine.compare(kpis, first, second, at=AT, tenant=who).rows]

    # MRR at each period's end: acme 99 then 198; bolt 499 (it cancels exactly at the second's start) then 0
    assert mrr_and_cac("acme") == [(99, 198), (None, None)]  # CAC reads spend: not per tenant
    assert mrr_and_cac("bolt") == [(499, 0), (None, None)]
    assert mrr_and_cac(None)[0] == (598, 198)


def test_a_tenant_id_made_of_sql_is_just_a_tenant_without_data(engine: Engine) -> None:
    injected = health_json(engine.health(at=AT, tenant=INJECTION))
    nobody = health_json(engine.health(at=AT, tenant="nobody"))
    assert {**injected, "tenant": "nobody"} == nobody
    assert injected["score"] is None
    assert engine.kpi("api_latency_p95", at=AT, tenant=INJECTION).value is None
    assert engine.kpi("error_rate_5xx", at=AT, tenant='x" OR 1=1 --').value is None


def cli_json(db: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    result = run_cli(*args, "--at", iso(AT), "-o", "json", "--db", str(db), env=env)
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def test_templates_and_compiling_each_query_give_the_same_tenant_report(db: Path) -> None:
    cache = db.parent / "cache" / "sql-templates.json"
    cache.unlink(missing_ok=True)
    learnt = [cli_json(db, "health", "--full", "--tenant", who) for who in ("acme", "bolt", INJECTION)]
    reused = [cli_json(db, "health", "--full", "--tenant", who) for who in ("acme", "bolt", INJECTION)]
    off = {"HEALTHDECK_SQL_TEMPLATES": "off"}
    compiled = [cli_json(db, "health", "--full", "--tenant", who, env=off) for who in ("acme", "bolt", INJECTION)]
    assert learnt == reused == compiled
    assert learnt[0] != learnt[1]
    entries = json.loads(cache.read_text())["entries"]
    scoped = {key: entry for key, entry in entries.items() if "tenant-scoped" in key and isinstance(entry, dict)}
    assert scoped and all("$tenant" in entry["sql"] for entry in scoped.values())
    # every tenant's templates are kept apart from one tenant's, and no tenant id is in any SQL
    assert all("$tenant" not in e["sql"] for k, e in entries.items() if k not in scoped and isinstance(e, dict))
    assert "acme" not in cache.read_text() and "'1'='1" not in cache.read_text()


def test_metrics_get_for_a_tenant(db: Path) -> None:
    got = cli_json(db, "metrics", "get", "--name", "api_latency_p95", "--tenant", "bolt")
    assert got["value"] == pytest.approx(EXPECTED["bolt"]["api_latency_p95"])
    text = run_cli("metrics", "get", "--name", "cpu_utilization", "--tenant", "bolt", "--at", iso(AT), "--db", str(db))
    assert "problem: not available per tenant" in text.stdout


def test_history_is_not_kept_per_tenant(db: Path) -> None:
    refused = run_cli("health", "--history", "7d", "--tenant", "acme", "--db", str(db))
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: --history is kept for every tenant together; leave out --tenant"


def test_api_routes_for_a_tenant_answer_as_the_cli_does(db: Path, tmp_path: Path) -> None:
    db = Path(shutil.copy(db, tmp_path / db.name))  # the module's engine keeps its store open for reading
    direct = [cli_json(db, "metrics", "get", "--name", kpi, "--tenant", "acme") for kpi in ("dau", "mrr")]
    direct_health = cli_json(db, "health", "--tenant", "bolt")
    server = Server(db, "--no-auth").start()
    try:
        through = [cli_json(db, "metrics", "get", "--name", kpi, "--tenant", "acme") for kpi in ("dau", "mrr")]
        assert through == direct  # the CLI while the server holds the store: --tenant reaches it
        assert cli_json(db, "health", "--tenant", "bolt") == direct_health
        base = f"{server.url}/api/projects/acme/metrics"
        api = [
            httpx.get(f"{base}/query", params={"kpi": kpi, "at": iso(AT)}, timeout=60).json() for kpi in ("dau", "mrr")
        ]
        assert api == direct
        health = httpx.get(f"{server.url}/v1/health", params={"project": "bolt", "at": iso(AT)}, timeout=60)
        assert health.json() == direct_health
        span = {"start": iso(AT - timedelta(days=2)), "end": iso(AT), "step": "1d"}
        curve = httpx.get(f"{base}/query_range", params={"kpi": "mrr", **span}, timeout=60).json()
        assert curve["project"] == "acme" and curve["points"][-1]["value"] == pytest.approx(198)
        unknown = httpx.get(f"{server.url}/api/projects/{INJECTION}/metrics/dashboard", timeout=60)
        assert unknown.status_code == 404  # the API answers for tenants of the store only
        dashboard = httpx.get(f"{base}/dashboard", timeout=60).json()
        assert dashboard["project"] == "acme" and dashboard["kpis"]
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0, stderr

"""`/v1/views/{view}`: seed 004's three views. Each panel's numbers are recomputed here from the raw
rows of one simulated store (filters applied in Python, percentiles by numpy's linear interpolation,
which is `quantile_cont`'s), for every filter, and every refusal is checked."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from .console import Console, console

SCOPED = "t-0003"
# The whole simulated store: every panel has data whatever the time of day the test runs.
SINCE = "10d"
STEP = timedelta(hours=6)
POINTS = 40


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console(tmp_path_factory.mktemp("views"), scoped=(SCOPED,)) as served:
        yield served


def _view(app: Console, name: str, **filters: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    answer = app.ok(f"/v1/views/{name}", since=SINCE, **filters)
    assert datetime.fromisoformat(answer["since"]) == datetime.fromisoformat(answer["at"]) - timedelta(days=10)
    return answer, {panel["id"]: panel for panel in answer["panels"]}


def _p(values: list[float], q: float) -> float | None:
    return float(np.quantile(values, q)) if values else None


def _share(counts: Counter[Any]) -> dict[Any, tuple[int, Any]]:
    total = sum(counts.values())
    return {key: (n, pytest.approx(100 * n / total, rel=1e-5)) for key, n in counts.items()}


def _step_index(ts: datetime, start: datetime, step: timedelta) -> int:
    return int((ts - start) // step)


REQUEST_COLUMNS = "ts, tenant_id, endpoint, tier, status, latency_ms, response_bytes, consumer, api_version, deprecated"


def _requests(app: Console, start: datetime, keep: Any) -> list[dict[str, Any]]:
    names = [c.strip() for c in REQUEST_COLUMNS.split(",")]
    rows = app.sql(f"SELECT {REQUEST_COLUMNS} FROM requests WHERE ts >= ?", [start])
    return [r for r in (dict(zip(names, row, strict=True)) for row in rows) if keep(r)]


def _busiest(app: Console, column: str, table: str = "requests") -> str:
    return str(app.sql(f"SELECT {column} FROM {table} GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0][0])


def _api_filters(app: Console) -> list[dict[str, str]]:
    endpoint = _busiest(app, "endpoint")
    return [{}, {"tier": "ENTERPRISE"}, {"endpoint": endpoint}, {"tier": "ENTERPRISE", "endpoint": endpoint}]


def test_api_view_panels_for_every_filter(app: Console) -> None:
    for filters in _api_filters(app):
        answer, panels = _view(app, "api", **filters)
        start, step = datetime.fromisoformat(answer["since"]), STEP
        assert answer["step"] == "6h" and answer["filters"]["tier"]["value"] == filters.get("tier")
        rows = _requests(
            app,
            start,
            lambda r, kept=filters: all(r[name] == value for name, value in kept.items()),
        )
        assert rows, filters
        _check_api_tables(panels, rows)
        _check_api_series(panels, rows, start, step)


def _check_api_tables(panels: dict[str, dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    classes = _share(Counter(f"{r['status'] // 100}xx" for r in rows))
    assert {c: (n, s) for c, n, s in panels["error_distribution"]["rows"]} == classes
    sizes = [r["response_bytes"] for r in rows if r["response_bytes"] is not None]
    assert panels["payload_sizes"]["rows"] == [pytest.approx([_p(sizes, q) for q in (0.5, 0.95, 0.99)], rel=1e-5)]
    consumers = _share(Counter(r["consumer"] or "(none)" for r in rows))
    assert {c: (n, s) for c, n, s in panels["usage_by_consumer"]["rows"]} == consumers
    versions = _share(Counter(r["api_version"] for r in rows if r["api_version"] is not None))
    assert {v: (n, s) for v, n, s in panels["version_adoption"]["rows"]} == versions
    deprecated = Counter(r["endpoint"] for r in rows if r["deprecated"])
    assert dict(panels["deprecated_usage"]["rows"]) == deprecated
    by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_tenant[r["tenant_id"]].append(r)
    top = sorted(by_tenant, key=lambda t: (-len(by_tenant[t]), t))[:10]
    expected = [
        [
            t,
            len(by_tenant[t]),
            sum(r["status"] >= 500 for r in by_tenant[t]),
            pytest.approx(_p([r["latency_ms"] for r in by_tenant[t]], 0.95), rel=1e-5),
        ]
        for t in top
    ]
    assert panels["top_consumers"]["rows"] == expected


def _check_api_series(
    panels: dict[str, dict[str, Any]], rows: list[dict[str, Any]], start: datetime, step: timedelta
) -> None:
    per_endpoint = Counter(r["endpoint"] for r in rows)
    top = sorted(per_endpoint, key=lambda e: (-per_endpoint[e], e))[:10]
    rates = {s["label"]: s["points"] for s in panels["request_rate_by_endpoint"]["series"]}
    assert set(rates) == set(top)
    for endpoint in top:
        counts = Counter(_step_index(r["ts"], start, step) for r in rows if r["endpoint"] == endpoint)
        got = [value for _, value in rates[endpoint]]
        assert got == pytest.approx([counts.get(i, 0) / step.total_seconds() for i in range(len(got))], rel=1e-5)
    [p95] = panels["response_time_p95"]["series"]
    assert p95["points"][0][0] == start.isoformat() and len(p95["points"]) == POINTS
    latencies: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        latencies[_step_index(r["ts"], start, step)].append(r["latency_ms"])
    expected = [_p(latencies.get(i, []), 0.95) for i in range(POINTS)]
    assert [v for _, v in p95["points"]] == [None if e is None else pytest.approx(e, rel=1e-5) for e in expected]


def test_api_view_webhooks_keys_and_rate_limits(app: Console) -> None:
    answer, panels = _view(app, "api")
    start = datetime.fromisoformat(answer["since"])
    statuses = Counter(s for (s,) in app.sql("SELECT status FROM webhook_deliveries WHERE ts >= ?", [start]))
    delivered, failed = statuses["delivered"], statuses["failed"]
    assert delivered + failed > 0
    success = pytest.approx(100 * delivered / (delivered + failed), rel=1e-5)
    assert panels["webhook_delivery"]["rows"] == [[delivered, failed, success]]
    found = app.sql("SELECT tier, api_key FROM requests WHERE ts >= ? AND api_key IS NOT NULL", [start])
    keys: dict[str, set[str]] = defaultdict(set)
    for tier, key in found:
        keys[tier or "(none)"].add(key)
    assert {tier: n for tier, n, _ in panels["api_keys"]["rows"]} == {t: len(k) for t, k in keys.items()}
    violations = Counter(
        t
        for (t,) in app.sql(
            "SELECT tenant_id FROM security_events WHERE kind = 'rate_limit_violation' AND ts >= ?", [start]
        )
    )
    assert dict(panels["rate_limit_violations"]["rows"]) == violations


JOB_COLUMNS = ["queue", "job_type", "enqueued_at", "started_at", "finished_at", "status", "retries", "records"]


def test_pipeline_view_panels_for_every_filter(app: Console) -> None:
    queue, job = _busiest(app, "queue", "jobs"), _busiest(app, "job_type", "jobs")
    for filters in ({}, {"queue": queue}, {"etl_job": job}, {"queue": queue, "etl_job": job}):
        answer, panels = _view(app, "pipeline", **filters)
        start = datetime.fromisoformat(answer["since"])
        jobs = [
            dict(zip(JOB_COLUMNS, row, strict=True)) for row in app.sql(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs")
        ]
        jobs = [
            j
            for j in jobs
            if filters.get("queue", j["queue"]) == j["queue"] and filters.get("etl_job", j["job_type"]) == j["job_type"]
        ]
        done = [
            j for j in jobs if j["status"] in ("succeeded", "failed") and j["finished_at"] and j["finished_at"] >= start
        ]
        assert done, filters
        _check_pipeline(panels, jobs, done, start)
        _check_queue_depth(app, panels, start, filters.get("queue"))


def _check_pipeline(
    panels: dict[str, dict[str, Any]], jobs: list[dict[str, Any]], done: list[dict[str, Any]], start: datetime
) -> None:
    types = sorted({j["job_type"] for j in done})
    outcome = {t: Counter(j["status"] for j in done if j["job_type"] == t) for t in types}
    assert panels["success_failure"]["rows"] == [
        [
            t,
            outcome[t]["succeeded"],
            outcome[t]["failed"],
            pytest.approx(100 * outcome[t]["failed"] / sum(outcome[t].values()), rel=1e-5),
        ]
        for t in types
    ]
    failed = Counter((j["job_type"], j["queue"]) for j in done if j["status"] == "failed")
    assert {(t, q): n for t, q, n in panels["top_failed"]["rows"]} == dict(
        sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    )
    assert dict(panels["retries"]["rows"]) == Counter(j["retries"] or 0 for j in done)
    started = [j for j in jobs if j["started_at"] and j["started_at"] >= start]
    waits: dict[str, list[float]] = defaultdict(list)
    for j in started:
        waits[j["queue"]].append((j["started_at"] - j["enqueued_at"]).total_seconds())
    assert panels["queue_wait"]["rows"] == [
        [q, len(w), pytest.approx(_p(w, 0.5), rel=1e-5), pytest.approx(_p(w, 0.95), rel=1e-5)]
        for q, w in sorted(waits.items())
    ]
    with_records = [j for j in done if j["records"] is not None]
    records = {
        t: [j["records"] for j in with_records if j["job_type"] == t] for t in {j["job_type"] for j in with_records}
    }
    assert panels["records_per_batch"]["rows"] == [
        [t, len(r), sum(r), pytest.approx(sum(r) / len(r), rel=1e-5)] for t, r in sorted(records.items())
    ]
    rates = {s["label"]: s["points"] for s in panels["processing_rate"]["series"]}
    # a rate of n jobs a step reads n / step to 6 significant digits: n again once multiplied back
    assert sum(round(v * STEP.total_seconds()) for points in rates.values() for _, v in points) == len(done)


def _check_queue_depth(app: Console, panels: dict[str, dict[str, Any]], start: datetime, queue: str | None) -> None:
    samples = app.sql(
        "SELECT labels->>'queue', ts, value FROM samples WHERE metric = 'queue_depth' AND ts >= ?", [start]
    )
    peaks: dict[str, dict[int, float]] = defaultdict(dict)
    for name, ts, value in samples:
        if queue in (None, name):
            i = _step_index(ts, start, STEP)
            peaks[name][i] = max(peaks[name].get(i, value), value)
    got = {s["label"]: s["points"] for s in panels["queue_depth"]["series"]}
    assert set(got) == set(peaks) and peaks
    for name, points in got.items():
        assert [v for _, v in points] == [peaks[name].get(i) for i in range(len(points))]


def test_tenants_view_panels_for_every_filter(app: Console) -> None:
    tenants = {t: (name, tier) for t, name, tier in app.sql("SELECT tenant_id, name, tier FROM tenants")}
    busiest = _busiest(app, "tenant_id")
    tier = tenants[busiest][1]
    for filters in ({}, {"tenant": busiest}, {"tier": tier}, {"tier": "FREE"}):
        answer, panels = _view(app, "tenants", **filters)
        start = datetime.fromisoformat(answer["since"])
        kept = {t for t, (_, tr) in tenants.items() if filters.get("tenant", t) == t and filters.get("tier", tr) == tr}
        rows = _requests(app, start, lambda r, ids=kept: r["tenant_id"] in ids)
        per: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            per[r["tenant_id"]].append(r)
        top = sorted(per, key=lambda t: (-len(per[t]), t))[:10]
        assert panels["cross_tenant"]["rows"] == [
            [
                t,
                len(per[t]),
                pytest.approx(100 * sum(r["status"] >= 500 for r in per[t]) / len(per[t]), rel=1e-5),
                pytest.approx(_p([r["latency_ms"] for r in per[t]], 0.95), rel=1e-5),
            ]
            for t in top
        ]
        usage = {
            s["label"]: sum(round(v * STEP.total_seconds()) for _, v in s["points"])
            for s in panels["api_usage_top"]["series"]
        }
        assert usage == {t: len(per[t]) for t in top}
        _check_tenant_tables(app, panels, start, kept, tenants)


def _check_tenant_tables(
    app: Console, panels: dict[str, dict[str, Any]], start: datetime, kept: set[str], tenants: dict[str, Any]
) -> None:
    mrr = app.sql(
        """SELECT tenant_id, sum(amount * coalesce(quantity, 1) * (1 - coalesce(discount_pct, 0) / 100)
                / CASE interval WHEN 'quarter' THEN 3 WHEN 'year' THEN 12 ELSE 1 END)
           FROM (SELECT *, row_number() OVER (PARTITION BY subscription_id ORDER BY ts DESC) AS n FROM subscriptions)
           WHERE n = 1 AND status IN ('active', 'past_due') GROUP BY tenant_id"""
    )
    by_tier: dict[str, list[float]] = defaultdict(list)
    for tenant, amount in mrr:
        if tenant in kept and amount > 0:
            by_tier[tenants[tenant][1]].append(amount)
    assert panels["mrr_by_tier"]["rows"] == [
        [tier, len(a), pytest.approx(sum(a), rel=1e-5)] for tier, a in sorted(by_tier.items())
    ]
    listed = app.ok("/v1/customers/health")["tenants"]
    health = [[t["tenant_id"], t["name"], t["tier"], t["health_score"], t["health_status"]] for t in listed]
    assert [r for r in panels["health_scores"]["rows"]] == [
        [*h[:3], pytest.approx(h[3], rel=1e-5), h[4]] for h in health if h[0] in kept
    ]
    security = app.sql("SELECT kind, tenant_id FROM security_events WHERE ts >= ?", [start])
    violations = Counter(
        (k, t) for k, t in security if t in kept and k in ("isolation_violation", "cross_tenant_query")
    )
    assert {(k, t): n for k, t, n in panels["isolation"]["rows"]} == violations
    _check_resources(app, panels, start, kept)
    created = [at for t, at in app.sql("SELECT tenant_id, created_at FROM tenants") if t in kept]
    [growth] = panels["growth"]["series"]
    assert [n for _, n in growth["points"]] == [
        sum(c < datetime.fromisoformat(at) + STEP for c in created) for at, _ in growth["points"]
    ]
    activity = app.sql("SELECT tenant_id, event, user_id FROM activity WHERE ts >= ?", [start])
    features: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for tenant, event, user in activity:
        if tenant in kept:
            features[tenant][0].add(event)
            features[tenant][1].add(user)
    assert {t: (f, u) for t, f, u in panels["feature_usage"]["rows"]} == {
        t: (len(e), len(u)) for t, (e, u) in features.items()
    }


def _check_resources(app: Console, panels: dict[str, dict[str, Any]], start: datetime, kept: set[str]) -> None:
    readings: dict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(list)
    query = "SELECT labels->>'tenant_id', metric, ts, value FROM samples WHERE metric LIKE 'tenant_%' AND ts >= ?"
    for tenant, metric, ts, value in app.sql(query, [start]):
        if tenant in kept:
            readings[(tenant, metric)].append((ts, value))
    storage = {t: max(r)[1] / 1e9 for (t, m), r in readings.items() if m == "tenant_storage_bytes"}
    assert {t: gb for t, gb in panels["storage"]["rows"]} == {
        t: pytest.approx(gb, rel=1e-5) for t, gb in storage.items()
    }
    got = {row[0]: row[1:] for row in panels["resources"]["rows"]}
    assert set(got) == {t for t, m in readings if m in ("tenant_cpu_millicores", "tenant_memory_bytes")}
    for tenant, (cpu, cpu_peak, memory, memory_peak) in got.items():
        cpus = [v for _, v in readings[(tenant, "tenant_cpu_millicores")]]
        gib = [v / 2**30 for _, v in readings[(tenant, "tenant_memory_bytes")]]
        expected = [sum(cpus) / len(cpus), max(cpus), sum(gib) / len(gib), max(gib)]
        assert [cpu, cpu_peak, memory, memory_peak] == pytest.approx(expected, rel=1e-5)


def test_filters_list_the_stores_values_and_kpis_are_the_packs(app: Console) -> None:
    answer, _ = _view(app, "pipeline")
    queues = sorted(q for (q,) in app.sql("SELECT DISTINCT queue FROM jobs"))
    assert answer["filters"]["queue"] == {"value": None, "options": queues}
    pack = app.ok("/v1/catalog")
    pipeline = [k["id"] for k in pack if k["pack"] == "api_pipeline_tenants" and k["id"].startswith("pipeline_")]
    assert [k["id"] for k in answer["kpis"]] == pipeline
    assert "narrow the panels, not the KPIs" in answer["kpi_scope"]
    scoped, _ = _view(app, "tenants", tenant=SCOPED)
    for kpi in scoped["kpis"]:
        assert kpi == app.ok(f"/v1/kpis/{kpi['id']}", project=SCOPED, at=scoped["at"])


@pytest.mark.parametrize("name", ["api", "pipeline", "tenants"])
def test_every_panel_has_data_on_the_simulated_store(app: Console, name: str) -> None:
    _, panels = _view(app, name)
    assert [p for p, panel in panels.items() if not (panel["rows"] or panel["series"])] == []


def test_the_default_span_is_six_hours(app: Console) -> None:
    answer = app.ok("/v1/views/api")
    assert answer["step"] == "5m"
    assert all(len(s["points"]) == 72 for p in answer["panels"] for s in p["series"])


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/v1/views/api", {"tier": "GOLD"}, "tier: 'GOLD' is not a tier of the store; tiers: BUSINESS, ENTERPRISE, "),
        ("/v1/views/api", {"endpoint": "/x' OR '1'='1"}, "endpoint: \"/x' OR '1'='1\" is not a endpoint"),
        ("/v1/views/pipeline", {"queue": "nope"}, "queue: 'nope' is not a queue of the store; queues: "),
        ("/v1/views/pipeline", {"etl_job": "nope"}, "etl_job: 'nope' is not a etl_job of the store; etl_jobs: "),
        ("/v1/views/tenants", {"tenant": "t-9999"}, "tenant: 't-9999' is not a tenant of the store; tenants: t-0001"),
        ("/v1/views/api", {"queue": "etl"}, "queue: not a filter of the api view; its filters: tier, endpoint"),
        ("/v1/views/api", {"since": "soon"}, "since: "),
    ],
)
def test_a_bad_filter_is_400_naming_it(app: Console, path: str, params: dict[str, str], message: str) -> None:
    refused = app.get(path, **params)
    assert refused.status_code == 400
    assert refused.json()["error"].startswith(message)


def test_a_tenant_token_reads_only_its_own_tenants_view(app: Console) -> None:
    mine = f"viewer@{SCOPED}"
    own = app.get("/v1/views/tenants", mine, tenant=SCOPED)
    assert own.status_code == 200
    assert own.json()["filters"]["tenant"] == {"value": SCOPED, "options": [SCOPED]}
    for panel in own.json()["panels"]:
        ids = [row[0] for row in panel["rows"] if panel["columns"][:1] == ["tenant_id"]]
        ids += [s["label"] for s in panel["series"] if panel["id"] == "api_usage_top"]  # one series per tenant
        assert set(ids) <= {SCOPED}, panel["id"]
    growth = next(p for p in own.json()["panels"] if p["id"] == "growth")
    assert growth["series"][0]["points"][-1][1] == 1  # itself, no other tenant
    assert app.get("/v1/views/tenants", mine, tenant="t-0001").status_code == 404
    for path in ("/v1/views/tenants", "/v1/views/api", "/v1/views/pipeline"):
        refused = app.get(path, mine)
        assert refused.status_code == 403
        assert refused.json()["error"].endswith(f"may read only /v1/views/tenants?tenant={SCOPED}")
    assert app.get("/v1/views/nope").status_code == 404


def test_a_view_as_of_now_is_kept_a_few_seconds_per_filters_and_scope(app: Console) -> None:
    tier = _busiest(app, "tier")
    first = app.ok("/v1/views/api", since="6h")
    assert app.ok("/v1/views/api", since="6h")["at"] == first["at"]  # kept: the same queries' answer
    narrowed = app.ok("/v1/views/api", since="6h", tier=tier)
    assert narrowed["filters"]["tier"]["value"] == tier  # other filters are another answer
    assert app.ok("/v1/views/api", since="1h")["since"] != first["since"]  # another span too
    every = app.ok("/v1/views/tenants", tenant=SCOPED)
    own = app.ok("/v1/views/tenants", caller=f"viewer@{SCOPED}", tenant=SCOPED)
    assert len(every["filters"]["tenant"]["options"]) > 1
    assert own["filters"]["tenant"]["options"] == [SCOPED]  # a scoped token never gets the every-tenant answer
    assert app.ok("/v1/views/api", since="6h", at=first["at"])["at"] == first["at"]  # an explicit time: computed

"""Seed 004's tenant analytics view (8-tenant-analytics): usage, errors, revenue, health, isolation.

Filters: `tenant` and `tier` (the tenant's tier now, tenants.tier). MRR and health scores are the
engine's (the `mrr` and `tenant_health` KPIs' functions) at the span's end.
"""

from __future__ import annotations

from bisect import bisect_left

from healthdeck.api.views.base import BUCKET, Filter, Panel, Query, View, rounded, series, table
from healthdeck.engine.measures import MeasureContext
from healthdeck.engine.measures.customers import tenant_health
from healthdeck.engine.measures.revenue import tenant_mrr

# The tenants the chosen filters keep (their id, name and tier).
TENANTS = """(SELECT tenant_id, name, tier FROM tenants
    WHERE ($tenant IS NULL OR tenant_id = $tenant) AND ($tier IS NULL OR tier = $tier))"""
REQUESTS = f"""requests JOIN {TENANTS} AS kept USING (tenant_id) WHERE ts >= $start AND ts < $end"""
BY = ["tenant", "tier"]
TOP = 10


def api_usage_top(q: Query) -> Panel:
    sql = f"""
        WITH top AS (SELECT tenant_id FROM {REQUESTS} GROUP BY tenant_id ORDER BY count(*) DESC, tenant_id
            LIMIT {TOP})
        SELECT tenant_id, {BUCKET.format(column="ts")} AS i, count(*) / $step FROM {REQUESTS}
            AND tenant_id IN (SELECT tenant_id FROM top) GROUP BY ALL ORDER BY min(ts)"""
    return Panel(
        id="api_usage_top",
        title=f"API usage by tenant (top {TOP})",
        kind="timeseries",
        unit="per_s",
        filtered_by=BY,
        series=series(q, sql, empty=0.0),
    )


def cross_tenant(q: Query) -> Panel:
    sql = f"""SELECT tenant_id, count(*) AS requests,
            100.0 * count(*) FILTER (WHERE status >= 500) / count(*) AS error_rate_pct,
            quantile_cont(latency_ms, 0.95) AS p95_latency_ms
        FROM {REQUESTS} GROUP BY tenant_id ORDER BY requests DESC, tenant_id LIMIT {TOP}"""
    return Panel(
        id="cross_tenant",
        title=f"Cross-tenant error rate and p95 latency (top {TOP} by requests)",
        kind="table",
        unit=None,
        filtered_by=BY,
        columns=["tenant_id", "requests", "error_rate_pct", "p95_latency_ms"],
        rows=table(q, sql),
    )


# A tenant's samples: labelled with its tenant_id, among the kept tenants.
SAMPLES = f"""samples JOIN {TENANTS} AS kept ON kept.tenant_id = samples.labels->>'tenant_id'
    WHERE ts >= $start AND ts < $end"""


def resources(q: Query) -> Panel:
    sql = f"""SELECT kept.tenant_id,
            avg(value) FILTER (WHERE metric = 'tenant_cpu_millicores') AS cpu,
            max(value) FILTER (WHERE metric = 'tenant_cpu_millicores') AS cpu_peak,
            avg(value) FILTER (WHERE metric = 'tenant_memory_bytes') / 2^30 AS memory,
            max(value) FILTER (WHERE metric = 'tenant_memory_bytes') / 2^30 AS memory_peak
        FROM {SAMPLES} AND metric IN ('tenant_cpu_millicores', 'tenant_memory_bytes')
        GROUP BY kept.tenant_id ORDER BY cpu_peak DESC NULLS LAST, kept.tenant_id"""
    return Panel(
        id="resources",
        title="Per-tenant resource usage (CPU millicores, memory GiB: mean and peak)",
        kind="table",
        unit=None,
        filtered_by=BY,
        columns=["tenant_id", "cpu_millicores", "cpu_millicores_peak", "memory_gib", "memory_gib_peak"],
        rows=table(q, sql),
    )


def storage(q: Query) -> Panel:
    sql = f"""SELECT kept.tenant_id, arg_max(value, ts) / 1e9 AS storage_gb
        FROM {SAMPLES} AND metric = 'tenant_storage_bytes'
        GROUP BY kept.tenant_id ORDER BY storage_gb DESC, kept.tenant_id"""
    return Panel(
        id="storage",
        title="Storage consumption by tenant (latest reading, GB)",
        kind="table",
        unit="gb",
        filtered_by=BY,
        columns=["tenant_id", "storage_gb"],
        rows=table(q, sql),
    )


def growth(q: Query) -> Panel:
    created = sorted(at for (at,) in q.rows(f"SELECT created_at FROM tenants JOIN {TENANTS} AS kept USING (tenant_id)"))
    points = [[at.isoformat(), bisect_left(created, at + q.step)] for at in q.moments()]
    return Panel(
        id="growth",
        title="Tenant growth over time (tenants created by each step's end)",
        kind="timeseries",
        unit="tenants",
        filtered_by=BY,
        series=[{"label": "tenants", "points": points}],
    )


def _kept_tenants(q: Query) -> dict[str, tuple[str, str]]:
    return {tenant: (name, tier) for tenant, name, tier in q.rows(f"SELECT * FROM {TENANTS}")}


def mrr_by_tier(q: Query) -> Panel:
    kept = _kept_tenants(q)
    per_tier: dict[str, list[float]] = {}
    for tenant, mrr in tenant_mrr(MeasureContext(q.store), q.end).items():
        if tenant in kept:
            per_tier.setdefault(kept[tenant][1], []).append(mrr)
    rows = [[tier, len(amounts), rounded(sum(amounts))] for tier, amounts in sorted(per_tier.items())]
    return Panel(
        id="mrr_by_tier",
        title="MRR by tenant tier (now)",
        kind="table",
        unit="currency",
        filtered_by=BY,
        columns=["tier", "paying_tenants", "mrr"],
        rows=rows,
    )


def health_scores(q: Query) -> Panel:
    kept = _kept_tenants(q)
    scores = [h for h in tenant_health(MeasureContext(q.store), q.end) if h.tenant_id in kept]
    scores.sort(key=lambda h: (h.score, h.tenant_id))
    rows = [[h.tenant_id, *kept[h.tenant_id], rounded(h.score), h.status] for h in scores]
    return Panel(
        id="health_scores",
        title="Tenant health scores (now, worst first)",
        kind="table",
        unit="score",
        filtered_by=BY,
        columns=["tenant_id", "name", "tier", "health_score", "health_status"],
        rows=rows,
    )


def isolation(q: Query) -> Panel:
    sql = f"""SELECT kind, tenant_id, count(*) AS events FROM security_events JOIN {TENANTS} AS kept USING (tenant_id)
        WHERE ts >= $start AND ts < $end AND kind IN ('isolation_violation', 'cross_tenant_query')
        GROUP BY ALL ORDER BY events DESC, kind, tenant_id"""
    return Panel(
        id="isolation",
        title="Multi-tenancy isolation violations (any is critical)",
        kind="table",
        unit=None,
        filtered_by=BY,
        columns=["kind", "tenant_id", "events"],
        rows=table(q, sql),
    )


def feature_usage(q: Query) -> Panel:
    sql = f"""SELECT tenant_id, count(DISTINCT event) AS features, count(DISTINCT user_id) AS active_users
        FROM activity JOIN {TENANTS} AS kept USING (tenant_id) WHERE ts >= $start AND ts < $end
        GROUP BY tenant_id ORDER BY features DESC, tenant_id"""
    return Panel(
        id="feature_usage",
        title="Feature usage by tenant",
        kind="table",
        unit=None,
        filtered_by=BY,
        columns=["tenant_id", "features", "active_users"],
        rows=table(q, sql),
    )


VIEW = View(
    name="tenants",
    title="Tenant analytics",
    filters=(
        Filter("tenant", "SELECT tenant_id FROM tenants ORDER BY 1"),
        Filter("tier", "SELECT DISTINCT tier FROM tenants ORDER BY 1"),
    ),
    panels=(
        growth,
        api_usage_top,
        cross_tenant,
        feature_usage,
        resources,
        storage,
        mrr_by_tier,
        health_scores,
        isolation,
    ),
    kpi_source="seed 004 tenant analytics",
)

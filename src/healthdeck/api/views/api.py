"""Seed 004's API analytics view (6-api-analytics): traffic, errors, payloads, versions, webhooks.

Filters: `tier` (the tier a request was made under, requests.tier) and `endpoint`.
"""

from __future__ import annotations

from healthdeck.api.views.base import BUCKET, Filter, Panel, Query, View, series, table

# The requests of the span that the chosen filters keep.
REQUESTS = """requests WHERE ts >= $start AND ts < $end
    AND ($tier IS NULL OR tier = $tier) AND ($endpoint IS NULL OR endpoint = $endpoint)"""
BY = ["tier", "endpoint"]
TOP = 10


def request_rate_by_endpoint(q: Query) -> Panel:
    sql = f"""
        WITH kept AS (SELECT * FROM {REQUESTS}),
        top AS (SELECT endpoint FROM kept GROUP BY endpoint ORDER BY count(*) DESC, endpoint LIMIT {TOP})
        SELECT endpoint, {BUCKET.format(column="ts")} AS i, count(*) / $step
        FROM kept WHERE endpoint IN (SELECT endpoint FROM top) GROUP BY ALL ORDER BY min(ts)"""
    return Panel(
        id="request_rate_by_endpoint",
        title=f"API request rate by endpoint (top {TOP})",
        kind="timeseries",
        unit="per_s",
        filtered_by=BY,
        series=series(q, sql, empty=0.0),
    )


def response_time_p95(q: Query) -> Panel:
    sql = f"""SELECT 'p95', {BUCKET.format(column="ts")} AS i, quantile_cont(latency_ms, 0.95)
        FROM {REQUESTS} GROUP BY ALL"""
    return Panel(
        id="response_time_p95",
        title="API response time (p95)",
        kind="timeseries",
        unit="ms",
        filtered_by=BY,
        series=series(q, sql, empty=None),
    )


def error_distribution(q: Query) -> Panel:
    sql = f"""SELECT (status // 100) || 'xx' AS class, count(*) AS requests,
            100.0 * count(*) / sum(count(*)) OVER () AS share_pct
        FROM {REQUESTS} GROUP BY class ORDER BY class"""
    return Panel(
        id="error_distribution",
        title="API error distribution by status class",
        kind="table",
        unit="percent",
        filtered_by=BY,
        columns=["status_class", "requests", "share_pct"],
        rows=table(q, sql),
    )


def payload_sizes(q: Query) -> Panel:
    sql = f"""SELECT quantile_cont(response_bytes, 0.5), quantile_cont(response_bytes, 0.95),
            quantile_cont(response_bytes, 0.99)
        FROM {REQUESTS} AND response_bytes IS NOT NULL"""
    return Panel(
        id="payload_sizes",
        title="Response payload sizes",
        kind="stat",
        unit="bytes",
        filtered_by=BY,
        columns=["p50", "p95", "p99"],
        rows=table(q, sql),
    )


def usage_by_consumer(q: Query) -> Panel:
    sql = f"""SELECT coalesce(consumer, '(none)') AS consumer, count(*) AS requests,
            100.0 * count(*) / sum(count(*)) OVER () AS share_pct
        FROM {REQUESTS} GROUP BY ALL ORDER BY requests DESC, consumer"""
    return Panel(
        id="usage_by_consumer",
        title="API usage by consumer",
        kind="table",
        unit="percent",
        filtered_by=BY,
        columns=["consumer", "requests", "share_pct"],
        rows=table(q, sql),
    )


def top_consumers(q: Query) -> Panel:
    sql = f"""SELECT tenant_id, count(*) AS requests, count(*) FILTER (WHERE status >= 500) AS errors,
            quantile_cont(latency_ms, 0.95) AS p95_latency_ms
        FROM {REQUESTS} GROUP BY tenant_id ORDER BY requests DESC, tenant_id LIMIT {TOP}"""
    return Panel(
        id="top_consumers",
        title=f"Top API consumers (top {TOP} tenants)",
        kind="table",
        unit=None,
        filtered_by=BY,
        columns=["tenant_id", "requests", "errors_5xx", "p95_latency_ms"],
        rows=table(q, sql),
    )


def version_adoption(q: Query) -> Panel:
    sql = f"""SELECT api_version, count(*) AS requests, 100.0 * count(*) / sum(count(*)) OVER () AS share_pct
        FROM {REQUESTS} AND api_version IS NOT NULL GROUP BY api_version ORDER BY api_version"""
    return Panel(
        id="version_adoption",
        title="API version adoption",
        kind="table",
        unit="percent",
        filtered_by=BY,
        columns=["api_version", "requests", "share_pct"],
        rows=table(q, sql),
    )


def deprecated_usage(q: Query) -> Panel:
    sql = f"""SELECT endpoint, count(*) AS requests FROM {REQUESTS} AND deprecated
        GROUP BY endpoint ORDER BY requests DESC, endpoint"""
    return Panel(
        id="deprecated_usage",
        title="Deprecated endpoint usage",
        kind="table",
        unit=None,
        filtered_by=BY,
        columns=["endpoint", "requests"],
        rows=table(q, sql),
    )


def webhook_delivery(q: Query) -> Panel:
    sql = """SELECT count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'failed'),
            100.0 * count(*) FILTER (WHERE status = 'delivered') / nullif(count(*), 0)
        FROM webhook_deliveries WHERE ts >= $start AND ts < $end"""
    return Panel(
        id="webhook_delivery",
        title="Webhook delivery success rate",
        kind="stat",
        unit="percent",
        filtered_by=[],
        columns=["delivered", "failed", "success_pct"],
        rows=table(q, sql),
    )


def api_keys(q: Query) -> Panel:
    sql = f"""SELECT coalesce(tier, '(none)') AS tier, count(DISTINCT api_key) AS keys, count(*) AS requests
        FROM {REQUESTS} AND api_key IS NOT NULL GROUP BY ALL ORDER BY tier"""
    return Panel(
        id="api_keys",
        title="API key distribution (keys used in the span, by tier)",
        kind="table",
        unit=None,
        filtered_by=BY,
        columns=["tier", "keys", "requests"],
        rows=table(q, sql),
    )


def rate_limit_violations(q: Query) -> Panel:
    sql = """SELECT tenant_id, count(*) AS violations FROM security_events
        WHERE kind = 'rate_limit_violation' AND ts >= $start AND ts < $end
        GROUP BY tenant_id ORDER BY violations DESC, tenant_id"""
    return Panel(
        id="rate_limit_violations",
        title="Rate limit violations by tenant",
        kind="table",
        unit=None,
        filtered_by=[],
        columns=["tenant_id", "violations"],
        rows=table(q, sql),
    )


VIEW = View(
    name="api",
    title="API analytics",
    filters=(
        Filter("tier", "SELECT DISTINCT tier FROM requests WHERE tier IS NOT NULL ORDER BY 1"),
        Filter("endpoint", "SELECT DISTINCT endpoint FROM requests ORDER BY 1"),
    ),
    panels=(
        request_rate_by_endpoint,
        response_time_p95,
        error_distribution,
        payload_sizes,
        usage_by_consumer,
        top_consumers,
        version_adoption,
        deprecated_usage,
        webhook_delivery,
        api_keys,
        rate_limit_violations,
    ),
    kpi_source="seed 004 API analytics",
)

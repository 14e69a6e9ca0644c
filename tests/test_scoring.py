"""Statuses on the specification's boundaries, and the documented 0–100 mapping, computed by hand."""

from __future__ import annotations

import pytest

from healthdeck.catalog.loader import load_catalog
from healthdeck.catalog.models import Threshold
from healthdeck.engine.scoring import Light, Status, judge, light, sub_score, weighted_mean

CATALOG = load_catalog()
G, W, C = Status.GOOD, Status.WARNING, Status.CRITICAL

# (KPI, value, status) read off the seed tables: "Good > 99.9%, Warning 99.5-99.9%, Critical < 99.5%" etc.
SEED_BOUNDARIES = [
    ("uptime", 99.91, G),
    ("uptime", 99.9, W),
    ("uptime", 99.5, W),
    ("uptime", 99.49, C),
    ("request_rate", 10.01, G),
    ("request_rate", 10, W),
    ("request_rate", 5, W),
    ("request_rate", 4.99, C),
    ("error_rate_5xx", 0.09, G),
    ("error_rate_5xx", 0.1, W),
    ("error_rate_5xx", 1.0, W),
    ("error_rate_5xx", 1.01, C),
    ("error_rate_4xx", 4.99, G),
    ("error_rate_4xx", 5, W),
    ("error_rate_4xx", 10, W),
    ("error_rate_4xx", 10.1, C),
    ("api_latency_p50", 49, G),
    ("api_latency_p50", 50, W),
    ("api_latency_p50", 100, W),
    ("api_latency_p50", 101, C),
    ("api_latency_p95", 99, G),
    ("api_latency_p95", 100, W),
    ("api_latency_p95", 200, W),
    ("api_latency_p95", 201, C),
    ("api_latency_p99", 199, G),
    ("api_latency_p99", 500, W),
    ("api_latency_p99", 501, C),
    ("cpu_utilization", 59.9, G),
    ("cpu_utilization", 60, W),
    ("cpu_utilization", 80, W),
    ("cpu_utilization", 80.1, C),
    ("gpu_utilization", 69, G),
    ("gpu_utilization", 90, W),
    ("gpu_utilization", 91, C),
    ("pod_count", 3, G),
    ("pod_count", 5, G),
    ("pod_count", 2, W),
    ("pod_count", 1, C),
    ("pod_restarts", 0, G),
    ("pod_restarts", 1, W),
    ("pod_restarts", 5, W),
    ("pod_restarts", 6, C),
    ("db_slow_queries", 0, G),
    ("db_slow_queries", 5, W),
    ("db_slow_queries", 6, C),
    ("redis_hit_rate", 95.1, G),
    ("redis_hit_rate", 95, W),
    ("redis_hit_rate", 90, W),
    ("redis_hit_rate", 89.9, C),
    ("redis_evictions", 0, G),
    ("redis_evictions", 0.5, W),
    ("redis_evictions", 100, W),
    ("redis_evictions", 101, C),
    ("dp_epsilon_spent", 4.9, G),
    ("dp_epsilon_spent", 5, W),
    ("dp_epsilon_spent", 8, W),
    ("dp_epsilon_spent", 8.1, C),
    ("gradient_norm", 0.1, G),
    ("gradient_norm", 10, G),
    ("gradient_norm", 0.05, W),
    ("gradient_norm", 0.01, W),
    ("gradient_norm", 0.009, C),
    ("gradient_norm", 100, W),
    ("gradient_norm", 100.5, C),
    ("stickiness", 25.1, G),
    ("stickiness", 25, W),
    ("stickiness", 15, W),
    ("stickiness", 14.9, C),
    ("activation_rate", 40.1, G),
    ("activation_rate", 40, W),
    ("activation_rate", 20, W),
    ("activation_rate", 19, C),
    ("mrr", 10, G),
    ("mrr", 9.9, W),
    ("mrr", 5, W),
    ("mrr", 4.9, C),
    ("net_revenue_retention", 121, G),
    ("net_revenue_retention", 100, W),
    ("net_revenue_retention", 99, C),
    ("logo_churn_rate", 2.9, G),
    ("logo_churn_rate", 3, W),
    ("logo_churn_rate", 5, W),
    ("logo_churn_rate", 5.1, C),
    ("cac", 999, G),
    ("cac", 1000, W),
    ("cac", 3000, W),
    ("cac", 3001, C),
    ("ltv_cac_ratio", 3.1, G),
    ("ltv_cac_ratio", 3, W),
    ("ltv_cac_ratio", 2, W),
    ("ltv_cac_ratio", 1.9, C),
    ("activation_rate_7d", 41, G),
    ("activation_rate_7d", 40, W),
    ("activation_rate_7d", 1, W),
    ("time_to_value", 2.9, G),
    ("time_to_value", 3, W),
    ("time_to_value", 30, W),
]


@pytest.mark.parametrize(("kpi_id", "value", "expected"), SEED_BOUNDARIES)
def test_seed_thresholds_including_boundaries(kpi_id: str, value: float, expected: Status) -> None:
    threshold = CATALOG.get(kpi_id).thresholds
    assert threshold is not None
    assert judge(value, threshold) is expected


UPTIME = Threshold(good="> 99.9", critical="< 99.5")
P95 = Threshold(good="< 100", critical="> 200")
GRADIENT = Threshold(good="0.1..10", critical="< 0.01 or > 100")


@pytest.mark.parametrize(
    ("threshold", "percent", "value", "expected"),
    [
        # higher is better: C=99.5 -> 60, G=99.9 -> 80, best = min(100, 99.9 + 0.4) = 100, worst = 99.5 - 1.2 = 98.3
        (UPTIME, True, 100.0, 100.0),
        (UPTIME, True, 99.95, 90.0),  # 80 + 20 * 0.05 / 0.1
        (UPTIME, True, 99.7, 70.0),  # 60 + 20 * 0.2 / 0.4
        (UPTIME, True, 98.9, 30.0),  # 60 * (98.9 - 98.3) / 1.2
        (UPTIME, True, 90.0, 0.0),
        # lower is better: G=100 -> 80, C=200 -> 60, best = max(0, 0) = 0 -> 100, worst = 200 + 300 = 500 -> 0
        (P95, False, 25.0, 95.0),  # 80 + 20 * 75 / 100
        (P95, False, 150.0, 70.0),
        (P95, False, 350.0, 30.0),  # 60 * (500 - 350) / 300
        # band: middle 5.05 -> 100, edges -> 80, critical edges -> 60, 0 as far again beyond them
        (GRADIENT, False, 5.05, 100.0),
        (GRADIENT, False, 10.0, 80.0),
        (GRADIENT, False, 55.0, 70.0),  # 60 + 20 * (100 - 55) / 90
        (GRADIENT, False, 145.0, 30.0),  # 60 * (190 - 145) / 90
    ],
)
def test_sub_score_mapping(threshold: Threshold, percent: bool, value: float, expected: float) -> None:
    assert sub_score(value, threshold, percent=percent) == pytest.approx(expected)


@pytest.mark.parametrize("kpi_id", [k.id for k in CATALOG.kpis.values() if k.thresholds])
def test_every_status_lands_in_its_score_band(kpi_id: str) -> None:
    kpi = CATALOG.get(kpi_id)
    assert kpi.thresholds is not None
    bands = {Status.GOOD: (80, 100), Status.WARNING: (60, 80), Status.CRITICAL: (0, 60)}
    probes = [
        b
        for part in (kpi.thresholds.good, kpi.thresholds.critical)
        if part
        for p in part.parts
        for b in ((p.bound,) if hasattr(p, "bound") else (p.low, p.high))
    ]
    for base in probes:
        for value in (base * 0.5, base - 1, base - 0.001, base, base + 0.001, base + 1, base * 2 + 1):
            low, high = bands[judge(value, kpi.thresholds)]
            assert low - 1e-9 <= sub_score(value, kpi.thresholds, percent=kpi.is_percent) <= high + 1e-9, value


def test_traffic_light_cut_offs() -> None:
    assert [light(s) for s in (100, 80, 79.99, 60, 59.99, 0)] == [
        Light.GREEN,
        Light.GREEN,
        Light.YELLOW,
        Light.YELLOW,
        Light.RED,
        Light.RED,
    ]


def test_weighted_mean_ignores_nothing_and_handles_empty() -> None:
    assert weighted_mean([(90, 3), (60, 1)]) == pytest.approx(82.5)
    assert weighted_mean([]) is None


def test_bare_targets_at_or_below_zero_still_slope_the_right_way() -> None:
    growth = Threshold(good="> 0")  # warning below 0, reaching 60 at -1
    assert judge(-0.5, growth) is Status.WARNING
    assert sub_score(-0.5, growth) == pytest.approx(70.0)
    assert sub_score(-0.9, growth) < sub_score(-0.1, growth)
    shrink = Threshold(good="< -5")  # lower is better, warning above -5, reaching 60 at 0
    assert sub_score(-2.5, shrink) == pytest.approx(70.0)

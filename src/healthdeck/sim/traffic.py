"""API requests, the bulk of the data: one window day at a time, fully vectorised.

A day's requests are split among tenants by tier weight x activity level x
usage profile (declining, silent, growing) with day-to-day noise; each request
gets a minute from the hour-of-day curve, a route, an API version (v2 adoption
grows over the window), a status (4xx by tier, 5xx at a 0.02% baseline and
2-8% during incidents), a lognormal latency, body sizes, a client and a key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from healthdeck.sim import api, plans
from healthdeck.sim.arrow import kind_table, numbered, pick
from healthdeck.sim.config import MIN_PER_DAY, US_PER_DAY, US_PER_HOUR, US_PER_MIN
from healthdeck.sim.incidents import day_impact
from healthdeck.sim.rand import stream, weighted_index
from healthdeck.sim.shape import minute_weights
from healthdeck.sim.world import World

_ENDPOINTS = pa.array(api.ENDPOINTS, pa.string())
_METHODS = pa.array(api.METHODS, pa.string())
_CONSUMERS = pa.array(api.CONSUMERS, pa.string())
_TIERS = pa.array(plans.TIERS, pa.string())
_VERSIONS = pa.array(["v1", "v2"], pa.string())


@dataclass(frozen=True)
class DayTraffic:
    """One day's requests plus the summaries other generators derive their data from."""

    table: pa.Table
    tenant: np.ndarray  # per row, sorted by time
    ts_us: np.ndarray
    status: np.ndarray
    route: np.ndarray
    key: np.ndarray  # index into the population's api_keys
    tenant_counts: np.ndarray
    tenant_hour_counts: np.ndarray  # tenants x 24 hours of the window day


def day_requests(world: World, day: int) -> DayTraffic:
    """Generate window day `day`'s requests."""
    cfg, pop = world.cfg, world.pop
    rng = stream(cfg.seed, "requests", day)
    start = cfg.day_start_us(day)
    total = int(world.day_requests[day])
    tenant = np.repeat(np.arange(pop.size), rng.multinomial(total, _tenant_shares(world, day, rng)))
    # Tenants and minutes are drawn independently, so shuffled tenants paired with
    # time-ordered minutes give time-ordered rows without an argsort.
    rng.shuffle(tenant)
    weights = minute_weights(cfg, day)
    minute = np.repeat(np.arange(MIN_PER_DAY), rng.multinomial(total, weights / weights.sum()))
    ts = start + minute * US_PER_MIN + rng.integers(0, US_PER_MIN, total)
    ts.sort(kind="stable")
    # A tenant signing up today only calls the API after it exists.
    keep = ts >= pop.created_us[tenant]
    return _build_day(world, day, rng, tenant[keep], ts[keep], minute[keep])


def _tenant_shares(world: World, day: int, rng: np.random.Generator) -> np.ndarray:
    """Each tenant's share of the day's calls."""
    pop, cfg = world.pop, world.cfg
    start = cfg.day_start_us(day)
    tiers = world.billing.timeline.at(start + 12 * US_PER_HOUR)
    alive = np.clip((start + US_PER_DAY - pop.created_us) / US_PER_DAY, 0.0, 1.0)
    weight = plans.REQUEST_WEIGHT[tiers] * pop.usage(day) * alive * rng.gamma(12.0, 1 / 12.0, pop.size)
    total = weight.sum()
    return weight / total if total > 0 else np.full(pop.size, 1.0 / pop.size)


def _build_day(
    world: World, day: int, rng: np.random.Generator, tenant: np.ndarray, ts: np.ndarray, minute: np.ndarray
) -> DayTraffic:
    """Every other column of the day's requests, given who calls when."""
    cfg, pop, n = world.cfg, world.pop, len(tenant)
    impact = day_impact(cfg, day, world.incidents)
    v2 = rng.random(n) < np.where(ts >= pop.v2_from_us[tenant], 0.9, 0.05)
    route = weighted_index(rng, api.SHARE, n)
    route = np.where(v2, api.SUCCESSOR[route], route)
    tier = world.billing.timeline.rows(tenant, ts)
    incident_rate, slowdown = impact.row_impact(minute, route)
    status = _statuses(rng, tier, route, incident_rate)
    key = pop.key_offset[tenant] + (rng.random(n) * pop.key_count[tenant]).astype(np.int64)
    request_bytes, response_bytes = _body_sizes(rng, route, status)
    table = kind_table(
        "requests",
        {
            "event_id": numbered(cfg.id_prefix("req") + f"{day}-", np.arange(n)),
            "ts": ts,
            "tenant_id": pick(pop.ids, tenant),
            "endpoint": pick(_ENDPOINTS, route),
            "method": pick(_METHODS, route),
            "status": status,
            "latency_ms": _latencies(rng, route, status, slowdown * plans.LATENCY_FACTOR[tier]),
            "consumer": pick(_CONSUMERS, weighted_index(rng, api.CONSUMER_SHARE, n)),
            "api_key": pick(pop.api_keys, key),
            "api_version": pick(_VERSIONS, v2.astype(np.int64)),
            "deprecated": api.DEPRECATED[route],
            "request_bytes": request_bytes,
            "response_bytes": response_bytes,
            "tier": pick(_TIERS, tier),
        },
    )
    return DayTraffic(
        table=table,
        tenant=tenant,
        ts_us=ts,
        status=status,
        route=route,
        key=key,
        tenant_counts=np.bincount(tenant, minlength=pop.size),
        tenant_hour_counts=_tenant_hours(tenant, ts - cfg.day_start_us(day), pop.size),
    )


def _statuses(rng: np.random.Generator, tier: np.ndarray, route: np.ndarray, incident_rate: np.ndarray) -> np.ndarray:
    """2xx mostly; 4xx by tier (429s mostly on free tiers); 5xx at baseline or the incident's rate."""
    n = len(route)
    server = np.maximum(api.BASE_SERVER_ERROR_RATE, incident_rate)
    u = rng.random(n)
    is_server = u < server
    is_client = ~is_server & (u < server + plans.CLIENT_ERROR_RATE[tier])
    status = api.SUCCESS[route].copy()
    limited = is_client & (rng.random(n) < plans.RATE_LIMITED_SHARE[tier])
    status[limited] = 429
    other = np.flatnonzero(is_client & ~limited)
    status[other] = api.CLIENT_ERRORS[weighted_index(rng, api.CLIENT_ERROR_SHARE, len(other))]
    failed = np.flatnonzero(is_server)
    status[failed] = api.SERVER_ERRORS[weighted_index(rng, api.SERVER_ERROR_SHARE, len(failed))]
    return status


def _latencies(rng: np.random.Generator, route: np.ndarray, status: np.ndarray, slowdown: np.ndarray) -> np.ndarray:
    """Lognormal per route with a slow path, times `slowdown` (tier, incidents); errors answer faster (or time out)."""
    n = len(route)
    latency = api.MEDIAN_MS[route] * np.exp(api.LATENCY_SIGMA * rng.standard_normal(n))
    slow = rng.random(n) < api.SLOW_SHARE
    latency[slow] *= api.SLOW_FACTOR * np.exp(0.3 * rng.standard_normal(int(slow.sum())))
    latency *= slowdown
    latency[(status >= 400) & (status < 500)] *= 0.5
    latency[status == 429] *= 0.2
    latency[status == 503] *= 0.3
    timed_out = status == 504
    latency[timed_out] = rng.uniform(10_000, 30_000, int(timed_out.sum()))
    return np.round(latency, 2)


def _body_sizes(rng: np.random.Generator, route: np.ndarray, status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(route)
    request = (api.REQUEST_BYTES[route] * rng.lognormal(0.0, 0.7, n)).astype(np.int64)
    response = (api.RESPONSE_BYTES[route] * rng.lognormal(0.0, 0.6, n)).astype(np.int64)
    error = status >= 400
    response[error] = rng.integers(120, 420, int(error.sum()))
    return request, response


def _tenant_hours(tenant: np.ndarray, offset_us: np.ndarray, tenants: int) -> np.ndarray:
    hour = np.minimum(offset_us // US_PER_HOUR, 23)
    return np.bincount(tenant * 24 + hour, minlength=tenants * 24).reshape(tenants, 24)

"""The low-volume tier events, decided for the whole window at once.

Limit hits (mostly FREE and STARTER, more for tenants outgrowing their plan),
tier ceiling hits (growing tenants hit theirs every other day: the upsell
list), circuit breakers tripping during incidents (and now and then for one
tenant), cache efficiency alerts, and one plan_change per billing plan change.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from healthdeck.sim import plans, tierlog
from healthdeck.sim.arrow import pick
from healthdeck.sim.config import US_PER_MIN
from healthdeck.sim.rand import at_least_one, stream, weighted_index
from healthdeck.sim.shape import minute_weights
from healthdeck.sim.tenants import GROWING
from healthdeck.sim.world import World

LIMIT_HITS_PER_DAY = np.array([0.25, 0.20, 0.06, 0.03, 0.01])
LIMIT_TYPES = ("max_pool_size", "max_concurrent", "query_timeout", "connection_timeout")
ACTIONS = ("queued", "rejected", "throttled")
RESOURCES = ("connections", "query_rate", "storage", "compute_time")


def tier_signals(world: World) -> pa.Table:
    """Every window-level tier event, ordered by time."""
    rng = stream(world.cfg.seed, "tier-signals")
    tables = [
        _limit_hits(rng, world),
        _ceiling_hits(rng, world),
        _circuit_breakers(rng, world),
        _cache_alerts(rng, world),
        _plan_changes(world),
    ]
    return tierlog.finish(tables, world.cfg.id_prefix("tsig"))


def _daily_events(rng: np.random.Generator, world: World, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tenant, time) of events happening at `rate[tenant]` per active day, at busy times of day."""
    cfg, pop = world.cfg, world.pop
    tenants, times = [], []
    for day in range(cfg.days):
        alive = (pop.created_us < cfg.day_start_us(day)) & (pop.usage(day) > 0)
        count = rng.poisson(rate * alive)
        tenant = np.repeat(np.arange(pop.size), count)
        minute = weighted_index(rng, minute_weights(cfg, day), len(tenant))
        tenants.append(tenant)
        times.append(cfg.day_start_us(day) + minute * US_PER_MIN + rng.integers(0, US_PER_MIN, len(tenant)))
    return np.concatenate(tenants), np.concatenate(times)


def _limit_hits(rng: np.random.Generator, world: World) -> pa.Table:
    pop = world.pop
    rate = LIMIT_HITS_PER_DAY[pop.start_tier] * np.where(pop.profile == GROWING, 4.0, 1.0)
    tenant, ts = _daily_events(rng, world, rate)
    tier = world.billing.timeline.rows(tenant, ts)
    n = len(tenant)
    free = tier <= plans.STARTER
    action = np.where(
        free, weighted_index(rng, np.array([0.25, 0.40, 0.35]), n), weighted_index(rng, np.array([0.60, 0.10, 0.30]), n)
    )
    queued, rejected = action == 0, action == 1
    return tierlog.tier_table(
        "limit_hit",
        ts,
        tenant,
        tier,
        pop,
        {
            "limit_type": pick(LIMIT_TYPES, weighted_index(rng, np.array([0.35, 0.35, 0.2, 0.1]), n)),
            "action": pick(ACTIONS, action),
            "queue_depth": np.where(queued, rng.integers(1, 51, n), rng.integers(0, 11, n)),
            "rejection_count": np.where(rejected, rng.integers(1, 201, n), 0),
        },
    )


def _ceiling_hits(rng: np.random.Generator, world: World) -> pa.Table:
    pop = world.pop
    growing = pop.profile == GROWING
    rate = np.where(growing, 0.5, 0.01) * (pop.start_tier != plans.ENTERPRISE)
    tenant, ts = _daily_events(rng, world, rate)
    if not len(tenant) and growing.any():
        tenant = np.flatnonzero(growing)[:1]
        ts = np.array([world.cfg.start_us + (world.cfg.end_us - world.cfg.start_us) // 2])
    tier = world.billing.timeline.rows(tenant, ts)
    n = len(tenant)
    hits = np.where(growing[tenant], rng.integers(5, 41, n), rng.integers(1, 8, n))
    return tierlog.tier_table(
        "tier_ceiling_hit",
        ts,
        tenant,
        tier,
        pop,
        {
            "resource_type": pick(RESOURCES, weighted_index(rng, np.array([0.35, 0.35, 0.15, 0.15]), n)),
            "hit_count_24h": hits,
            "upgrade_suggested": (tier < plans.ENTERPRISE) & (hits >= 5),
        },
    )


def _circuit_breakers(rng: np.random.Generator, world: World) -> pa.Table:
    """Breakers of the heaviest tenants open in each incident, half-open near its end, close after."""
    pop, cfg = world.pop, world.cfg
    heavy = np.argsort(-(plans.REQUEST_WEIGHT[pop.start_tier] * pop.level))
    tenant, ts, state, db = [], [], [], []
    for incident in world.incidents:
        hit = heavy[: int(rng.integers(3, 9))]
        backend = 1 if incident.service == "redis" else 0
        for offset, phase in (
            (incident.start_us + 2 * US_PER_MIN, 2),
            (incident.end_us - 5 * US_PER_MIN, 1),
            (incident.end_us + 2 * US_PER_MIN, 0),
        ):
            tenant.append(hit)
            ts.append(offset + rng.integers(0, 60, len(hit)) * 1_000_000)
            state.append(np.full(len(hit), phase))
            db.append(np.full(len(hit), backend))
    stray = at_least_one(rng, 0.3 * cfg.days, pop.size)
    lone = rng.integers(0, pop.size, stray)
    opened = cfg.start_us + (rng.random(stray) * (cfg.end_us - cfg.start_us - 30 * US_PER_MIN)).astype(np.int64)
    for phase, delay in ((2, 0), (1, 5), (0, 8)):
        tenant.append(lone)
        ts.append(opened + delay * US_PER_MIN)
        state.append(np.full(stray, phase))
        db.append(np.zeros(stray, dtype=np.int64))
    return _breaker_table(
        rng, world, np.concatenate(tenant), np.concatenate(ts), np.concatenate(state), np.concatenate(db)
    )


def _breaker_table(
    rng: np.random.Generator, world: World, tenant: np.ndarray, ts: np.ndarray, state: np.ndarray, db: np.ndarray
) -> pa.Table:
    n = len(tenant)
    tier = world.billing.timeline.rows(tenant, ts)
    return tierlog.tier_table(
        "circuit_breaker_event",
        ts,
        tenant,
        tier,
        world.pop,
        {
            "database_type": pick(("postgres", "redis"), db),
            "state": pick(("closed", "half_open", "open"), state),
            "error_threshold": np.full(n, 0.5),
            "volume": rng.integers(20, 2_000, n),
        },
    )


def _cache_alerts(rng: np.random.Generator, world: World) -> pa.Table:
    pop, cfg = world.pop, world.cfg
    count = at_least_one(rng, 1.5 * cfg.days, 10 * cfg.days)
    weight = plans.REQUEST_WEIGHT[pop.start_tier] * pop.level
    tenant = weighted_index(rng, weight, count)
    ts = cfg.start_us + (rng.random(count) * (cfg.end_us - cfg.start_us)).astype(np.int64)
    tier = world.billing.timeline.rows(tenant, ts)
    expected = np.round(rng.uniform(0.6, 0.85, count), 3)
    hit_rate = np.round(np.clip(expected - rng.uniform(0.15, 0.4, count), 0.05, 1.0), 3)
    return tierlog.tier_table(
        "cache_efficiency_alert",
        ts,
        tenant,
        tier,
        pop,
        {
            "cache_level": pick(tierlog.CACHE_LEVELS, weighted_index(rng, np.array([0.3, 0.5, 0.2]), count)),
            "hit_rate": hit_rate,
            "expected_rate": expected,
            "deviation": np.round(hit_rate - expected, 3),
        },
    )


def _plan_changes(world: World) -> pa.Table:
    """One event per billing plan change, tagged with the tier the tenant had just before it."""
    rows = world.billing.ledger.plan_changes
    ts = np.array([r["ts"] for r in rows], dtype=np.int64)
    tenant = np.array([r["tenant"] for r in rows], dtype=np.int64)
    before = world.billing.timeline.rows(tenant, ts - 1)
    return tierlog.tier_table(
        "plan_change",
        ts,
        tenant,
        before,
        world.pop,
        {
            "from_tier": pick(plans.TIERS, np.array([r["from_tier"] for r in rows], dtype=np.int64)),
            "to_tier": pick(plans.TIERS, np.array([r["to_tier"] for r in rows], dtype=np.int64)),
            "change_type": pa.array([r["change_type"] for r in rows], pa.string()),
            "effective_timestamp": np.array([r["effective_us"] for r in rows], dtype=np.int64),
        },
    )

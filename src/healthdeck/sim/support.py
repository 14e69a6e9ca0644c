"""Support tickets: a steady trickle by tier, more from at-risk tenants, a burst in each incident.

First responses aim at the SLA (P1 1h, P2 4h, P3 24h, P4 48h) and usually
beat it by a wide margin; ~7% breach it. Tickets are entities written in their
state at the window end: open (no answer yet), pending (answered, not
resolved), resolved, or closed (resolved more than three days before the end).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from healthdeck.sim import plans
from healthdeck.sim.arrow import NO_TIME, kind_table, numbered, pick
from healthdeck.sim.config import US_PER_DAY, US_PER_HOUR, US_PER_MIN
from healthdeck.sim.rand import stream, weighted_index
from healthdeck.sim.shape import minute_weights
from healthdeck.sim.world import World
from healthdeck.store.schema import PRIORITIES

TICKETS_PER_MONTH = np.array([0.15, 0.4, 0.6, 1.2, 2.5])
PRIORITY_SHARE = np.array([0.01, 0.14, 0.50, 0.35])
SLA_HOURS = np.array([1.0, 4.0, 24.0, 48.0])
RESOLVE_MEDIAN_HOURS = np.array([2.0, 10.0, 30.0, 60.0])


def tickets_table(world: World) -> pa.Table:
    """Every ticket opened in the window, in its state at the end."""
    rng = stream(world.cfg.seed, "tickets")
    tenant, opened, priority = _routine(rng, world)
    extra = _incident_tickets(rng, world)
    tenant, opened, priority = (np.concatenate([a, b]) for a, b in zip((tenant, opened, priority), extra, strict=True))
    order = np.argsort(opened, kind="stable")
    return _table(rng, world, tenant[order], opened[order], priority[order])


def _routine(rng: np.random.Generator, world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordinary tickets; at-risk tenants open three times as many, mostly late in the window."""
    cfg, pop = world.cfg, world.pop
    tenants, times = [], []
    risky = pop.at_risk()
    for day in range(cfg.days):
        start = cfg.day_start_us(day)
        late = day >= cfg.days / 2
        rate = TICKETS_PER_MONTH[world.billing.timeline.at(start)] / 30 * np.where(risky & late, 5.0, 1.0)
        rate *= pop.created_us < start
        count = rng.poisson(rate)
        tenant = np.repeat(np.arange(pop.size), count)
        minute = weighted_index(rng, minute_weights(cfg, day), len(tenant))
        tenants.append(tenant)
        times.append(start + minute * US_PER_MIN + rng.integers(0, US_PER_MIN, len(tenant)))
    tenant = np.concatenate(tenants)
    return tenant, np.concatenate(times), weighted_index(rng, PRIORITY_SHARE, len(tenant))


def _incident_tickets(rng: np.random.Generator, world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The heaviest tenants report each incident within minutes: P1 for a P1 incident, else P2."""
    pop = world.pop
    heavy = np.argsort(-(plans.REQUEST_WEIGHT[pop.start_tier] * pop.level))
    tenants, times, priorities = [], [], []
    for incident in world.incidents:
        reporters = heavy[: int(rng.integers(2, 6))]
        tenants.append(reporters)
        times.append(incident.start_us + rng.integers(5, 25, len(reporters)) * US_PER_MIN)
        priorities.append(np.full(len(reporters), 0 if incident.severity == "P1" else 1))
    if not tenants:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(tenants), np.concatenate(times), np.concatenate(priorities)


def _table(
    rng: np.random.Generator, world: World, tenant: np.ndarray, opened: np.ndarray, priority: np.ndarray
) -> pa.Table:
    n, end = len(tenant), world.cfg.end_us
    sla = SLA_HOURS[priority] * US_PER_HOUR
    # Median answer at 30% of the SLA; sigma 0.8 puts ~7% past it.
    responded = opened + (sla * 0.3 * rng.lognormal(0.0, 0.8, n)).astype(np.int64)
    resolved = responded + (RESOLVE_MEDIAN_HOURS[priority] * US_PER_HOUR * rng.lognormal(0, 0.7, n)).astype(np.int64)
    status = np.where(
        responded >= end, 0, np.where(resolved >= end, 1, np.where(resolved < end - 3 * US_PER_DAY, 3, 2))
    )
    return kind_table(
        "tickets",
        {
            "ticket_id": numbered("T-", np.arange(1, n + 1), width=5),
            "tenant_id": pick(world.pop.ids, tenant),
            "priority": pick(PRIORITIES, priority),
            "opened_at": opened,
            "first_response_at": np.where(responded < end, responded, NO_TIME),
            "resolved_at": np.where(resolved < end, resolved, NO_TIME),
            "status": pick(("open", "pending", "resolved", "closed"), status),
        },
    )

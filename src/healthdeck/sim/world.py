"""The simulated company at a glance: everything decided once, before day-by-day generation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthdeck.sim.billing import Billing, simulate_billing
from healthdeck.sim.config import SimConfig
from healthdeck.sim.incidents import Incident, plan_incidents
from healthdeck.sim.shape import day_masses
from healthdeck.sim.tenants import Population, build_population
from healthdeck.sim.users import Users, build_users


@dataclass(frozen=True)
class World:
    """Tenants, users, billing and incidents of one run, and each day's request budget."""

    cfg: SimConfig
    pop: Population
    users: Users
    billing: Billing
    incidents: list[Incident]
    day_requests: np.ndarray


def build_world(cfg: SimConfig) -> World:
    """Decide everything that spans the window, and split the run's requests over its days."""
    pop = build_population(cfg)
    total = cfg.requests_per_day * cfg.days
    # Largest remainder keeps the run's total exact while following weekdays and growth.
    exact = day_masses(cfg) * total
    per_day = np.floor(exact).astype(np.int64)
    per_day[np.argsort(per_day - exact)[: total - per_day.sum()]] += 1
    return World(
        cfg=cfg,
        pop=pop,
        users=build_users(cfg, pop),
        billing=simulate_billing(cfg, pop),
        incidents=plan_incidents(cfg),
        day_requests=per_day,
    )

"""Team members of each tenant: who joined when, who was removed, how engaged they are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from healthdeck.sim import plans
from healthdeck.sim.arrow import NO_TIME, concat, kind_table, numbered, pick
from healthdeck.sim.config import US_PER_DAY, SimConfig
from healthdeck.sim.rand import stream
from healthdeck.sim.tenants import Population

# New users who complete a first training within a week, and after how many days.
ACTIVATION_RATE = 0.40
ACTIVATION_DELAY_SHARE = np.array([0.38, 0.24, 0.14, 0.09, 0.06, 0.05, 0.04])
TURNOVER_PER_MONTH = 0.015


@dataclass(frozen=True)
class Users:
    """Per-user arrays; index u is one user account."""

    ids: pa.Array
    tenant: np.ndarray
    signup_us: np.ndarray
    removed_us: np.ndarray  # NO_TIME when still a member
    engagement: np.ndarray  # around 1: scales how often and how much a user does
    activates: np.ndarray  # new users who will complete a first training in their first week
    activation_day: np.ndarray  # days after signup

    @property
    def size(self) -> int:
        return len(self.tenant)


def build_users(cfg: SimConfig, pop: Population) -> Users:
    """Draw each tenant's team: the owner at signup, teammates since, a few removed in the window."""
    rng = stream(cfg.seed, "users")
    low = np.array([r[0] for r in plans.USERS_RANGE])[pop.start_tier]
    high = np.array([r[1] for r in plans.USERS_RANGE])[pop.start_tier]
    team = low + np.floor((high - low + 1) * rng.random(pop.size) ** 1.6).astype(np.int64)
    tenant = np.repeat(np.arange(pop.size), team)
    first = np.concatenate([[0], np.cumsum(team)[:-1]])
    nth = np.arange(len(tenant)) - np.repeat(first, team)
    created = pop.created_us[tenant]
    # Teammates join over the tenant's life, more of them recently (a growing team).
    joined = created + (rng.beta(2.0, 1.0, len(tenant)) * (cfg.end_us - created)).astype(np.int64)
    signup = np.where(nth == 0, created, joined)
    signup -= signup % 1_000_000
    n = len(tenant)
    activates = (signup >= cfg.start_us) & (rng.random(n) < ACTIVATION_RATE)
    return Users(
        ids=concat("u-", pick(pop.numbers, tenant), "-", numbered("", nth + 1, width=2)),
        tenant=tenant,
        signup_us=signup,
        removed_us=_removals(rng, cfg, pop, tenant, nth, signup),
        engagement=rng.uniform(0.6, 1.4, n),
        activates=activates,
        activation_day=rng.choice(len(ACTIVATION_DELAY_SHARE), size=n, p=ACTIVATION_DELAY_SHARE),
    )


def _removals(
    rng: np.random.Generator,
    cfg: SimConfig,
    pop: Population,
    tenant: np.ndarray,
    nth: np.ndarray,
    signup: np.ndarray,
) -> np.ndarray:
    """Ordinary turnover everywhere; at-risk tenants shed teammates while their usage declines."""
    n = len(tenant)
    removed = np.full(n, NO_TIME, dtype=np.int64)
    teammate = (nth > 0) & (signup < cfg.start_us)
    risky = pop.at_risk()[tenant]
    chance = np.where(risky, 0.45, TURNOVER_PER_MONTH * cfg.days / 30)
    leaving = teammate & (rng.random(n) < chance)
    earliest = np.where(risky, np.maximum(pop.decline_day[tenant], 0.0), 0.0)
    earliest = np.minimum(earliest, cfg.days - 0.5)
    day = earliest + rng.random(n) * (cfg.days - earliest)
    removed[leaving] = cfg.start_us + (day[leaving] * US_PER_DAY).astype(np.int64)
    return removed


def users_table(users: Users, pop: Population) -> pa.Table:
    """The user accounts as store records (entities: removed users keep their removal time)."""
    return kind_table(
        "users",
        {
            "user_id": users.ids,
            "tenant_id": pick(pop.ids, users.tenant),
            "signup_at": users.signup_us,
            "removed_at": users.removed_us,
        },
    )

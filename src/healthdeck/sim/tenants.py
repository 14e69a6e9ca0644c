"""The simulated customers: who they are, their starting plan, and how their usage evolves.

Most tenants are steady; a few are at risk (usage declining, some gone silent
for more than a week before the end of the window) and a few are growing into
their plan's ceiling (upsell candidates). A scenario's churning segment (the
STARTER and PRO tenants of some industries) declines from mid-window. Tenants
signing up inside the window start on FREE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthdeck.sim import plans
from healthdeck.sim.arrow import NO_TIME, concat, kind_table, numbered, pick
from healthdeck.sim.config import US_PER_DAY, SimConfig
from healthdeck.sim.rand import at_least_one, stream

STEADY, DECLINING, SILENT, GROWING = range(4)
PROFILE_SHARE = {DECLINING: 0.07, SILENT: 0.03, GROWING: 0.05}
# New organisations per day, as a share of the tenant base.
SIGNUPS_PER_TENANT_DAY = 0.0014

_FIRST = (
    "Acme",
    "Blue",
    "Bright",
    "Cedar",
    "Delta",
    "Ember",
    "Fable",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kite",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orbit",
    "Pine",
    "Quartz",
    "Raven",
    "Summit",
    "Tidal",
    "Umber",
    "Vector",
    "Willow",
    "Zenith",
)
_SECOND = (
    "Analytics",
    "Labs",
    "Health",
    "AI",
    "Robotics",
    "Data",
    "Systems",
    "Bio",
    "Finance",
    "Logistics",
    "Insights",
    "Genomics",
    "Retail",
    "Security",
    "Energy",
    "Media",
)
_SUFFIX = ("", " Inc", " GmbH", " Ltd", " Co", " SAS", " BV")


@dataclass(frozen=True)
class Population:
    """Per-tenant arrays (index i is tenant number i + 1) that every other generator reads."""

    ids: pa.Array
    numbers: pa.Array  # "0001", the tenant's number as text
    names: pa.Array
    created_us: np.ndarray
    start_tier: np.ndarray  # the tier at the window start (at signup for new tenants)
    level: np.ndarray  # activity multiplier, lognormal around 1
    profile: np.ndarray
    decline_day: np.ndarray  # window day the decline starts (float)
    decline_rate: np.ndarray  # per day
    silent_day: np.ndarray  # first window day with no activity (large when never)
    v2_from_us: np.ndarray  # when the tenant's clients moved to API v2
    key_offset: np.ndarray  # index of the tenant's first key in `api_keys`
    key_count: np.ndarray
    api_keys: pa.Array
    webhook_target: pa.Array  # null for tenants without webhooks
    window_start_us: int
    segment: np.ndarray  # in the scenario's churning segment

    @property
    def size(self) -> int:
        return len(self.created_us)

    @property
    def existing(self) -> np.ndarray:
        """Indexes of tenants created before the window (only those can be at risk or paid at start)."""
        return np.flatnonzero(self.created_us < self.window_start_us)

    def usage(self, day: int) -> np.ndarray:
        """Each tenant's usage multiplier on window day `day` (0 when silent)."""
        decline = np.exp(-self.decline_rate * np.maximum(0.0, day - self.decline_day))
        growth = np.where(self.profile == GROWING, 1.0 + 0.03 * day, 1.0)
        silent = day >= self.silent_day
        return np.where(silent, 0.0, self.level * decline * growth)

    def at_risk(self) -> np.ndarray:
        return (self.profile == DECLINING) | (self.profile == SILENT)


def build_population(cfg: SimConfig) -> Population:
    """Draw the tenants of a run: ids, names, signup times, starting tiers and usage profiles."""
    rng = stream(cfg.seed, "population")
    n = cfg.tenants
    width = max(4, len(str(n)))
    numbers = pa.array([str(i).zfill(width) for i in range(1, n + 1)], pa.string())
    created = _created_at(rng, cfg)
    start_tier = _start_tiers(rng, created, cfg.start_us)
    profile, decline_day, decline_rate, silent_day = _profiles(rng, cfg, created, start_tier)
    key_count = _ranged(rng, plans.API_KEYS_RANGE, start_tier)
    key_offset = np.concatenate([[0], np.cumsum(key_count)[:-1]])
    names, industry = _names(rng, n)
    segment = _churning_segment(cfg, created, start_tier, industry)
    _decline(cfg, segment, profile=profile, decline_day=decline_day, decline_rate=decline_rate)
    return Population(
        ids=concat("t-", numbers),
        numbers=numbers,
        names=names,
        created_us=created,
        start_tier=start_tier,
        level=rng.lognormal(0.0, 0.55, n),
        profile=profile,
        decline_day=decline_day,
        decline_rate=decline_rate,
        silent_day=silent_day,
        v2_from_us=_v2_migration(rng, cfg, n),
        key_offset=key_offset,
        key_count=key_count,
        api_keys=_api_keys(numbers, key_count),
        webhook_target=_webhook_targets(rng, numbers, start_tier),
        window_start_us=cfg.start_us,
        segment=segment,
    )


def _created_at(rng: np.random.Generator, cfg: SimConfig) -> np.ndarray:
    """Signup times: a few inside the window, the rest up to ~4 years before it."""
    n = cfg.tenants
    inside = at_least_one(rng, SIGNUPS_PER_TENANT_DAY * n * cfg.days, n - 1) if n > 1 else 0
    age_days = np.exp(rng.uniform(np.log(20), np.log(1_400), n))
    created = cfg.start_us - (age_days * US_PER_DAY).astype(np.int64)
    fresh = rng.choice(n, inside, replace=False)
    created[fresh] = cfg.start_us + (rng.uniform(0.02, 0.97, inside) * cfg.days * US_PER_DAY).astype(np.int64)
    return created - created % 1_000_000  # whole seconds, like a real signup form


def _start_tiers(rng: np.random.Generator, created: np.ndarray, start_us: int) -> np.ndarray:
    """Tiers by quota; tenants signing up inside the window all start on FREE."""
    quota = plans.tier_quota(len(created))
    tiers = np.full(len(created), plans.FREE, dtype=np.int64)
    existing = np.flatnonzero(created < start_us)
    # Older tenants are more often paying ones: order candidates by age with some shuffling.
    age_rank = np.argsort(created[existing] + rng.normal(0, 400 * US_PER_DAY, len(existing)))
    ordered = existing[age_rank]
    paid = [t for t in (plans.ENTERPRISE, plans.BUSINESS, plans.PRO, plans.STARTER) for _ in range(quota[t])]
    slots = rng.permutation(min(len(ordered), 2 * len(paid)))[: len(paid)]
    tiers[ordered[np.sort(slots)]] = np.array(paid, dtype=np.int64)[: len(slots)]
    return tiers


def _profiles(
    rng: np.random.Generator, cfg: SimConfig, created: np.ndarray, tiers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mark a few existing tenants declining, silent or growing, with when and how fast."""
    n, days = len(created), cfg.days
    profile = np.full(n, STEADY, dtype=np.int64)
    candidates = np.flatnonzero((created < cfg.start_us) & (tiers != plans.ENTERPRISE))
    candidates = rng.permutation(candidates)
    taken = 0
    for kind, share in PROFILE_SHARE.items():
        count = at_least_one(rng, share * n, len(candidates) - taken) if n >= 10 else 0
        profile[candidates[taken : taken + count]] = kind
        taken += count
    decline_day = np.full(n, np.inf)
    at_risk = (profile == DECLINING) | (profile == SILENT)
    latest_start = max(0.0, days - 12.0)
    decline_day[at_risk] = rng.uniform(0.0, latest_start, at_risk.sum()) if latest_start else 0.0
    decline_rate = np.where(at_risk, rng.uniform(0.12, 0.22, n), 0.0)
    silent_day = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    quiet = profile == SILENT
    # Silent tenants stop at least 7 full days before the end (when the window allows it).
    last_allowed = days - 8 if days >= 10 else max(1, days // 2)
    first_allowed = min(last_allowed, max(1, days // 3))
    silent_day[quiet] = rng.integers(first_allowed, last_allowed + 1, quiet.sum())
    decline_day[quiet] = np.minimum(decline_day[quiet], silent_day[quiet] - 5.0)
    return profile, decline_day, decline_rate, silent_day


def _churning_segment(cfg: SimConfig, created: np.ndarray, tiers: np.ndarray, industry: np.ndarray) -> np.ndarray:
    """Existing STARTER and PRO tenants whose industry the scenario names."""
    churning = np.isin(np.array(_SECOND)[industry], cfg.scenario.churn_industries)
    small = (tiers == plans.STARTER) | (tiers == plans.PRO)
    return churning & small & (created < cfg.start_us)


def _decline(
    cfg: SimConfig, segment: np.ndarray, *, profile: np.ndarray, decline_day: np.ndarray, decline_rate: np.ndarray
) -> None:
    """The segment loses interest from a third to half way through the window (its own stream of draws)."""
    rng = stream(cfg.seed, "segment-decline")
    count = int(segment.sum())
    profile[segment] = DECLINING
    decline_day[segment] = rng.uniform(cfg.days / 3, cfg.days / 2, count)
    decline_rate[segment] = rng.uniform(0.08, 0.16, count)


def _ranged(rng: np.random.Generator, ranges: tuple[tuple[int, int], ...], tiers: np.ndarray) -> np.ndarray:
    low = np.array([r[0] for r in ranges])[tiers]
    high = np.array([r[1] for r in ranges])[tiers]
    return rng.integers(low, high + 1)


def _v2_migration(rng: np.random.Generator, cfg: SimConfig, n: int) -> np.ndarray:
    """API v2 adoption: a third migrated before the window, a fifth migrate inside it, the rest not yet."""
    u = rng.random(n)
    when = np.full(n, NO_TIME, dtype=np.int64)
    when[u < 0.35] = 0
    moving = (u >= 0.35) & (u < 0.55)
    when[moving] = cfg.start_us + (rng.random(moving.sum()) * cfg.days * US_PER_DAY).astype(np.int64)
    return when


def _api_keys(numbers: pa.Array, key_count: np.ndarray) -> pa.Array:
    owner = np.repeat(np.arange(len(key_count)), key_count)
    offset = np.concatenate([[0], np.cumsum(key_count)[:-1]])
    nth = np.arange(key_count.sum()) - np.repeat(offset, key_count) + 1
    return concat("ak_live_", pick(numbers, owner), "_", numbered("", nth))


def _webhook_targets(rng: np.random.Generator, numbers: pa.Array, tiers: np.ndarray) -> pa.Array:
    """Webhook endpoints for about half the paying tenants and a few free ones."""
    share = np.array([0.05, 0.25, 0.5, 0.7, 0.9])[tiers]
    has = rng.random(len(tiers)) < share
    urls = concat("https://hooks.customer-", numbers, ".example.com/healthdeck")
    return pc.if_else(pa.array(has), urls, pa.scalar(None, pa.string()))


def _names(rng: np.random.Generator, n: int) -> tuple[pa.Array, np.ndarray]:
    """Company names, and each one's industry (the index of its second word)."""
    first = pick(_FIRST, rng.integers(0, len(_FIRST), n))
    industry = rng.integers(0, len(_SECOND), n)
    suffix = pick(_SUFFIX, rng.integers(0, len(_SUFFIX), n))
    return concat(first, " ", pick(_SECOND, industry), suffix), industry


def tenants_table(pop: Population, final_tier: np.ndarray, final_plan: list[str]) -> pa.Table:
    """The tenants as they stand at the window end (entity records: the latest state wins)."""
    return kind_table(
        "tenants",
        {
            "tenant_id": pop.ids,
            "name": pop.names,
            "tier": pick(plans.TIERS, final_tier),
            "plan": pa.array(final_plan, pa.string()),
            "created_at": pop.created_us,
            "enterprise": final_tier == plans.ENTERPRISE,
        },
    )

"""Security events: derived from the day's 429 and 401 responses, plus one or two isolation scares.

A rate-limit violation is logged once per tenant and minute with 429s (so mostly
FREE and STARTER tenants), an auth failure once per tenant and hour with
401s. In the whole window there is one blocked cross-tenant query and, half the
time, one blocked isolation violation.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from healthdeck.sim import api, plans
from healthdeck.sim.arrow import concat, json_objects, kind_table, numbered, pick
from healthdeck.sim.config import US_PER_MIN
from healthdeck.sim.rand import stream, weighted_index
from healthdeck.sim.traffic import DayTraffic
from healthdeck.sim.world import World

AUTH_REASONS = ("invalid_api_key", "expired_token", "revoked_key")


def day_security(world: World, day: int, traffic: DayTraffic) -> pa.Table:
    """The day's rate-limit and auth-failure events."""
    rng = stream(world.cfg.seed, "security", day)
    limited = _first_per_bucket(traffic, status=429, bucket_us=US_PER_MIN)
    failed = _first_per_bucket(traffic, status=401, bucket_us=60 * US_PER_MIN)
    tables = [_rate_limits(rng, world, traffic, limited), _auth_failures(rng, world, traffic, failed)]
    batch = pa.concat_tables(tables).sort_by([("ts", "ascending")])
    return batch.set_column(0, "event_id", numbered(world.cfg.id_prefix("sec") + f"{day}-", np.arange(batch.num_rows)))


def _first_per_bucket(traffic: DayTraffic, *, status: int, bucket_us: int) -> np.ndarray:
    rows = np.flatnonzero(traffic.status == status)
    key = traffic.tenant[rows] * (2**40) + traffic.ts_us[rows] // bucket_us
    _, first = np.unique(key, return_index=True)
    return rows[np.sort(first)]


def _rate_limits(rng: np.random.Generator, world: World, traffic: DayTraffic, rows: np.ndarray) -> pa.Table:
    tenant, n = traffic.tenant[rows], len(rows)
    limit = plans.RATE_LIMIT_PER_MIN[world.billing.timeline.rows(tenant, traffic.ts_us[rows])]
    details = json_objects(
        {
            "limit_per_minute": limit,
            "observed_per_minute": np.round(limit * rng.uniform(1.02, 2.5, n)).astype(np.int64),
            "endpoint": pick(api.ENDPOINTS, traffic.route[rows]),
            "api_key": pick(world.pop.api_keys, traffic.key[rows]),
        },
        n,
    )
    return _events(world, traffic.ts_us[rows], tenant, "rate_limit_violation", details)


def _auth_failures(rng: np.random.Generator, world: World, traffic: DayTraffic, rows: np.ndarray) -> pa.Table:
    n = len(rows)
    details = json_objects(
        {
            "reason": pick(AUTH_REASONS, weighted_index(rng, np.array([0.5, 0.35, 0.15]), n)),
            "api_key": pick(world.pop.api_keys, traffic.key[rows]),
            "source_ip": concat("203.0.113.", numbered("", rng.integers(1, 255, n))),
            "attempts": rng.integers(1, 12, n),
        },
        n,
    )
    return _events(world, traffic.ts_us[rows], traffic.tenant[rows], "auth_failure", details)


def _events(world: World, ts: np.ndarray, tenant: np.ndarray, kind: str, details: pa.Array) -> pa.Table:
    return kind_table(
        "security_events",
        {
            "event_id": pa.nulls(len(ts), pa.string()),
            "ts": ts,
            "tenant_id": pick(world.pop.ids, tenant),
            "kind": pa.array([kind] * len(ts), pa.string()),
            "details": details,
        },
    )


def isolation_events(world: World) -> pa.Table:
    """The window's rare isolation scares, each blocked by the tenant guard."""
    rng = stream(world.cfg.seed, "isolation")
    cfg, pop = world.cfg, world.pop
    kinds = ["cross_tenant_query"] + (["isolation_violation"] if rng.random() < 0.5 else [])
    n = len(kinds)
    tenant = rng.choice(pop.existing, size=n)
    other = (tenant + 1 + rng.integers(0, max(pop.size - 1, 1), n)) % pop.size
    ts = cfg.start_us + (rng.uniform(0.05, 0.95, n) * (cfg.end_us - cfg.start_us)).astype(np.int64)
    details = json_objects(
        {
            "blocked": np.ones(n, dtype=bool),
            "target_tenant": pick(pop.ids, other),
            "resource": pick(("sql_query", "cache_key"), np.arange(n)),
            "detector": pa.array(["row_level_security"] * n, pa.string()),
        },
        n,
    )
    table = _events(world, ts, tenant, "cross_tenant_query", details)
    table = table.set_column(3, "kind", pa.array(kinds, pa.string()))
    return table.set_column(0, "event_id", numbered(cfg.id_prefix("iso"), np.arange(n)))

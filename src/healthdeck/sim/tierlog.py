"""Rows of the tier event log, one builder per event type, each filling its critical attributes.

Builders take numpy arrays (one element per event) and return store-shaped
tables; `finish` orders a batch by time and numbers it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthdeck.sim import plans
from healthdeck.sim.arrow import Columns, json_objects, kind_table, numbered, pick
from healthdeck.sim.tenants import Population
from healthdeck.store.schema import LIFECYCLE_TIERS

COLD, WARM, HOT, PERSISTENT = range(4)
CACHE_LEVELS = ("L1_miss", "L2_hit", "L3_hit")
# Cold start cost by cache level: a full miss rebuilds from storage, an L2 hit reuses the pageserver cache.
STARTUP_MEDIAN_MS = np.array([2_600.0, 350.0, 1_100.0])
CACHE_SHARE_BY_TIER = np.array(
    [[0.35, 0.35, 0.30], [0.25, 0.45, 0.30], [0.10, 0.70, 0.20], [0.08, 0.72, 0.20], [0.05, 0.80, 0.15]]
)
# Pool sizes by lifecycle state (reported in transition metadata).
POOL_SIZE = np.array([0, 5, 10, 20])


def _base(event: str, ts: np.ndarray, tenant: np.ndarray, tier: np.ndarray, pop: Population) -> Columns:
    return {
        "timestamp": np.asarray(ts, dtype=np.int64),
        "event_type": pa.array([event] * len(ts), pa.string()),
        "project_id": pc.binary_join_element_wise("proj-", pick(pop.numbers, tenant), ""),
        "tenant_id": pick(pop.ids, tenant),
        "tier": pick(plans.TIERS, tier),
    }


def _table(columns: Columns) -> pa.Table:
    return kind_table("tier_events", columns)


def tier_table(
    event: str,
    ts: np.ndarray,
    tenant: np.ndarray,
    tier: np.ndarray,
    pop: Population,
    attributes: Columns,
) -> pa.Table:
    """Events of type `event` with the common columns plus the type's own `attributes`."""
    return _table({**_base(event, ts, tenant, tier, pop), **attributes})


def transitions(
    ts: np.ndarray,
    tenant: np.ndarray,
    tier: np.ndarray,
    pop: Population,
    *,
    source: np.ndarray,
    target: np.ndarray,
    reason: str | pa.Array,
    trigger: Mapping[str, np.ndarray | pa.Array] | None = None,
) -> pa.Table:
    """Lifecycle moves between COLD, WARM, HOT and PERSISTENT, with pool sizes before and after."""
    n = len(ts)
    columns = {
        **_base("tier_transition", ts, tenant, tier, pop),
        "source_tier": pick(LIFECYCLE_TIERS, source),
        "target_tier": pick(LIFECYCLE_TIERS, target),
        "reason": reason if isinstance(reason, pa.Array) else pa.array([reason] * n, pa.string()),
        "metadata": json_objects(
            {
                "database_type": pa.array(["postgres"] * n, pa.string()),
                "pool_size_before": POOL_SIZE[source],
                "pool_size_after": POOL_SIZE[target],
            },
            n,
        ),
    }
    if trigger:
        columns["trigger_conditions"] = json_objects(trigger, n)
    return _table(columns)


def scale_to_zero(
    ts: np.ndarray,
    tenant: np.ndarray,
    tier: np.ndarray,
    pop: Population,
    *,
    reason: pa.Array,
    idle_sec: np.ndarray,
    last_query_us: np.ndarray,
) -> pa.Table:
    """Compute released after the tenant sat idle."""
    return _table(
        {
            **_base("scale_to_zero", ts, tenant, tier, pop),
            "reason": reason,
            "idle_duration_sec": idle_sec.astype(np.float64),
            "last_query_timestamp": last_query_us,
        }
    )


def cold_starts(
    rng: np.random.Generator, ts: np.ndarray, tenant: np.ndarray, tier: np.ndarray, pop: Population
) -> pa.Table:
    """Compute spun up again for a request; cost depends on which cache level still held the data."""
    n = len(ts)
    cumulative = np.cumsum(CACHE_SHARE_BY_TIER, axis=1)[tier]
    level = np.minimum((rng.random(n)[:, None] > cumulative).sum(axis=1), len(CACHE_LEVELS) - 1)
    slower = np.where(tier == plans.FREE, 1.15, 1.0)
    startup = STARTUP_MEDIAN_MS[level] * slower * rng.lognormal(0.0, 0.3, n)
    first_query = startup + 45.0 * rng.lognormal(0.0, 0.4, n)
    return _table(
        {
            **_base("cold_start", ts, tenant, tier, pop),
            "source_tier": pick(LIFECYCLE_TIERS, np.full(n, COLD)),
            "cache_level": pick(CACHE_LEVELS, level),
            "startup_duration_ms": np.round(startup, 1),
            "first_query_latency_ms": np.round(first_query, 1),
        }
    )


def finish(tables: list[pa.Table], id_prefix: str) -> pa.Table:
    """One batch of tier events ordered by time, numbered after `id_prefix`."""
    kept = [t for t in tables if t.num_rows]
    if not kept:
        return tables[0].slice(0, 0) if tables else _table({"timestamp": np.zeros(0, dtype=np.int64)})
    batch = pa.concat_tables(kept).sort_by([("timestamp", "ascending")])
    return batch.set_column(0, "event_id", numbered(id_prefix, np.arange(batch.num_rows)))

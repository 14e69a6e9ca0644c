"""Hourly readings: cluster capacity (total and allocated) and each tenant's resource use.

Totals are the capacity plan's (5 API pods, 20 CPU cores, 80 GB memory, 4 GPUs,
100 DB connections, 1 TB storage). "Used" is what is allocated (reserved by the
scheduler, held by the pools), which follows the customer base: it reaches the
plan's current figures at the window end, having grown steadily over the window,
with a mild daily swing. GPUs follow the scenario: 2.5 of 4 at the end growing
10% a month when healthy, up to 3.6 growing 45% a month in a capacity squeeze.
Tenant usage follows the tenant's requests in that hour.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from healthdeck.sim import plans
from healthdeck.sim.arrow import Columns, concat, pick
from healthdeck.sim.config import US_PER_DAY, US_PER_HOUR, SimConfig
from healthdeck.sim.rand import stream
from healthdeck.sim.world import World

# resource -> (total, allocated at the window end, growth per month, swings with the daily load)
RESOURCES: dict[str, tuple[float, float, float, bool]] = {
    "api_pods": (5.0, 3.2, 0.05, True),
    "cpu_cores": (20.0, 12.0, 0.10, True),
    "memory_gb": (80.0, 52.0, 0.08, True),
    "gpu": (4.0, 2.5, 0.10, False),  # allocation and growth: see the scenario
    "db_connections": (100.0, 45.0, 0.12, True),
    "storage_gb": (1000.0, 560.0, 0.16, False),
}
IDLE_MILLICORES = np.array([25.0, 100.0, 250.0, 500.0, 2_000.0])
IDLE_MEMORY = np.array([128.0, 256.0, 512.0, 1_024.0, 4_096.0]) * 2**20
STORAGE_MEDIAN = np.array([0.2, 2.0, 10.0, 60.0, 400.0]) * 2**30


def allocated(cfg: SimConfig, resource: str, times: np.ndarray, load: np.ndarray | None = None) -> np.ndarray:
    """How much of `resource` is allocated at `times` (load, 1 = weekday peak, adds the daily swing)."""
    _, at_end, growth, swings = RESOURCES[resource]
    if resource == "gpu":
        at_end, growth = cfg.scenario.gpu_at_end, cfg.scenario.gpu_growth
    months_to_end = (cfg.end_us - times) / (30 * US_PER_DAY)
    trend = at_end / (1 + growth * months_to_end)
    if swings and load is not None:
        trend = trend * (0.95 + 0.1 * load)
    return trend


def capacity_columns(cfg: SimConfig, day: int, times: np.ndarray, load: np.ndarray) -> Columns:
    """capacity_total and capacity_used per resource at each hour of window day `day`."""
    rng = stream(cfg.seed, "capacity", day)
    hours = times[::60]
    hourly_load = load.reshape(24, 60).mean(axis=1)
    ts, metric, labels, value = [], [], [], []
    for resource, (total, *_) in RESOURCES.items():
        used = allocated(cfg, resource, hours, hourly_load) * rng.normal(1.0, 0.005, 24)
        for name, reading in (("capacity_total", np.full(24, total)), ("capacity_used", np.round(used, 3))):
            ts.append(hours)
            metric += [name] * 24
            labels += [f'{{"resource":"{resource}"}}'] * 24
            value.append(reading)
    return {
        "ts": np.concatenate(ts),
        "metric": pa.array(metric, pa.string()),
        "labels": pa.array(labels, pa.string()),
        "value": np.concatenate(value),
    }


def tenant_columns(world: World, day: int, hour_counts: np.ndarray) -> Columns:
    """tenant_cpu_millicores, tenant_memory_bytes and tenant_storage_bytes per tenant and hour."""
    cfg, pop = world.cfg, world.pop
    hours = cfg.day_start_us(day) + np.arange(24, dtype=np.int64) * US_PER_HOUR
    tenant = np.repeat(np.arange(pop.size), 24)
    ts = np.tile(hours, pop.size)
    alive = pop.created_us[tenant] <= ts
    tenant, ts, calls = tenant[alive], ts[alive], hour_counts.reshape(-1)[alive]
    tier = world.billing.timeline.rows(tenant, ts)
    awake = (calls > 0) | (tier >= plans.PRO)
    # ~120 ms of CPU and ~20 KB of working memory per request, on top of the tier's idle footprint.
    cpu = np.where(awake, IDLE_MILLICORES[tier], 0.0) + calls * 0.12 / 3.6
    memory = np.where(awake, IDLE_MEMORY[tier], 0.0) + calls * 20_000.0
    storage = _storage(world)[tenant] * (1 + 0.004 * (ts - cfg.start_us) / US_PER_DAY)
    labels = concat('{"tenant_id":"', pick(pop.ids, tenant), '","tier":"', pick(plans.TIERS, tier), '"}')
    names = ("tenant_cpu_millicores", "tenant_memory_bytes", "tenant_storage_bytes")
    count = len(tenant)
    return {
        "ts": np.concatenate([ts, ts, ts]),
        "metric": pick(names, np.repeat(np.arange(3), count)),
        "labels": pa.concat_arrays([labels, labels, labels]),
        "value": np.concatenate([np.round(cpu, 1), np.round(memory), np.round(storage)]),
    }


def _storage(world: World) -> np.ndarray:
    """Each tenant's stored bytes at the window start (drawn once per run)."""
    rng = stream(world.cfg.seed, "tenant-storage")
    return STORAGE_MEDIAN[world.pop.start_tier] * rng.lognormal(0, 0.8, world.pop.size)

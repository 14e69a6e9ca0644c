"""One day of samples: per-minute infrastructure gauges, hourly capacity and hourly tenant usage."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from healthdeck.sim.arrow import kind_table, numbered
from healthdeck.sim.capacity import capacity_columns, tenant_columns
from healthdeck.sim.incidents import day_impact
from healthdeck.sim.jobs import JobBatch
from healthdeck.sim.samples import day_minutes, minute_table_columns, minute_values, queue_depths
from healthdeck.sim.world import World


def day_samples(world: World, day: int, tenant_hour_counts: np.ndarray, jobs: list[JobBatch]) -> pa.Table:
    """Every sample of window day `day`; `jobs` must hold every job that may be waiting during that day."""
    cfg = world.cfg
    minutes = day_minutes(cfg, day, day_impact(cfg, day, world.incidents))
    values = minute_values(cfg, minutes, queue_depths(minutes, jobs))
    parts = [
        minute_table_columns(minutes, values),
        capacity_columns(cfg, day, minutes.times, minutes.load),
        tenant_columns(world, day, tenant_hour_counts),
    ]
    table = pa.concat_tables(
        [kind_table("samples", {"event_id": pa.nulls(len(p["ts"]), pa.string()), **p}) for p in parts]
    )
    ids = numbered(cfg.id_prefix("smp") + f"{day}-", np.arange(table.num_rows))
    return table.set_column(0, "event_id", ids)

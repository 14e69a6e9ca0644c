"""Infrastructure metrics, one reading per minute: the metric names here are a contract.

The catalog queries exactly these names and labels. Values follow the daily
load curve, grow slowly over the window (GPU fastest), and react to incidents:
the failing service reports down for some minutes, errors and latencies jump.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from healthdeck.sim.arrow import Columns
from healthdeck.sim.capacity import RESOURCES, allocated
from healthdeck.sim.config import MIN_PER_DAY, US_PER_DAY, SimConfig
from healthdeck.sim.incidents import DayImpact
from healthdeck.sim.jobs import QUEUES, JobBatch
from healthdeck.sim.rand import stream
from healthdeck.sim.shape import HOUR_SHAPE, WEEKDAY_FACTOR, minute_times, minute_weights

# (metric, labels JSON) of every per-minute series, in output order.
MINUTE_SERIES: tuple[tuple[str, str], ...] = (
    ("up", '{"service":"api"}'),
    ("up", '{"service":"db"}'),
    ("up", '{"service":"redis"}'),
    ("cpu_utilization_pct", '{"service":"api"}'),
    ("memory_utilization_pct", '{"service":"api"}'),
    ("gpu_utilization_pct", "{}"),
    ("gpu_memory_pct", "{}"),
    ("disk_usage_pct", "{}"),
    ("network_in_bps", "{}"),
    ("pods_ready", "{}"),
    ("pods_desired", "{}"),
    ("pod_restarts", "{}"),
    ("db_connections_pct", "{}"),
    ("db_query_latency_ms", "{}"),
    ("db_slow_queries", "{}"),
    ("db_replication_lag_s", "{}"),
    ("db_size_bytes", "{}"),
    ("redis_memory_pct", "{}"),
    ("redis_hit_rate_pct", "{}"),
    ("redis_connected_clients", "{}"),
    ("redis_evictions_per_s", "{}"),
    ("dp_epsilon_spent", "{}"),
    ("he_ops_per_s", "{}"),
    ("he_latency_p95_us", "{}"),
    ("gradient_norm", "{}"),
    *(("queue_depth", f'{{"queue":"{queue}"}}') for queue in QUEUES),
)
PEAK_WEIGHT = HOUR_SHAPE.max() * WEEKDAY_FACTOR.max()


@dataclass(frozen=True)
class Minutes:
    """One day's per-minute context: times, load (1 = weekday peak), growth and incident masks."""

    times: np.ndarray
    load: np.ndarray
    months: np.ndarray  # months elapsed since the window start
    incident: dict[str, np.ndarray]  # service -> minutes in an incident of that service
    down: dict[str, np.ndarray]
    storage_gb: np.ndarray  # allocated storage, shared with the hourly capacity readings
    gpu_share: np.ndarray  # share of the GPUs allocated (0-1), as the hourly capacity readings say
    rng: np.random.Generator

    def wiggle(self, scale: float, smooth: int = 15) -> np.ndarray:
        """Smooth noise (unit spread times `scale`): real gauges drift, they do not jump each minute."""
        noise = np.convolve(self.rng.standard_normal(MIN_PER_DAY + smooth), np.ones(smooth) / np.sqrt(smooth), "same")
        return scale * noise[smooth // 2 : smooth // 2 + MIN_PER_DAY]

    @property
    def any_incident(self) -> np.ndarray:
        return self.incident["api"] | self.incident["db"] | self.incident["redis"]


def day_minutes(cfg: SimConfig, day: int, impact: DayImpact) -> Minutes:
    """The per-minute context of window day `day`."""
    times = minute_times(cfg, day)
    services = ("api", "db", "redis")
    incident = {s: np.zeros(MIN_PER_DAY, dtype=bool) for s in services}
    for i, item in enumerate(impact.incidents):
        incident[item.service] |= impact.minute_incident == i
    return Minutes(
        times=times,
        load=minute_weights(cfg, day) / PEAK_WEIGHT,
        months=(times - cfg.start_us) / (30 * US_PER_DAY),
        incident=incident,
        down={s: impact.down(s, times) for s in services},
        storage_gb=allocated(cfg, "storage_gb", times),
        gpu_share=allocated(cfg, "gpu", times) / RESOURCES["gpu"][0],
        rng=stream(cfg.seed, "samples", day),
    )


def minute_values(cfg: SimConfig, m: Minutes, queues: dict[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    """Every per-minute series of one day, keyed like MINUTE_SERIES."""
    values = {
        **_availability(m),
        **_compute(m),
        **_database(m),
        **_redis(m),
        **_privacy(cfg, m),
        **{("queue_depth", f'{{"queue":"{q}"}}'): queues[q].astype(np.float64) for q in QUEUES},
    }
    return {key: values[key] for key in MINUTE_SERIES}


def _availability(m: Minutes) -> dict[tuple[str, str], np.ndarray]:
    return {("up", f'{{"service":"{s}"}}'): np.where(m.down[s], 0.0, 1.0) for s in ("api", "db", "redis")}


def _compute(m: Minutes) -> dict[tuple[str, str], np.ndarray]:
    rng, load, months = m.rng, m.load, m.months
    gpu_load = 0.55 + 0.45 * load  # batch training keeps GPUs busy at night too
    cpu = (33 + 38 * load) * (1 + 0.08 * months) + m.wiggle(2.0) + 14 * m.any_incident
    memory = (48 + 16 * load) * (1 + 0.06 * months) + m.wiggle(1.2) + 8 * m.incident["api"]
    surge = 2 * m.any_incident
    sustained = np.lib.stride_tricks.sliding_window_view(np.concatenate([np.full(14, load[0]), load]), 15).max(axis=1)
    desired = np.clip(3 + np.floor(2.99 * sustained * (1 + 0.05 * months)) + surge, 3, 8)
    lagged = np.concatenate([desired[:2], desired[:-2]])
    ready = np.maximum(np.minimum(desired, lagged) - m.down["api"] * rng.integers(1, 3, MIN_PER_DAY), 0)
    restarts = rng.poisson(np.where(m.down["api"] | m.down["db"], 1.5, np.where(m.any_incident, 0.2, 0.0015)))
    return {
        ("cpu_utilization_pct", '{"service":"api"}'): np.clip(cpu, 3, 99),
        ("memory_utilization_pct", '{"service":"api"}'): np.clip(memory, 10, 99),
        # Allocated GPUs are busy: utilization follows the allocation, a little higher when training peaks.
        ("gpu_utilization_pct", "{}"): np.clip(100 * m.gpu_share * (0.8 + 0.22 * gpu_load) + m.wiggle(3.0), 0, 100),
        ("gpu_memory_pct", "{}"): np.clip((34 + 25 * gpu_load) * (1 + 0.2 * months) + m.wiggle(3.0), 0, 100),
        ("disk_usage_pct", "{}"): np.clip(m.storage_gb / 10 + 0.3 * ((m.times % US_PER_DAY) / US_PER_DAY), 0, 100),
        ("network_in_bps", "{}"): 9e8 * (0.12 + 0.88 * load) * (1 + 0.1 * months) * (1 + 0.05 * m.wiggle(1.0)),
        ("pods_ready", "{}"): ready.astype(np.float64),
        ("pods_desired", "{}"): desired.astype(np.float64),
        ("pod_restarts", "{}"): restarts.astype(np.float64),
    }


def _database(m: Minutes) -> dict[tuple[str, str], np.ndarray]:
    rng, load, months, db = m.rng, m.load, m.months, m.incident["db"]
    slow = np.where(db, 4.0, np.where(m.any_incident, 1.4, 1.0))
    lag = np.where(db, rng.uniform(4, 20, MIN_PER_DAY), rng.lognormal(np.log(0.15), 0.4, MIN_PER_DAY))
    return {
        ("db_connections_pct", "{}"): np.clip((28 + 30 * load) * (1 + 0.1 * months) + m.wiggle(2.0) + 35 * db, 1, 100),
        ("db_query_latency_ms", "{}"): (3.5 + 4.5 * load) * rng.lognormal(0, 0.08, MIN_PER_DAY) * slow,
        ("db_slow_queries", "{}"): rng.poisson(np.where(db, 4.0, 0.02 + 0.08 * load)).astype(np.float64),
        ("db_replication_lag_s", "{}"): lag,
        ("db_size_bytes", "{}"): np.round(180e9 + 1.15e9 * months * 30),
    }


def _redis(m: Minutes) -> dict[tuple[str, str], np.ndarray]:
    rng, load, months, redis = m.rng, m.load, m.months, m.incident["redis"]
    memory = np.clip((50 + 14 * load) * (1 + 0.05 * months) + m.wiggle(1.5) + 15 * redis, 5, 99)
    evictions = np.where(memory > 66, rng.poisson(np.maximum(memory - 66, 0) * 2), 0)
    evictions = np.where(redis, rng.integers(20, 150, MIN_PER_DAY), evictions)
    return {
        ("redis_memory_pct", "{}"): memory,
        ("redis_hit_rate_pct", "{}"): np.clip(97.4 - 1.2 * load + m.wiggle(0.25) - redis * 11, 50, 99.9),
        ("redis_connected_clients", "{}"): np.round(180 + 520 * load + m.wiggle(15) + 300 * redis),
        ("redis_evictions_per_s", "{}"): evictions.astype(np.float64),
    }


def _privacy(cfg: SimConfig, m: Minutes) -> dict[tuple[str, str], np.ndarray]:
    rng, load, months = m.rng, m.load, m.months
    spikes = rng.random(MIN_PER_DAY) < 0.0003
    gradient = rng.lognormal(np.log(1.6), 0.45, MIN_PER_DAY) * np.where(spikes, rng.uniform(8, 25, MIN_PER_DAY), 1)
    return {
        ("dp_epsilon_spent", "{}"): epsilon_spent(cfg, m.times),
        ("he_ops_per_s", "{}"): np.round((1200 + 6000 * load) * (1 + 0.1 * months) + m.wiggle(200)),
        ("he_latency_p95_us", "{}"): (260 + 140 * load + m.wiggle(15)) * np.where(m.any_incident, 1.8, 1.0),
        ("gradient_norm", "{}"): gradient,
    }


def epsilon_spent(cfg: SimConfig, times: np.ndarray) -> np.ndarray:
    """Privacy budget spent: rises within each 3-6 day training budget, resets when a new one opens."""
    rng = stream(cfg.seed, "epsilon")
    lengths = rng.uniform(3, 6, cfg.days + 2) * US_PER_DAY
    opens = cfg.start_us - int(rng.uniform(0, 3) * US_PER_DAY) + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    ceiling = rng.uniform(3.5, 9.4, len(opens))
    budget = np.searchsorted(opens, times, side="right") - 1
    progress = (times - opens[budget]) / lengths[budget]
    return np.round(0.05 + ceiling[budget] * progress**0.8, 3)


def queue_depths(m: Minutes, batches: list[JobBatch]) -> dict[str, np.ndarray]:
    """Jobs waiting in each queue at each minute: enqueued but not started yet."""
    depth = {}
    for queue in QUEUES:
        mine = [b for b in batches if b.queue == queue]
        enqueued = np.sort(np.concatenate([b.enqueued_us for b in mine])) if mine else np.zeros(0, np.int64)
        started = np.sort(np.concatenate([b.started_us for b in mine])) if mine else np.zeros(0, np.int64)
        depth[queue] = np.searchsorted(enqueued, m.times, side="right") - np.searchsorted(started, m.times, "right")
    return depth


def minute_table_columns(m: Minutes, values: dict[tuple[str, str], np.ndarray]) -> Columns:
    """Columns (without ids) of one day's per-minute samples."""
    series = len(MINUTE_SERIES)
    index = np.repeat(np.arange(series), MIN_PER_DAY)
    return {
        "ts": np.tile(m.times, series),
        "metric": pa.array([name for name, _ in MINUTE_SERIES], pa.string()).take(pa.array(index)),
        "labels": pa.array([labels for _, labels in MINUTE_SERIES], pa.string()).take(pa.array(index)),
        "value": np.concatenate([np.round(values[key], 4) for key in MINUTE_SERIES]),
    }

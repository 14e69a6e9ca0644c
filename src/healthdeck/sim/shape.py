"""When traffic happens: the daily curve of the operations checklist, weekends and growth.

The hour-of-day curve follows the checklist's traffic pattern table (UTC, share
of the peak hour): 00-06 10-20%, 06-10 40-60%, 10-14 80-100%, 14-18 70-90%,
18-24 30-50%. Every hour sits inside its band with a margin, so the bands hold
in aggregate even after sampling noise.
"""

from __future__ import annotations

import numpy as np

from healthdeck.sim.config import MIN_PER_DAY, US_PER_DAY, US_PER_MIN, SimConfig

HOUR_SHAPE = np.concatenate(
    [
        [0.17, 0.15, 0.13, 0.12, 0.13, 0.16],  # 00-06: night, 10-20% of peak
        [0.45, 0.49, 0.53, 0.56],  # 06-10: morning ramp, 40-60%
        [0.87, 0.94, 1.00, 0.95],  # 10-14: peak, 80-100%
        [0.85, 0.81, 0.78, 0.75],  # 14-18: afternoon, 70-90%
        [0.46, 0.43, 0.40, 0.37, 0.35, 0.34],  # 18-24: evening, 30-50%
    ]
)
# Saturday and Sunday carry less traffic than weekdays (Monday = 0).
WEEKDAY_FACTOR = np.array([1.0, 1.02, 1.03, 1.0, 0.95, 0.62, 0.55])
# Traffic grows ~1% a week over the window.
GROWTH_PER_DAY = 0.0015


def minute_times(cfg: SimConfig, day: int) -> np.ndarray:
    """The start (µs) of each minute of window day `day`."""
    return cfg.day_start_us(day) + np.arange(MIN_PER_DAY, dtype=np.int64) * US_PER_MIN


def hour_of_day(us: np.ndarray) -> np.ndarray:
    """UTC hour (0-23) of each time."""
    return (us % US_PER_DAY) // (US_PER_DAY // 24)


def weekday(us: np.ndarray) -> np.ndarray:
    """Weekday of each time, Monday = 0."""
    # 1970-01-01 was a Thursday (weekday 3).
    return (us // US_PER_DAY + 3) % 7


def minute_weights(cfg: SimConfig, day: int) -> np.ndarray:
    """Relative traffic of each minute of window day `day` (hour curve x weekday x growth)."""
    return weights_at(cfg, minute_times(cfg, day))


def weights_at(cfg: SimConfig, times: np.ndarray) -> np.ndarray:
    """Relative traffic at each of `times` (µs)."""
    growth = 1.0 + GROWTH_PER_DAY * (times - cfg.start_us) / US_PER_DAY
    return HOUR_SHAPE[hour_of_day(times)] * WEEKDAY_FACTOR[weekday(times)] * growth


def day_masses(cfg: SimConfig) -> np.ndarray:
    """Each window day's share of the run's traffic (sums to 1)."""
    masses = np.array([minute_weights(cfg, d).sum() for d in range(cfg.days)])
    return masses / masses.sum()


def next_time_of_day(after_us: int, hour: float) -> int:
    """The first moment at or after `after_us` whose UTC time of day is `hour` (hours)."""
    target = int(hour * 3_600_000_000)
    return after_us + (target - after_us % US_PER_DAY) % US_PER_DAY

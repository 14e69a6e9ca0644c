"""From a KPI value to a status and a 0–100 sub-score, and from sub-scores to area and overall scores.

The mapping is piecewise linear so that every GOOD value scores 80–100, every WARNING
value 60–80 and every CRITICAL value 0–60:

- higher-is-better (good "> G", critical "< C"): C maps to 60, G to 80, `best` to 100 and
  `worst` to 0. Defaults: best = G + (G - C), worst = C - 3 (G - C); percentages stay in 0..100.
- lower-is-better mirrors it: best = max(0, G - (C - G)), worst = C + 3 (C - G).
- a good band a..b (critical outside c..d) scores 100 at its middle, 80 at its edges, 60 at c
  and d, and 0 as far again beyond c and d as they lie from the band (floored at 0).
- without a critical condition (a bare target) a value is GOOD or WARNING, never CRITICAL.
Values beyond best or worst are clamped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from healthdeck.catalog.conditions import Band, Comparison
from healthdeck.catalog.models import Threshold


class Status(StrEnum):
    """A KPI's judgement."""

    GOOD = "GOOD"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"
    NO_DATA = "NO_DATA"
    INFO = "INFO"  # measured, but with no threshold to judge it by
    STALE = "STALE"  # measured, but its source stopped reporting too long ago to judge it (engine/freshness.py)


class Light(StrEnum):
    """The traffic light of a score."""

    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"


def light(score: float) -> Light:
    """GREEN at 80 and above, YELLOW at 60 and above, else RED (the specification's cut-offs)."""
    if score >= 80:
        return Light.GREEN
    return Light.YELLOW if score >= 60 else Light.RED


def judge(value: float, threshold: Threshold) -> Status:
    """GOOD if the good condition holds, CRITICAL if the critical one does, else WARNING."""
    if threshold.good.holds(value):
        return Status.GOOD
    if threshold.critical is not None and threshold.critical.holds(value):
        return Status.CRITICAL
    return Status.WARNING


def _lerp(value: float, x0: float, x1: float, y0: float, y1: float) -> float:
    if x1 == x0:
        return y1
    t = min(1.0, max(0.0, (value - x0) / (x1 - x0)))
    return y0 + t * (y1 - y0)


@dataclass(frozen=True)
class Anchors:
    """The values at which a one-sided KPI's sub-score is 0, 60, 80 and 100."""

    worst: float
    critical: float
    good: float
    best: float


def anchors(threshold: Threshold, *, percent: bool) -> Anchors:
    """Anchors of a one-sided threshold, from the catalog or the documented defaults."""
    good = _bound(threshold.good.parts[0])
    critical_part = threshold.critical.parts[0] if threshold.critical else None
    higher = threshold.direction == "higher"
    if isinstance(critical_part, Comparison):
        critical = critical_part.bound
    else:  # a bare target: WARNING stretches from the target down (or up) to `worst`
        spread = abs(good) or 1.0  # "> 40" warns down to 0, "< 3" up to 6, "> 0" down to -1
        critical = threshold.worst if threshold.worst is not None else (good - spread if higher else good + spread)
    width = abs(good - critical) or abs(good) or 1.0
    step = width if higher else -width
    best = threshold.best if threshold.best is not None else good + step
    worst = threshold.worst if threshold.worst is not None else critical - 3 * step
    if percent:
        best, worst = min(max(best, 0.0), 100.0), min(max(worst, 0.0), 100.0)
    if not higher and threshold.best is None:
        best = max(best, 0.0)
    return Anchors(worst=worst, critical=critical, good=good, best=best)


def _bound(part: Comparison | Band) -> float:
    return part.bound if isinstance(part, Comparison) else part.low


def sub_score(value: float, threshold: Threshold, *, percent: bool = False) -> float:
    """The 0–100 sub-score of a value (see the module docstring for the mapping)."""
    status = judge(value, threshold)
    if threshold.direction == "band":
        return _band_score(value, threshold, status)
    a = anchors(threshold, percent=percent)
    if status is Status.GOOD:
        return _lerp(value, a.good, a.best, 80.0, 100.0) if a.best != a.good else 100.0
    if status is Status.WARNING:
        return _lerp(value, a.critical, a.good, 60.0, 80.0)
    return _lerp(value, a.worst, a.critical, 0.0, 60.0)


def _band_score(value: float, threshold: Threshold, status: Status) -> float:
    band = threshold.good.parts[0]
    assert isinstance(band, Band)
    low_c, high_c = _critical_edges(threshold, band)
    middle = (band.low + band.high) / 2
    if status is Status.GOOD:
        edge = band.low if value <= middle else band.high
        return _lerp(value, edge, middle, 80.0, 100.0)
    if value < band.low:
        if status is Status.WARNING:
            return _lerp(value, low_c, band.low, 60.0, 80.0)
        return _lerp(value, max(0.0, low_c - (band.low - low_c)), low_c, 0.0, 60.0)
    if status is Status.WARNING:
        return _lerp(value, high_c, band.high, 60.0, 80.0)
    return _lerp(value, high_c + (high_c - band.high), high_c, 0.0, 60.0)


def _critical_edges(threshold: Threshold, band: Band) -> tuple[float, float]:
    """Where CRITICAL starts below and above a band ("< 0.01 or > 100" gives 0.01 and 100)."""
    low, high = band.low - (band.high - band.low), band.high + (band.high - band.low)
    for part in threshold.critical.parts if threshold.critical else ():
        if isinstance(part, Comparison) and part.op in ("<", "<="):
            low = part.bound
        elif isinstance(part, Comparison) and part.op in (">", ">="):
            high = part.bound
    return low, high


def weighted_mean(pairs: list[tuple[float, float]]) -> float | None:
    """Mean of (value, weight) pairs; None when there is nothing to weigh."""
    total = sum(weight for _, weight in pairs)
    if total <= 0:
        return None
    return sum(value * weight for value, weight in pairs) / total

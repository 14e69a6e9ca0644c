"""Inline SVG for the console's pages: sparklines and gauges, drawn in Python so they need no script.

Both are `role="img"` with an aria-label that says the numbers, and take their colours from the
page's CSS (no colour is written here): `.sparkline` lines use `currentColor`; a gauge's zones are
`.gauge-zone.zone-good|zone-warning|zone-critical|zone-neutral`, its needle `.gauge-needle`.
Nothing is computed but positions: the values come from the API as they are.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from markupsafe import Markup

SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 100.0, 24.0, 2.0
GAUGE_CX, GAUGE_CY, GAUGE_R = 60.0, 60.0, 50.0


def number(value: float) -> str:
    """A value as a reader reads it: thousands separated, four significant digits below 1,000."""
    if math.isfinite(value) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def sparkline(values: Sequence[float | None], *, label: str) -> Markup:
    """A 100×24 trend line of `values` (oldest first); a None leaves a gap."""
    present = [v for v in values if v is not None]
    runs = "".join(_run(run) for run in _runs(_points(values)))
    return Markup(
        '<svg class="sparkline" role="img" aria-label="{}" viewBox="0 0 100 24" width="100" height="24"'
        ' xmlns="http://www.w3.org/2000/svg">{}</svg>'
    ).format(_spark_words(label, present), Markup(runs))


def _points(values: Sequence[float | None]) -> list[tuple[float, float] | None]:
    present = [v for v in values if v is not None]
    if not present:
        return []
    low, high = min(present), max(present)
    step = SPARK_WIDTH / (len(values) - 1) if len(values) > 1 else 0.0
    return [
        None if v is None else (i * step if step else SPARK_WIDTH / 2, _y(v, low, high)) for i, v in enumerate(values)
    ]


def _y(value: float, low: float, high: float) -> float:
    if high == low:
        return SPARK_HEIGHT / 2  # a flat series is drawn through the middle
    return SPARK_HEIGHT - SPARK_PAD - (value - low) / (high - low) * (SPARK_HEIGHT - 2 * SPARK_PAD)


def _runs(points: list[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if run]


def _run(run: list[tuple[float, float]]) -> str:
    if len(run) == 1:  # a value alone between gaps is a dot: a one-point line would not show
        (x, y) = run[0]
        return f'<circle cx="{x:.2f}" cy="{y:.2f}" r="1.5" fill="currentColor"/>'
    points = " ".join(f"{x:.2f},{y:.2f}" for x, y in run)
    return f'<polyline points="{points}" fill="none" stroke="currentColor" stroke-width="1.5"/>'


def _spark_words(label: str, present: list[float]) -> str:
    if not present:
        return f"{label}: no data"
    first, last, low, high = present[0], present[-1], min(present), max(present)
    return f"{label}: from {number(first)} to {number(last)}, lowest {number(low)}, highest {number(high)}"


def gauge(
    value: float | None,
    *,
    minimum: float,
    maximum: float,
    good: float | None,
    critical: float | None,
    higher_is_better: bool,
    label: str,
    unit: str,
) -> Markup:
    """A half-circle meter from `minimum` (left) to `maximum` (right) with its good/critical zones."""
    scale = Scale(minimum, maximum)
    zones = "".join(
        _arc(scale.fraction(start), scale.fraction(end), status)
        for start, end, status in _zones(scale, good, critical, higher_is_better)
    )
    shown = "no value" if value is None else f"{number(value)} {unit}".strip()
    needle = "" if value is None else _needle(180 * scale.fraction(value))
    return Markup(
        '<svg class="gauge" role="img" aria-label="{}" viewBox="0 0 120 80" xmlns="http://www.w3.org/2000/svg">'
        '{}{}<text class="gauge-value" x="60" y="77" text-anchor="middle" fill="currentColor">{}</text></svg>'
    ).format(_gauge_words(label, shown, good, critical, higher_is_better, unit), Markup(zones), Markup(needle), shown)


class Scale:
    """Where a value sits between the gauge's ends, as a fraction 0-1 (values beyond an end sit at it)."""

    def __init__(self, minimum: float, maximum: float) -> None:
        if not maximum > minimum:
            raise ValueError(f"a gauge needs maximum > minimum, got {minimum} to {maximum}")
        self.minimum, self.maximum = minimum, maximum

    def fraction(self, value: float) -> float:
        return min(1.0, max(0.0, (value - self.minimum) / (self.maximum - self.minimum)))


def _zones(
    scale: Scale, good: float | None, critical: float | None, higher_is_better: bool
) -> list[tuple[float, float, str]]:
    marks = sorted({scale.minimum, scale.maximum, *(t for t in (good, critical) if t is not None)})
    inside = [m for m in marks if scale.minimum <= m <= scale.maximum]
    return [
        (start, end, _status((start + end) / 2, good, critical, higher_is_better))
        for start, end in itertools.pairwise(inside)
    ]


def _status(value: float, good: float | None, critical: float | None, higher_is_better: bool) -> str:
    if good is not None and (value >= good if higher_is_better else value <= good):
        return "good"
    if critical is not None and (value <= critical if higher_is_better else value >= critical):
        return "critical"
    return "warning" if good is not None and critical is not None else "neutral"


def _arc(start: float, end: float, status: str) -> str:
    # Fraction 0 is the left end (180°), 1 the right end (0°); the arc runs over the top, clockwise.
    (x1, y1), (x2, y2) = _on_circle(start), _on_circle(end)
    return (
        f'<path class="gauge-zone zone-{status}" d="M {x1:.2f} {y1:.2f} A {GAUGE_R} {GAUGE_R} 0 0 1 {x2:.2f} {y2:.2f}"'
        ' fill="none" stroke="currentColor" stroke-width="10"/>'
    )


def _on_circle(fraction: float) -> tuple[float, float]:
    angle = math.pi * (1 - fraction)
    return GAUGE_CX + GAUGE_R * math.cos(angle), GAUGE_CY - GAUGE_R * math.sin(angle)


def _needle(degrees: float) -> str:
    # Drawn pointing left (the minimum) and turned clockwise: 0° is the minimum, 180° the maximum.
    tip = GAUGE_CX - GAUGE_R + 8
    return (
        f'<line class="gauge-needle" x1="{GAUGE_CX}" y1="{GAUGE_CY}" x2="{tip}" y2="{GAUGE_CY}"'
        f' transform="rotate({degrees:.2f} {GAUGE_CX} {GAUGE_CY})" stroke="currentColor" stroke-width="2"/>'
    )


def _gauge_words(
    label: str, shown: str, good: float | None, critical: float | None, higher_is_better: bool, unit: str
) -> str:
    good_side, critical_side = ("at or above", "at or below") if higher_is_better else ("at or below", "at or above")
    words = [f"{label}: {shown}"]
    if good is not None:
        words.append(f"good {good_side} {number(good)} {unit}".strip())
    if critical is not None:
        words.append(f"critical {critical_side} {number(critical)} {unit}".strip())
    return "; ".join(words)

"""Evaluating KPIs: value over the window, the previous window for trend, status and sub-score."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import duckdb

from healthdeck.catalog.models import KpiSpec
from healthdeck.engine.measures import MEASURES, MeasureContext, Window
from healthdeck.engine.measures.base import parse_params
from healthdeck.engine.scoring import Status, judge, sub_score

if TYPE_CHECKING:
    from healthdeck.engine.freshness import Freshness


@dataclass(frozen=True)
class KpiResult:
    """A KPI evaluated at a moment: its value, its trend, and what the threshold made of it."""

    kpi: KpiSpec
    window: Window
    value: float | None
    previous: float | None
    # For compare: change KPIs, the % change that was judged; also the trend shown for every KPI.
    change_pct: float | None
    judged: float | None
    status: Status
    score: float | None
    previous_score: float | None
    problem: str | None = None
    # How fresh the sources are at the evaluation instant (set by engine/freshness.py).
    freshness: Freshness | None = None


def pct_change(current: float | None, before: float | None) -> float | None:
    """(current − before) / |before| × 100; None when either is missing or before is 0."""
    if current is None or before is None or before == 0:
        return None
    return (current - before) / abs(before) * 100.0


def _measure(ctx: MeasureContext, kpi: KpiSpec, window: Window) -> float | None:
    params = ctx.memo(("params", kpi.id), lambda: parse_params(kpi.measure, kpi.params))
    return MEASURES[kpi.measure].compute(ctx, params, window)


def _judge(kpi: KpiSpec, judged: float | None) -> tuple[Status, float | None]:
    if judged is None:
        return Status.NO_DATA, None
    if kpi.thresholds is None:
        return Status.INFO, None
    return judge(judged, kpi.thresholds), sub_score(judged, kpi.thresholds, percent=kpi.is_percent)


def evaluate_kpi(ctx: MeasureContext, kpi: KpiSpec, at: datetime, window: timedelta | None = None) -> KpiResult:
    """Evaluate one KPI over the window ending at `at` (the KPI's own window unless one is given)."""
    span = Window.ending(at, window or kpi.window)
    try:
        before = span.previous(kpi.baseline)
        values = [_measure(ctx, kpi, span), _measure(ctx, kpi, before)]
        if kpi.compare == "change":
            values.append(_measure(ctx, kpi, before.previous(kpi.baseline)))
    except duckdb.Error as exc:
        return KpiResult(kpi, span, None, None, None, None, Status.NO_DATA, None, None, problem=str(exc))
    value, previous = values[0], values[1]
    change = pct_change(value, previous)
    judged = change if kpi.compare == "change" else value
    judged_before = pct_change(previous, values[2]) if kpi.compare == "change" else previous
    status, score = _judge(kpi, judged)
    _, previous_score = _judge(kpi, judged_before)
    return KpiResult(kpi, span, value, previous, change, judged, status, score, previous_score)


def evaluate_value(ctx: MeasureContext, kpi: KpiSpec, window: Window) -> float | None:
    """Just the KPI's value over an explicit window (exports and period comparisons)."""
    return _measure(ctx, kpi, window)

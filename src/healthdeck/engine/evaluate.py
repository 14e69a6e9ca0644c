"""Evaluating KPIs: value over the window, the previous window for trend, status and sub-score."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import duckdb

from healthdeck.catalog.models import KpiSpec
from healthdeck.engine.measures import MeasureContext, Window
from healthdeck.engine.measures.base import (
    MEASURES,
    ExpiredRaw,
    NotPerTenant,
    Params,
    compute,
    covered,
    expired_raw,
    parse_params,
    per_tenant_problem,
)
from healthdeck.engine.measures.batch import Labelled, plan_labelled
from healthdeck.engine.measures.customers import ReturnParams, plan_return_days
from healthdeck.engine.measures.generic import Aggregate, RatioParams, plan
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
    # The window reaches back to where raw rows it reads were expired (see explain.py).
    expired: ExpiredRaw | None = None


def pct_change(current: float | None, before: float | None) -> float | None:
    """(current − before) / |before| × 100; None when either is missing or before is 0."""
    if current is None or before is None or before == 0:
        return None
    return (current - before) / abs(before) * 100.0


def _params(ctx: MeasureContext, kpi: KpiSpec) -> Params:
    return ctx.memo(("params", kpi.id), lambda: parse_params(kpi.measure, kpi.params))


def _measure(ctx: MeasureContext, kpi: KpiSpec, window: Window, *, whole: bool) -> float | None:
    """The KPI's measure over the part of the window its data covers (all of it for a baseline)."""
    return compute(ctx, kpi.measure, _params(ctx, kpi), window, whole=whole)


def _judge(kpi: KpiSpec, judged: float | None) -> tuple[Status, float | None]:
    if judged is None:
        return Status.NO_DATA, None
    if kpi.thresholds is None:
        return Status.INFO, None
    return judge(judged, kpi.thresholds), sub_score(judged, kpi.thresholds, percent=kpi.is_percent)


def evaluate_kpi(ctx: MeasureContext, kpi: KpiSpec, at: datetime, window: timedelta | None = None) -> KpiResult:
    """Evaluate one KPI over the window ending at `at` (the KPI's own window unless one is given).

    The value is measured over the part of the window the data covers; the previous periods
    behind the trend and the change are baselines, measured only when the data covers them whole.
    For one tenant (`ctx.tenant`), a KPI reading a table without tenant_id has no data, and says why.
    """
    asked = span = Window.ending(at, window or kpi.window)
    shared = per_tenant_problem(kpi.measure, _params(ctx, kpi)) if ctx.tenant is not None else None
    if shared is not None:
        return _no_data(kpi, asked, shared)
    try:
        span = covered(ctx, kpi.measure, _params(ctx, kpi), asked, whole=False) or asked
        before = asked.previous(kpi.baseline)
        values = [_measure(ctx, kpi, span, whole=False), _measure(ctx, kpi, before, whole=True)]
        if kpi.compare == "change":
            values.append(_measure(ctx, kpi, before.previous(kpi.baseline), whole=True))
    except (duckdb.Error, NotPerTenant) as exc:
        return _no_data(kpi, span, str(exc))
    value, previous = values[0], values[1]
    change = pct_change(value, previous)
    judged = change if kpi.compare == "change" else value
    judged_before = pct_change(previous, values[2]) if kpi.compare == "change" else previous
    status, score = _judge(kpi, judged)
    _, previous_score = _judge(kpi, judged_before)
    expired = expired_raw(ctx, kpi.measure, _params(ctx, kpi), asked)
    return KpiResult(kpi, span, value, previous, change, judged, status, score, previous_score, expired=expired)


def _no_data(kpi: KpiSpec, window: Window, problem: str) -> KpiResult:
    return KpiResult(kpi, window, None, None, None, None, Status.NO_DATA, None, None, problem=problem)


def plan_aggregates(ctx: MeasureContext, kpis: Iterable[KpiSpec], window: timedelta | None = None) -> None:
    """Tell the measures which aggregates, labelled sampled metrics and return days these KPIs ask for over
    which window lengths (see `generic.plan`, `batch.plan_labelled` and `customers.plan_return_days`)."""
    specs: list[tuple[Aggregate, timedelta]] = []
    labelled: list[Labelled] = []
    return_days: list[tuple[int, timedelta]] = []
    for kpi in kpis:
        params, length = _params(ctx, kpi), window or kpi.window
        if ctx.tenant is not None and per_tenant_problem(kpi.measure, params) is not None:
            continue  # not evaluated for one tenant
        if kpi.measure == "ratio" and isinstance(params, RatioParams):
            specs += [(params.numerator, length), (params.denominator, length)]
        elif kpi.measure == "aggregate" and isinstance(params, Aggregate):
            specs.append((params, length))
        elif kpi.measure == "return_rate" and isinstance(params, ReturnParams):
            return_days.append((params.day, length))
        reads_labelled = MEASURES[kpi.measure].labelled
        labelled += reads_labelled(params, length) if reads_labelled else []
    plan(ctx, specs)
    plan_labelled(ctx, labelled)
    plan_return_days(ctx, return_days)


def evaluate_value(ctx: MeasureContext, kpi: KpiSpec, window: Window) -> float | None:
    """Just the KPI's value over a period the data covers whole, else None (period comparisons)."""
    if ctx.tenant is not None and per_tenant_problem(kpi.measure, _params(ctx, kpi)) is not None:
        return None
    return _measure(ctx, kpi, window, whole=True)

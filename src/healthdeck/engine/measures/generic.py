"""Generic measures over any event table: counts, rates, sums, averages, quantiles, ratios, gauges.

They let a catalog express most KPIs as data, e.g. the p95 of `startup_duration_ms` of
`cold_start` tier events of STARTER tenants, without new code.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial, reduce
from typing import TYPE_CHECKING, Any, Literal

from pydantic import model_validator

from healthdeck.engine.measures import batch, rollup
from healthdeck.engine.measures.base import (
    TIME_COLUMNS,
    MeasureContext,
    Params,
    Window,
    in_window,
    measure,
    ratio,
    raw_expired_before,
)
from healthdeck.store.schema import KINDS

if TYPE_CHECKING:
    from ibis.expr.types import BooleanValue, Scalar, Table

Aggregation = Literal[
    "count",
    "rate_per_s",
    "rate_per_min",
    "rate_per_hour",
    "sum",
    "avg",
    "min",
    "max",
    "quantile",
    "count_distinct",
    "last",
]
_OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "is_null")


class Aggregate(Params):
    """One aggregation of one table over the window, after optional filters.

    `where` maps a column to a value, a list of values, or {op: value} with op one of
    eq, ne, gt, gte, lt, lte, in, not_in, is_null. `labels` filters the JSON labels of samples.
    """

    table: str
    agg: Aggregation = "count"
    column: str | None = None
    q: float | None = None
    where: dict[str, Any] = {}
    labels: dict[str, str] = {}
    time: str | None = None
    scale: float = 1.0

    @model_validator(mode="after")
    def _check(self) -> Aggregate:
        if self.table not in KINDS:
            raise ValueError(f"unknown table {self.table!r}; tables: {', '.join(KINDS)}")
        columns = KINDS[self.table].columns
        for name in [self.column, self.time, *self.where]:
            if name is not None and name not in columns:
                raise ValueError(f"table {self.table} has no column {name!r}")
        needs_column = self.agg not in ("count", "rate_per_s", "rate_per_min", "rate_per_hour")
        if needs_column and self.column is None:
            raise ValueError(f"agg {self.agg} needs a column")
        if (self.agg == "quantile") != (self.q is not None) or (self.q is not None and not 0 <= self.q <= 1):
            raise ValueError("quantile needs q between 0 and 1 (and q is only for quantile)")
        for name, condition in self.where.items():
            if isinstance(condition, dict) and not set(condition) <= set(_OPERATORS):
                raise ValueError(f"where.{name}: operators are {', '.join(_OPERATORS)}")
        return self

    @property
    def time_column(self) -> str:
        return self.time or TIME_COLUMNS.get(self.table, "ts")


def _predicate(table: Table, column: str, condition: Any) -> list[BooleanValue]:
    col = table[column]
    if isinstance(condition, list):
        return [col.isin(condition)]
    if not isinstance(condition, dict):
        return [col == condition]
    tests = {
        "eq": lambda v: col == v,
        "ne": lambda v: col != v,
        "gt": lambda v: col > v,
        "gte": lambda v: col >= v,
        "lt": lambda v: col < v,
        "lte": lambda v: col <= v,
        "in": lambda v: col.isin(v),
        "not_in": lambda v: col.notin(v),
        "is_null": lambda v: col.isnull() if v else col.notnull(),
    }
    return [tests[op](value) for op, value in condition.items()]


def where_predicates(table: Table, spec: Aggregate) -> list[BooleanValue]:
    """The spec's filters (`where`, `labels`) on `table`: its own table, or a rollup of it."""
    predicates = [p for column, condition in spec.where.items() for p in _predicate(table, column, condition)]
    return predicates + [table.labels[key].str == value for key, value in spec.labels.items()]


def filtered(ctx: MeasureContext, spec: Aggregate, window: Window) -> Table:
    """The rows of the spec's table in the window that pass its filters."""
    table = in_window(ctx.table(spec.table), spec.time_column, window)
    predicates = where_predicates(table, spec)
    return table.filter(*predicates) if predicates else table


# Rates are counted in SQL and divided by the window's length here, so their query does not depend
# on the length: one compiled template serves a window cut short at the store's newest event.
PER_SECONDS = {"rate_per_s": 1, "rate_per_min": 60, "rate_per_hour": 3600}


def aggregate_expr(table: Table, spec: Aggregate, *, where: BooleanValue | None = None) -> Scalar:
    """The Ibis scalar for the spec's aggregation (a rate's count; before scaling), of the rows `where` keeps."""
    if spec.agg == "count" or spec.agg in PER_SECONDS:
        return table.count(where=where)
    col = table[spec.column]
    return {
        "sum": lambda: col.sum(where=where),
        "avg": lambda: col.mean(where=where),
        "min": lambda: col.min(where=where),
        "max": lambda: col.max(where=where),
        "quantile": lambda: col.quantile(spec.q, where=where),
        "count_distinct": lambda: col.nunique(where=where),
        "last": lambda: col.argmax(table[spec.time_column], where=where),
    }[spec.agg]()


def as_rate(value: float | None, spec: Aggregate, window: Window) -> float | None:
    """A rate's count per second, minute or hour of the window; other aggregations as they are."""
    per = PER_SECONDS.get(spec.agg)
    return value if value is None or per is None else value / (window.seconds / per)


# How far back "ever" looks when telling a real zero from no data.
HISTORY = timedelta(days=36500)


def windowed_aggregate(ctx: MeasureContext, spec: Aggregate, window: Window) -> float | None:
    """`aggregate_expr` of the spec over the window (a rate's count): from the rollups or the samples' batch
    when they hold it."""
    if batch.batchable(spec) and not batch.batch_off():
        return batch.sampled(ctx, spec, window, agg=spec.agg)
    if rollup.use_rollups(ctx, spec, window):
        where = partial(where_predicates, spec=spec)
        rolled = ("aggregate", "rollups", spec.model_dump_json())
        return ctx.windowed_scalar(rolled, window, lambda w: rollup.expression(ctx, spec, w, where=where))
    together = _planned_with(ctx, spec, window)
    if together:
        return _aggregates(ctx, together, window)[spec.model_dump_json()]
    raw = ("aggregate", spec.model_dump_json())
    return ctx.windowed_scalar(raw, window, lambda w: aggregate_expr(filtered(ctx, spec, w), spec))


# The aggregates an evaluation will ask for, by (table, time column, window length): see `plan`.
PLANNED = ("planned aggregates",)


def plan(ctx: MeasureContext, specs: Iterable[tuple[Aggregate, timedelta]]) -> None:
    """Say which aggregates will be asked for over windows of which length, so that each window's
    aggregates of one table run as one query (a filtered aggregate per spec) instead of one query each."""
    planned: dict[tuple[str, str, timedelta], dict[str, Aggregate]] = ctx.cache.setdefault(PLANNED, {})
    for spec, length in specs:
        if not batch.batchable(spec):  # the samples' batch answers those
            planned.setdefault((spec.table, spec.time_column, length), {})[spec.model_dump_json()] = spec


def _planned_with(ctx: MeasureContext, spec: Aggregate, window: Window) -> list[Aggregate]:
    """The planned aggregates to compute with the spec over this window (none: it runs alone).

    Only those planned for windows of this length (as asked: a window cut at the store's newest event
    is batched as one that was not), so a 5-minute window never computes a KPI of a month; and not
    those the rollups answer over this window.
    """
    if batch.batch_off():
        return []
    group = ctx.cache.get(PLANNED, {}).get((spec.table, spec.time_column, window.planned_length), {})
    if spec.model_dump_json() not in group:
        return []
    members = [member for member in group.values() if not rollup.use_rollups(ctx, member, window)]
    return members if len(members) > 1 else []


def _aggregates(ctx: MeasureContext, specs: list[Aggregate], window: Window) -> dict[str, float | None]:
    """Each spec's aggregate over the window (keyed by its JSON), all from one query over its table."""
    keys = [spec.model_dump_json() for spec in specs]

    def build(w: Window) -> Table:
        table = in_window(ctx.table(specs[0].table), specs[0].time_column, w)
        return table.aggregate(**{f"v{i}": _filtered_aggregate(table, spec) for i, spec in enumerate(specs)})

    values = ctx.windowed_values(("aggregates", *keys), window, build)
    return {key: values[f"v{i}"] for i, key in enumerate(keys)}


def _filtered_aggregate(table: Table, spec: Aggregate) -> Scalar:
    """The spec's aggregate of the rows passing its filters (a FILTER clause), beside others in one query."""
    predicates = where_predicates(table, spec)
    return aggregate_expr(table, spec, where=reduce(operator.and_, predicates) if predicates else None)


def any_rows(ctx: MeasureContext, spec: Aggregate, before: datetime) -> bool:
    """Whether rows passing the spec's filters exist at all before `before`.

    One row is enough (LIMIT 1): DuckDB stops at the first it finds, where a count reads them all.
    """
    shape = ("any_rows", spec.model_dump_json())

    def first_found(w: Window) -> Table:
        return filtered(ctx, spec, w).select(spec.time_column).limit(1)

    ever = Window(before - HISTORY, before)
    if ctx.windowed_rows(shape, ever, first_found):
        return True
    # Where raw requests expired, their rollups still tell that such requests came.
    expired = raw_expired_before(ctx, spec.table) is not None and rollup.reads_rollups(spec)
    return expired and rollup.any_minute(ctx, spec, ever, where=partial(where_predicates, spec=spec))


def ever_seen(ctx: MeasureContext, spec: Aggregate, before: datetime) -> bool:
    """Whether the spec's source has reported anything at all before `before`.

    It tells a real zero (no 5xx in the last 5 minutes, or ever) from no data (nothing reported
    yet). The source is the table, or for samples the metric with its labels: the spec's other
    filters are left out, since a service that never failed still has a 0% error rate.
    """
    where = {"metric": spec.where["metric"]} if spec.table == "samples" and "metric" in spec.where else {}
    return any_rows(ctx, Aggregate(table=spec.table, where=where, labels=spec.labels if where else {}), before)


def evaluate_aggregate(ctx: MeasureContext, spec: Aggregate, window: Window) -> float | None:
    value = windowed_aggregate(ctx, spec, window)
    if not value and spec.agg in ("count", *PER_SECONDS, "sum"):
        value = 0.0 if ever_seen(ctx, spec, window.end) else None
    value = as_rate(value, spec, window)
    return None if value is None else value * spec.scale


@measure("aggregate", Aggregate, rolled_up=rollup.reads_rollups)
def aggregate(ctx: MeasureContext, params: Aggregate, window: Window) -> float | None:
    """An aggregation (count, rate, sum, avg, min, max, quantile, distinct count, last) of a table."""
    return evaluate_aggregate(ctx, params, window)


class RatioParams(Params):
    """numerator / denominator, as a percentage unless percent is false."""

    numerator: Aggregate
    denominator: Aggregate
    percent: bool = True


@measure("ratio", RatioParams, rolled_up=lambda p: rollup.reads_rollups(p.numerator, p.denominator))
def ratio_measure(ctx: MeasureContext, params: RatioParams, window: Window) -> float | None:
    """The ratio of two aggregations (an error rate, a success rate, a hit rate)."""
    numerator = evaluate_aggregate(ctx, params.numerator, window)
    denominator = evaluate_aggregate(ctx, params.denominator, window)
    return ratio(numerator, denominator, scale=100.0 if params.percent else 1.0)


class SampleParams(Params):
    """A gauge or counter from the samples table, aggregated over the window."""

    metric: str
    labels: dict[str, str] = {}
    agg: Literal["avg", "max", "min", "last", "sum", "quantile", "increase", "per_hour"] = "avg"
    q: float | None = None
    scale: float = 1.0


def _labelled_sample(params: SampleParams, length: timedelta) -> list[batch.Labelled]:
    """The metric by its label keys, when its aggregation comes from the samples' batch."""
    if not params.labels or params.agg not in (*batch.AGGREGATIONS, "increase", "per_hour"):
        return []
    return [(params.metric, tuple(sorted(params.labels)), length)]


@measure("sample", SampleParams, reads=["samples"], labelled=_labelled_sample)
def sample(ctx: MeasureContext, params: SampleParams, window: Window) -> float | None:
    """A sampled metric (CPU, memory, pods, …): avg, max, min, last, sum, quantile, increase or change per hour."""
    where = {"metric": params.metric}
    if params.agg in ("increase", "per_hour"):
        spec = Aggregate(table="samples", where=where, labels=params.labels)
        last, first = _sample_ends(ctx, spec, window)
        if last is None or first is None:
            return None
        change = last - first
        return (change / (window.seconds / 3600) if params.agg == "per_hour" else change) * params.scale
    spec = Aggregate(
        table="samples",
        agg=params.agg,  # type: ignore[arg-type]  # "increase" and "per_hour" returned above
        column="value",
        q=params.q,
        where=where,
        labels=params.labels,
        scale=params.scale,
    )
    return evaluate_aggregate(ctx, spec, window)


def _sample_ends(ctx: MeasureContext, spec: Aggregate, window: Window) -> tuple[float | None, float | None]:
    """The last and the first value of the spec's metric in the window."""
    if not batch.batch_off():
        return batch.sampled(ctx, spec, window, agg="last"), batch.sampled(ctx, spec, window, agg="first")
    shape = ("sample_ends", spec.model_dump_json())

    def newest(w: Window) -> Scalar:
        table = filtered(ctx, spec, w)
        return table.value.argmax(table.ts)

    def oldest(w: Window) -> Scalar:
        table = filtered(ctx, spec, w)
        return table.value.argmin(table.ts)

    return ctx.windowed_scalar((*shape, "last"), window, newest), ctx.windowed_scalar((*shape, "first"), window, oldest)


def latest_sample(ctx: MeasureContext, metric: str, labels: dict[str, str], window: Window) -> float | None:
    """The last value of a sampled metric inside the window."""
    return sample(ctx, SampleParams(metric=metric, labels=labels, agg="last"), window)

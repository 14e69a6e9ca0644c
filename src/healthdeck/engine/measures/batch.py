"""Sampled metrics answered together: one grouped query per window computes every metric's aggregates.

A report asks for a dozen sampled metrics (CPU, memory, `up`, pods, capacity per resource) over the
same few windows, each with its own small query. Instead, a window's samples are read once grouped
by metric, and every spec without label filters takes its metric's row; a metric filtered by labels
(`up` of each service, capacity of each resource) is read once grouped by the values of those labels.
Labels are JSON, costly to read on every sample, so only the metric's own samples are grouped by them.
A group holds exactly the rows the spec's own filters keep (`metric = …` and each `labels.key = …`),
so its aggregates are those of the spec's own query. `HEALTHDECK_BATCH=off` runs each spec's own
query instead, here and for the planned aggregates (generic.plan): the reference both are checked against.

The labelled metrics a report asks for over windows of one length (`plan_labelled`: CPU and memory of
the api service over 5 minutes, used and total capacity of each resource over 2 hours) are grouped
in one query, reading only those metrics' samples, instead of one query per metric.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from healthdeck.engine.measures.base import MeasureContext, Window, in_window

if TYPE_CHECKING:
    from ibis.expr.types import Table

    from healthdeck.engine.measures.generic import Aggregate

BATCH_ENV = "HEALTHDECK_BATCH"
# The aggregations a group row carries: one column each, named after the aggregation.
# A count is left out: only `ever_seen` counts samples, over all history, which one metric's own
# query answers far more cheaply than grouping every sample ever stored.
AGGREGATIONS = ("avg", "min", "max", "sum", "last", "first")


def batch_off() -> bool:
    """Whether to run each KPI's own query (`HEALTHDECK_BATCH=off`): the reference for the batches."""
    return os.environ.get(BATCH_ENV, "").strip().lower() == "off"


def batchable(spec: Aggregate) -> bool:
    """Whether the batch holds the spec's value: samples' `value` filtered by metric and labels only."""
    if spec.table != "samples" or spec.time_column != "ts" or list(spec.where) != ["metric"]:
        return False
    return isinstance(spec.where["metric"], str) and spec.agg in AGGREGATIONS and spec.column == "value"


# The labelled metrics planned per (label keys, window length): see `plan_labelled`.
LABELLED = ("planned labelled metrics",)
# A labelled metric as a measure reads it: (metric, its label keys sorted, the window's length).
Labelled = tuple[str, tuple[str, ...], timedelta]


def plan_labelled(ctx: MeasureContext, metrics: Iterable[Labelled]) -> None:
    """Say which metrics will be asked for by which label keys over windows of which length, so that
    each window's labelled metrics are grouped in one query (those planned for its length only)."""
    planned: dict[tuple[tuple[str, ...], timedelta], set[str]] = ctx.cache.setdefault(LABELLED, {})
    for metric, keys, length in metrics:
        planned.setdefault((keys, length), set()).add(metric)


def sampled(ctx: MeasureContext, spec: Aggregate, window: Window, *, agg: str) -> float | None:
    """The spec's metric aggregated by `agg` over the window, read from its group (None: no samples)."""
    keys, metric = tuple(sorted(spec.labels)), spec.where["metric"]
    only = _read_with(ctx, metric, keys, window) if keys else None
    groups = ctx.memo(("sample_groups", only, keys, window), lambda: _groups(ctx, only, keys, window))
    row = groups.get((metric, *(spec.labels[key] for key in keys)))
    value = None if row is None else row[agg]
    return None if value is None else float(value)


def _read_with(ctx: MeasureContext, metric: str, keys: tuple[str, ...], window: Window) -> tuple[str, ...]:
    """The metrics to group with `metric` by these label keys over this window: those planned with it."""
    planned = ctx.cache.get(LABELLED, {}).get((keys, window.planned_length), set())
    return tuple(sorted(planned)) if metric in planned else (metric,)


def _groups(
    ctx: MeasureContext, only: tuple[str, ...] | None, keys: tuple[str, ...], window: Window
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The window's group rows by (metric, the value of each label key)."""
    rows = ctx.windowed_rows(("sample_groups", only, keys), window, lambda w: _grouped(ctx, only, keys, w))
    return {(row["metric"], *(row[f"label_{i}"] for i in range(len(keys)))): row for row in rows}


def _grouped(ctx: MeasureContext, only: tuple[str, ...] | None, keys: tuple[str, ...], window: Window) -> Table:
    """Every aggregation of the window's samples (of the metrics `only`, if given) per metric and label values."""
    table = in_window(ctx.table("samples"), "ts", window)
    if only is not None:
        table = table.filter(table.metric == only[0] if len(only) == 1 else table.metric.isin(only))
    labels = {f"label_{i}": table.labels[key].str for i, key in enumerate(keys)}
    value = table.value
    return table.group_by(metric=table.metric, **labels).aggregate(
        avg=value.mean(),
        min=value.min(),
        max=value.max(),
        sum=value.sum(),
        last=value.argmax(table.ts),
        first=value.argmin(table.ts),
    )

"""Sampled metrics answered together: one grouped query per window computes every metric's aggregates.

A report asks for a dozen sampled metrics (CPU, memory, `up`, pods, capacity per resource) over the
same few windows, each with its own small query. Instead, a window's samples are read once grouped
by metric, and every spec without label filters takes its metric's row; a metric filtered by labels
(`up` of each service, capacity of each resource) is read once grouped by the values of those labels.
Labels are JSON, costly to read on every sample, so only the metric's own samples are grouped by them.
A group holds exactly the rows the spec's own filters keep (`metric = …` and each `labels.key = …`),
so its aggregates are those of the spec's own query. `HEALTHDECK_BATCH=off` runs each spec's own
query instead, here and for the planned aggregates (generic.plan): the reference both are checked against.
"""

from __future__ import annotations

import os
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


def sampled(ctx: MeasureContext, spec: Aggregate, window: Window, *, agg: str) -> float | None:
    """The spec's metric aggregated by `agg` over the window, read from its group (None: no samples)."""
    keys, metric = tuple(sorted(spec.labels)), spec.where["metric"]
    only = metric if keys else None
    groups = ctx.memo(("sample_groups", only, keys, window), lambda: _groups(ctx, only, keys, window))
    row = groups.get((metric, *(spec.labels[key] for key in keys)))
    value = None if row is None else row[agg]
    return None if value is None else float(value)


def _groups(
    ctx: MeasureContext, only: str | None, keys: tuple[str, ...], window: Window
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The window's group rows by (metric, the value of each label key)."""
    rows = ctx.windowed_rows(("sample_groups", only, keys), window, lambda w: _grouped(ctx, only, keys, w))
    return {(row["metric"], *(row[f"label_{i}"] for i in range(len(keys)))): row for row in rows}


def _grouped(ctx: MeasureContext, only: str | None, keys: tuple[str, ...], window: Window) -> Table:
    """Every aggregation of the window's samples (of metric `only`, if given) per metric and label values."""
    table = in_window(ctx.table("samples"), "ts", window)
    if only is not None:
        table = table.filter(table.metric == only)
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

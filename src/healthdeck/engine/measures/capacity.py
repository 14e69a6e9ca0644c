"""Capacity measures: how full each resource is, and how many days until it is full."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

from pydantic import BeforeValidator

from healthdeck.catalog.durations import parse_duration
from healthdeck.engine.measures import batch
from healthdeck.engine.measures.base import MeasureContext, Params, Window, measure, number, ratio
from healthdeck.engine.measures.batch import Labelled
from healthdeck.engine.measures.generic import Aggregate, filtered, latest_sample

if TYPE_CHECKING:
    from ibis.expr.types import Scalar, Table

# "Days until full" of a resource that is not growing: shown as this many days (ten years).
NEVER_FULL_DAYS = 3650.0


class ResourceParams(Params):
    """A resource as labelled in the capacity_total / capacity_used samples (cpu_cores, gpu, …)."""

    resource: str


# The capacity samples, labelled with their resource.
CAPACITY_METRICS = ("capacity_used", "capacity_total")


def _capacity_over_window(_: ResourceParams, length: timedelta) -> list[Labelled]:
    """The capacity samples by resource, over the KPI's window."""
    return [(metric, ("resource",), length) for metric in CAPACITY_METRICS]


@measure("capacity_utilization", ResourceParams, reads=["samples"], labelled=_capacity_over_window)
def capacity_utilization(ctx: MeasureContext, params: ResourceParams, window: Window) -> float | None:
    """Used / total capacity of a resource, in percent, from the last samples in the window."""
    labels = {"resource": params.resource}
    used = latest_sample(ctx, "capacity_used", labels, window)
    return ratio(used, latest_sample(ctx, "capacity_total", labels, window), scale=100.0)


class ProjectionParams(ResourceParams):
    """Fit the growth of `capacity_used` over `lookback` before the window's end."""

    lookback: Annotated[timedelta, BeforeValidator(lambda v: v if isinstance(v, timedelta) else parse_duration(v))] = (
        timedelta(days=7)
    )


def _capacity_over_lookback(params: ProjectionParams, _: timedelta) -> list[Labelled]:
    """The capacity samples by resource, over the projection's lookback (whatever the KPI's window)."""
    return _capacity_over_window(params, params.lookback)


@measure("days_until_full", ProjectionParams, reads=["samples"], labelled=_capacity_over_lookback)
def days_until_full(ctx: MeasureContext, params: ProjectionParams, window: Window) -> float | None:
    """Days until a resource is full at its current linear growth (least squares over the lookback)."""
    labels = {"resource": params.resource}
    span = Window.ending(window.end, params.lookback)
    slope = _slope(ctx, params.resource, span)
    now_used = latest_sample(ctx, "capacity_used", labels, span)
    total = latest_sample(ctx, "capacity_total", labels, span)
    if slope is None or now_used is None or total is None:
        return None
    if slope <= 0:
        return NEVER_FULL_DAYS
    return min(NEVER_FULL_DAYS, max(0.0, (total - now_used) / (slope * 86400)))


# The resources' capacity used, whose growth the projection fits.
USED = Aggregate(table="samples", where={"metric": "capacity_used"})


def _growth(used: Table) -> Scalar:
    """Least-squares growth of the samples' value per second (NULL when there are too few samples)."""
    seconds = used.ts.epoch_seconds()
    return used.value.cov(seconds, how="pop") / seconds.var(how="pop")


def _slope(ctx: MeasureContext, resource: str, span: Window) -> float | None:
    """The growth per second of the resource's capacity used over the span.

    Every resource's growth comes from one query grouped by resource (a report projects each resource
    over the same lookback); `HEALTHDECK_BATCH=off` runs the resource's own query, the reference.
    """
    if batch.batch_off():
        spec = Aggregate(table="samples", where=USED.where, labels={"resource": resource})
        return ctx.windowed_scalar(("capacity_slope", resource), span, lambda w: _growth(filtered(ctx, spec, w)))
    slopes = ctx.memo(("capacity_slopes", span), lambda: _slopes(ctx, span))
    return slopes.get(resource)


def _slopes(ctx: MeasureContext, span: Window) -> dict[str, float | None]:
    def by_resource(w: Window) -> Table:
        used = filtered(ctx, USED, w)
        return used.group_by(resource=used.labels["resource"].str).aggregate(slope=_growth(used))

    return {row["resource"]: number(row["slope"]) for row in ctx.windowed_rows(("capacity_slopes",), span, by_resource)}

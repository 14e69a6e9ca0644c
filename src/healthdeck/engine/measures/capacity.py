"""Capacity measures: how full each resource is, and how many days until it is full."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

from healthdeck.catalog.durations import parse_duration
from healthdeck.engine.measures.base import MeasureContext, Params, Window, measure, ratio
from healthdeck.engine.measures.generic import Aggregate, filtered, latest_sample

# "Days until full" of a resource that is not growing: shown as this many days (ten years).
NEVER_FULL_DAYS = 3650.0


class ResourceParams(Params):
    """A resource as labelled in the capacity_total / capacity_used samples (cpu_cores, gpu, …)."""

    resource: str


@measure("capacity_utilization", ResourceParams, reads=["samples"])
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


@measure("days_until_full", ProjectionParams, reads=["samples"])
def days_until_full(ctx: MeasureContext, params: ProjectionParams, window: Window) -> float | None:
    """Days until a resource is full at its current linear growth (least squares over the lookback)."""
    labels = {"resource": params.resource}
    span = Window.ending(window.end, params.lookback)
    spec = Aggregate(table="samples", where={"metric": "capacity_used"}, labels=labels)

    def growth(w: Window) -> Any:
        used = filtered(ctx, spec, w)
        seconds = used.ts.epoch_seconds()
        return used.value.cov(seconds, how="pop") / seconds.var(how="pop")

    slope = ctx.windowed_scalar(("capacity_slope", params.resource), span, growth)
    now_used = latest_sample(ctx, "capacity_used", labels, span)
    total = latest_sample(ctx, "capacity_total", labels, span)
    if slope is None or now_used is None or total is None:
        return None
    if slope <= 0:
        return NEVER_FULL_DAYS
    return min(NEVER_FULL_DAYS, max(0.0, (total - now_used) / (slope * 86400)))

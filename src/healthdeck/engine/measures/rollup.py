"""Requests' counts, sums and latency quantiles answered from the per-minute rollups (store/rollups.py).

A window is seldom minute-aligned: its whole minutes are read from the rollups and the partial
minutes at each edge from the raw requests, so counts and sums are exact and only a quantile, read
from the rollups' latency buckets (the edges bucketed by the same formula), is an estimate within 1%. The
inner, minute-aligned bounds are computed in SQL from the window's instants, so one compiled
template serves every window (parametrize.py sees only the window's own instants move).
`HEALTHDECK_ROLLUPS=off` reads raw requests only: the reference the rollups are checked against.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from healthdeck.engine.measures.base import MeasureContext, Window, raw_expired_before
from healthdeck.engine.measures.lazy import lazy_module
from healthdeck.store.rollups import GAMMA, KEYS, LN_GAMMA, ROLLUPS, ZERO_BUCKET

if TYPE_CHECKING:
    import ibis
    from ibis.expr.types import BooleanValue, Scalar, Table

    from healthdeck.engine.measures.generic import Aggregate
else:
    ibis = lazy_module("ibis")

ROLLUPS_ENV = "HEALTHDECK_ROLLUPS"
# Shorter windows read raw requests: the time index already narrows them to a few row groups, and the
# rollups' union costs more there (benchmarks/bench_rollups.py on 7 M simulated requests, p95 + 5xx rate:
# 3–3.6× the raw time at 1 hour, 1.4–1.7× at 1 day, 1.2× at 2 days, 0.7× at 3 days, 0.35–0.4× at 30 days).
MIN_WINDOW = timedelta(days=3)
COUNTED = ("count", "rate_per_s", "rate_per_min", "rate_per_hour")
# A requests column -> its sum in request_rollups.
SUMMED = {"latency_ms": "latency_sum", "request_bytes": "request_bytes", "response_bytes": "response_bytes"}
Filter = Callable[["Table"], list["BooleanValue"]]


def rollups_off() -> bool:
    return os.environ.get(ROLLUPS_ENV, "").strip().lower() == "off"


def use_rollups(ctx: MeasureContext, spec: Aggregate, window: Window) -> bool:
    """Whether to answer from the rollups: they hold the answer, they are not off, and the window is long
    or begins where raw requests expired (only the rollups hold that part)."""
    if not answerable(spec) or rollups_off():
        return False
    gone = raw_expired_before(ctx, "requests")
    return window.length >= MIN_WINDOW or (gone is not None and window.start < gone)


def reads_rollups(*specs: Aggregate) -> bool:
    """Whether the rollups answer every spec on requests where raw requests expired (a measure's `rolled_up`)."""
    on_requests = [spec for spec in specs if spec.table == "requests"]
    return bool(on_requests) and all(map(answerable, on_requests)) and not rollups_off()


def answerable(spec: Aggregate) -> bool:
    """Whether the rollups hold the answer: requests filtered on rollup keys only, an aggregation they keep."""
    if spec.table != "requests" or spec.time_column != "ts" or spec.labels or not set(spec.where) <= set(KEYS):
        return False
    if spec.agg in COUNTED:
        return True
    if spec.agg == "sum":
        return spec.column in SUMMED
    # latency_ms is never NULL, so its average is its sum over the request count.
    return spec.agg in ("avg", "quantile") and spec.column == "latency_ms"


def expression(ctx: MeasureContext, spec: Aggregate, window: Window, *, where: Filter) -> Scalar:
    """The spec's aggregation over the window from rollups and edge requests (`answerable` specs only)."""
    if spec.agg == "quantile":
        assert spec.q is not None, "a quantile spec has q (generic.Aggregate checks it)"
        return _quantile(ctx, spec.q, window, where=where)
    raw, rolled = _split(ctx, window, where=where)
    column = spec.column or "latency_ms"
    rows = raw.select(n=_one(), s=raw[column].cast("float64")).union(
        rolled.select(n=rolled.requests.cast("int64"), s=rolled[SUMMED[column]].cast("float64"))
    )
    if spec.agg in COUNTED:
        return ibis.coalesce(rows.n.sum(), 0)
    return rows.s.sum() if spec.agg == "sum" else rows.s.sum() / rows.n.sum()


def _split(ctx: MeasureContext, window: Window, *, where: Filter) -> tuple[Table, Table]:
    """(the requests in the window's partial edge minutes, the rollup rows of its whole minutes), filtered."""
    start, end = ibis.literal(window.start), ibis.literal(window.end)
    # The first whole minute begins at or after start; from an instant 1 µs earlier, so an aligned
    # start is its own first minute. When no minute fits, inner_end < inner_start: all raw, no rollup.
    inner_start = ibis.literal(window.start - timedelta(microseconds=1)).truncate("m") + ibis.interval(minutes=1)
    inner_end = end.truncate("m")
    raw = ctx.table("requests")
    edges = raw.filter(raw.ts >= start, raw.ts < end, (raw.ts < inner_start) | (raw.ts >= inner_end), *where(raw))
    rolled = ctx.table(ROLLUPS)
    whole = rolled.filter(rolled.minute >= inner_start, rolled.minute < inner_end, *where(rolled))
    return edges, whole


def any_minute(ctx: MeasureContext, spec: Aggregate, window: Window, *, where: Filter) -> bool:
    """Whether the rollups hold a minute beginning in the window with requests passing the spec's filters."""

    def first_found(w: Window) -> Table:
        rolled = ctx.table(ROLLUPS)
        start, end = ibis.literal(w.start), ibis.literal(w.end)
        return rolled.filter(rolled.minute >= start, rolled.minute < end, *where(rolled)).select("minute").limit(1)

    return bool(ctx.windowed_rows(("any_minute", spec.model_dump_json()), window, first_found))


def _one() -> ibis.Value:
    """A raw request's count, typed as the rollups' (nullable) sums so the two unite."""
    return ibis.literal(1).cast("int64")


def _quantile(ctx: MeasureContext, q: float, window: Window, *, where: Filter) -> Scalar:
    """quantile_cont's interpolation between the two order statistics around rank q·(n − 1), each from its bucket."""
    raw, rolled = _split(ctx, window, where=where)
    rolled = rolled.filter(rolled.bucket.notnull())  # sums without buckets (store/migrations.py, migration 8)
    bucket = ibis.ifelse(raw.latency_ms > 0, (raw.latency_ms.ln() / LN_GAMMA).ceil().cast("int32"), ZERO_BUCKET)
    counts = raw.select(bucket=bucket.cast("int32"), n=_one()).union(
        rolled.select(bucket=rolled.bucket.cast("int32"), n=rolled.requests.cast("int64"))
    )
    per = counts.group_by("bucket").aggregate(n=counts.n.sum())
    rank = ibis.literal(q) * (per.n.sum().over(ibis.window()) - 1)
    per = per.mutate(below=per.n.sum().over(ibis.cumulative_window(order_by=per.bucket)), k=rank.floor(), rank=rank)
    ends = per.aggregate(
        low=per.bucket.min(where=per.below > per.k),
        high=per.bucket.min(where=per.below > per.k + 1),
        fraction=(per.rank - per.k).max(),
    )
    low, high = _estimate(ends.low), _estimate(ends.high.coalesce(ends.low))
    return ends.select(value=low + ends.fraction * (high - low)).as_scalar()


def _estimate(bucket: ibis.Value) -> ibis.Value:
    """store.rollups.bucket_value in SQL: 2·gamma^i / (gamma + 1), 0 for the zero bucket."""
    return ibis.ifelse(bucket == ZERO_BUCKET, 0.0, 2 * ibis.literal(GAMMA) ** bucket / (GAMMA + 1))

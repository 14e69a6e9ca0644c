"""Analytics measures the generic ones cannot express: durations between two timestamps, work in
flight, entities' current state, per-group statistics (the worst tenant, the busiest key), error
budget burn, rate-limit consumption, MRR by tier, and measures built from other measures.

They serve the packs of the daily operations checklist, the tier observability design, the
agent platform dashboard and the API / pipeline / tenant dashboards (seeds 001–004).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, model_validator

from healthdeck.catalog.conditions import Condition
from healthdeck.engine.measures import rollup
from healthdeck.engine.measures.base import (
    MEASURES,
    MeasureContext,
    Params,
    Window,
    compute,
    measure,
    parse_params,
    ratio,
)
from healthdeck.engine.measures.customers import Duration
from healthdeck.engine.measures.generic import (
    Aggregate,
    aggregate_expr,
    any_rows,
    as_rate,
    evaluate_aggregate,
    ever_seen,
    filtered,
    windowed_aggregate,
)
from healthdeck.engine.measures.lazy import lazy_module
from healthdeck.engine.measures.revenue import tenant_mrr, total_mrr
from healthdeck.store.schema import KINDS, PLAN_TIERS

if TYPE_CHECKING:
    import ibis
    from ibis.expr.types import Column, Table
else:
    ibis = lazy_module("ibis")

Unit = Literal["ms", "s", "min", "h", "days"]
SECONDS_PER = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "days": 86400.0}
# Aggregations that count rows: a group without rows has 0 of them.
COUNTS = ("count", "rate_per_s", "rate_per_min", "rate_per_hour")
# The beginning of time, for "everything recorded before the window's end".
DAWN = datetime(1970, 1, 1, tzinfo=UTC)


def _check_columns(table: str, names: list[str | None]) -> None:
    if table not in KINDS:
        raise ValueError(f"unknown table {table!r}; tables: {', '.join(KINDS)}")
    for name in names:
        if name is not None and name not in KINDS[table].columns:
            raise ValueError(f"table {table} has no column {name!r}")


def _timestamp(table: str, name: str) -> None:
    if KINDS[table].field(name).type != "TIMESTAMPTZ":
        raise ValueError(f"column {table}.{name} is not a timestamp")


def _history(window: Window) -> Window:
    """Everything recorded before the window's end."""
    return Window(DAWN, window.end)


def _summarise(column: Column, stat: str, q: float | None) -> Any:
    return {
        "avg": column.mean,
        "median": lambda: column.quantile(0.5),
        "quantile": lambda: column.quantile(q),
        "min": column.min,
        "max": column.max,
    }[stat]()


def _check_quantile(stat: str, q: float | None) -> None:
    if (stat == "quantile") != (q is not None) or (q is not None and not 0 <= q <= 1):
        raise ValueError("stat quantile needs q between 0 and 1 (and q is only for quantile)")


# ---------------------------------------------------------------------------------------------- durations


class ElapsedParams(Params):
    """Time from one timestamp of a row to another (enqueued_at -> started_at is the queue wait).

    Rows count in the window by `time` (default: `end`, so finished work is judged when it finishes).
    """

    table: str = "jobs"
    start: str
    end: str
    stat: Literal["avg", "median", "quantile", "min", "max"] = "median"
    q: float | None = None
    unit: Unit = "s"
    where: dict[str, Any] = {}
    time: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ElapsedParams:
        _check_columns(self.table, [self.start, self.end, self.time])
        for name in (self.start, self.end):
            _timestamp(self.table, name)
        _check_quantile(self.stat, self.q)
        Aggregate(table=self.table, where=self.where)
        return self


@measure("elapsed", ElapsedParams)
def elapsed(ctx: MeasureContext, params: ElapsedParams, window: Window) -> float | None:
    """Time between two timestamps of the same row (queue wait, run time): median, quantile, mean, min or max."""
    spec = Aggregate(table=params.table, where=params.where, time=params.time or params.end)

    def build(w: Window) -> Any:
        rows = filtered(ctx, spec, w)
        rows = rows.filter(rows[params.start].notnull(), rows[params.end].notnull())
        seconds = rows[params.end].delta(rows[params.start], unit="microsecond") / 1e6
        return _summarise(seconds, params.stat, params.q)

    value = ctx.windowed_scalar(("elapsed", params.model_dump_json()), window, build)
    return None if value is None else value / SECONDS_PER[params.unit]


class Rows(Params):
    """Rows of one table after filters; `time` is the column that places a row in time."""

    table: str
    where: dict[str, Any] = {}
    labels: dict[str, str] = {}
    time: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Rows:
        self.spec()
        return self

    def spec(self) -> Aggregate:
        return Aggregate(table=self.table, where=self.where, labels=self.labels, time=self.time)


class TimeToFirstParams(Params):
    """From each new entity's start (a tenant's creation) to its first matching event (a succeeded session)."""

    cohort: Rows = Rows(table="tenants")
    event: Rows
    key: str = "tenant_id"
    stat: Literal["avg", "median", "quantile"] = "median"
    q: float | None = None
    unit: Unit = "min"

    @model_validator(mode="after")
    def _check(self) -> TimeToFirstParams:
        _check_columns(self.cohort.table, [self.key])
        _check_columns(self.event.table, [self.key])
        _check_quantile(self.stat, self.q)
        return self


@measure("time_to_first", TimeToFirstParams)
def time_to_first(ctx: MeasureContext, params: TimeToFirstParams, window: Window) -> float | None:
    """Median (or mean, quantile) time from an entity's start to its first event, for entities started in the window."""
    cohort_spec, event_spec = params.cohort.spec(), params.event.spec()

    def build(w: Window) -> Any:
        cohort = filtered(ctx, cohort_spec, w).select(params.key, _start=lambda t: t[cohort_spec.time_column])
        events = filtered(ctx, event_spec, _history(w))
        firsts = events.group_by(params.key).aggregate(_first=lambda t: t[event_spec.time_column].min())
        joined = cohort.join(firsts, params.key)
        seconds = joined.select(_s=joined._first.delta(joined._start, unit="microsecond") / 1e6)
        return _summarise(seconds.filter(seconds._s >= 0)._s, params.stat, params.q)

    value = ctx.windowed_scalar(("time_to_first", params.model_dump_json()), window, build)
    return None if value is None else value / SECONDS_PER[params.unit]


class EarlyActivationParams(Params):
    """Entities started in the window (new projects) with at least `min_events` events within `within` of starting.

    Only entities whose first `within` is over at the window's end count: one started yesterday
    has not had its week yet.
    """

    cohort: Rows = Rows(table="tenants")
    event: Rows
    key: str = "tenant_id"
    within: Duration = timedelta(days=7)
    min_events: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _check(self) -> EarlyActivationParams:
        _check_columns(self.cohort.table, [self.key])
        _check_columns(self.event.table, [self.key])
        return self


@measure("early_activation", EarlyActivationParams)
def early_activation(ctx: MeasureContext, params: EarlyActivationParams, window: Window) -> float | None:
    """% of new entities (projects) with min_events+ events in their first `within` (3+ sessions in week 1)."""
    cohort_spec, event_spec = params.cohort.spec(), params.event.spec()
    within = ibis.interval(seconds=int(params.within.total_seconds()))

    def cohort(w: Window) -> Any:
        rows = filtered(ctx, cohort_spec, w).select(params.key, _start=lambda t: t[cohort_spec.time_column])
        return rows.filter(rows._start + within <= ibis.literal(w.end))

    def activated(w: Window) -> Any:
        events = filtered(ctx, event_spec, _history(w)).select(params.key, _at=lambda t: t[event_spec.time_column])
        joined = cohort(w).join(events, params.key)
        early = joined.filter(joined._at >= joined._start, joined._at < joined._start + within)
        per_key = early.group_by(params.key).aggregate(_events=lambda t: t.count())
        return per_key.filter(per_key._events >= params.min_events).count()

    shape = ("early_activation", params.model_dump_json())
    started = ctx.windowed_scalar((*shape, "cohort"), window, lambda w: cohort(w).count())
    return ratio(ctx.windowed_scalar((*shape, "activated"), window, activated), started, scale=100.0)


# ---------------------------------------------------------------------------------------------- states


class InFlightParams(Params):
    """Rows under way at the window's end: begun (`since`) and not yet ended by any of `until`."""

    table: str = "jobs"
    since: str
    until: list[str] = Field(min_length=1)
    where: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check(self) -> InFlightParams:
        _check_columns(self.table, [self.since, *self.until])
        for name in (self.since, *self.until):
            _timestamp(self.table, name)
        Aggregate(table=self.table, where=self.where)
        return self


@measure("in_flight", InFlightParams)
def in_flight(ctx: MeasureContext, params: InFlightParams, window: Window) -> float | None:
    """How many rows are under way at the window's end (jobs running now, jobs still queued)."""
    spec = Aggregate(table=params.table, where=params.where, time=params.since)

    def running(w: Window) -> Any:
        known, end = filtered(ctx, spec, _history(w)), ibis.literal(w.end)
        # An end at the window's end belongs to the next window: the row is still under way at it.
        return known.filter(*[known[name].isnull() | (known[name] >= end) for name in params.until]).count()

    shape = ("in_flight", params.model_dump_json())
    count = ctx.windowed_scalar((*shape, "running"), window, running)
    if not count and not ctx.windowed_scalar(
        (*shape, "known"), window, lambda w: filtered(ctx, spec, _history(w)).count()
    ):
        return None
    return count or 0.0


class LatestStateParams(Params):
    """Entities (by `key`) whose latest record by the window's end has `column` in `values`.

    `held_for` only counts entities whose latest record is at least that old (a circuit open for
    more than 5 minutes). `stat: share` gives them as a % of every entity with a record.
    """

    table: str
    key: list[str] = Field(min_length=1)
    column: str
    values: list[Any] = Field(min_length=1)
    where: dict[str, Any] = {}
    time: str | None = None
    held_for: Duration | None = None
    stat: Literal["count", "share"] = "count"

    @model_validator(mode="after")
    def _check(self) -> LatestStateParams:
        _check_columns(self.table, [*self.key, self.column, self.time])
        Aggregate(table=self.table, where=self.where, time=self.time)
        return self


@measure("latest_state", LatestStateParams)
def latest_state(ctx: MeasureContext, params: LatestStateParams, window: Window) -> float | None:
    """Entities whose current state (latest record) is one of the values: a count, or a % of all entities."""
    spec = Aggregate(table=params.table, where=params.where, time=params.time)

    def latest(w: Window) -> Any:
        known = filtered(ctx, spec, _history(w))
        ranked = known.mutate(_rank=ibis.row_number().over(group_by=params.key, order_by=ibis.desc(spec.time_column)))
        return ranked.filter(ranked._rank == 0)

    def chosen(w: Window) -> Any:
        states = latest(w)
        states = states.filter(states[params.column].isin(params.values))
        if params.held_for is not None:
            states = states.filter(states[spec.time_column] <= ibis.literal(w.end - params.held_for))
        return states.count()

    shape = ("latest_state", params.model_dump_json())
    total = ctx.windowed_scalar((*shape, "total"), window, lambda w: latest(w).count())
    if not total:
        return None
    count = ctx.windowed_scalar((*shape, "chosen"), window, chosen) or 0.0
    return count if params.stat == "count" else count / total * 100.0


# ---------------------------------------------------------------------------------------------- groups


AcrossStat = Literal["max", "min", "avg", "median", "sum", "count", "share", "top_share"]


class PerGroupParams(Params):
    """`value` per group (`by`: a column, or labels.<key> of samples), then a statistic across the groups.

    With `of`, a group's value is value / of (× 100 unless percent is false): a tenant's error rate.
    `having` ("> 5") picks the groups that count or share counts; `top_share` is the % of the total
    held by the `top` largest groups; `min_rows` ignores groups with fewer rows (of `of` if given).
    With `limits`, a group's value becomes a % of the limit of its `limit_by` value (its tier).
    """

    value: Aggregate
    by: str
    of: Aggregate | None = None
    percent: bool = True
    across: AcrossStat = "max"
    having: str | None = None
    top: int = Field(default=1, ge=1)
    min_rows: int = Field(default=0, ge=0)
    limits: dict[str, float] = {}
    limit_by: str | None = None

    @model_validator(mode="after")
    def _check(self) -> PerGroupParams:
        for spec in (self.value, self.of):
            if spec is not None:
                _check_group_column(spec.table, self.by)
        if self.having is not None:
            Condition.parse(self.having)
        if self.across == "share" and self.having is None:
            raise ValueError("across: share needs having (the condition a group must meet)")
        if self.having is not None and self.across not in ("count", "share"):
            raise ValueError("having only applies to across: count or share")
        if bool(self.limits) != (self.limit_by is not None):
            raise ValueError("limits and limit_by go together")
        if self.limit_by is not None:
            _check_group_column(self.value.table, self.limit_by)
            if self.of is not None:
                raise ValueError("limits cannot be combined with of")
        return self


def _check_group_column(table: str, name: str) -> None:
    if name.startswith("labels."):
        if "labels" not in KINDS[table].columns:
            raise ValueError(f"table {table} has no labels to group by")
    else:
        _check_columns(table, [name])


def _group_key(table: Table, name: str) -> Column:
    return table.labels[name.removeprefix("labels.")].str if name.startswith("labels.") else table[name]


def _per_group(
    ctx: MeasureContext, spec: Aggregate, params: PerGroupParams, window: Window
) -> dict[Any, dict[str, Any]]:
    """{group: {value, rows[, limit_key]}} of one aggregation."""

    def build(w: Window) -> Any:
        rows = filtered(ctx, spec, w)
        rows = rows.mutate(_group=_group_key(rows, params.by))
        metrics: dict[str, Any] = {"_value": aggregate_expr(rows, spec), "_rows": rows.count()}
        if params.limit_by is not None:
            metrics["_limit_key"] = _group_key(rows, params.limit_by).argmax(rows[spec.time_column])
        return rows.group_by("_group").aggregate(**metrics)

    shape = ("per_group", spec.model_dump_json(), params.by, params.limit_by)
    rows = ctx.windowed_rows(shape, window, build)
    return {r["_group"]: {**r, "_value": as_rate(r["_value"], spec, window)} for r in rows if r["_group"] is not None}


def group_values(ctx: MeasureContext, params: PerGroupParams, window: Window) -> dict[Any, float]:
    """Each group's value: scaled, then divided by `of` or by its limit; groups under min_rows left out."""
    values = _per_group(ctx, params.value, params, window)
    if params.of is not None:
        return _group_ratios(values, _per_group(ctx, params.of, params, window), of=params.of, params=params)
    result: dict[Any, float] = {}
    for group, row in values.items():
        if row["_rows"] < params.min_rows or row["_value"] is None:
            continue
        value: float | None = float(row["_value"]) * params.value.scale
        if params.limits:
            value = ratio(value, params.limits.get(str(row["_limit_key"])), scale=100.0)
        if value is not None:
            result[group] = value
    return result


def _group_ratios(
    values: dict[Any, dict[str, Any]], totals: dict[Any, dict[str, Any]], *, of: Aggregate, params: PerGroupParams
) -> dict[Any, float]:
    """value / of per group; a group with rows in `of` but none in `value` has 0 of them."""
    result: dict[Any, float] = {}
    for group, row in totals.items():
        if row["_rows"] < params.min_rows:
            continue
        numerator = float(values.get(group, {}).get("_value") or 0.0) * params.value.scale
        denominator = float(row["_value"] or 0.0) * of.scale
        value = ratio(numerator, denominator, scale=100.0 if params.percent else 1.0)
        if value is not None:
            result[group] = value
    return result


def across_groups(values: list[float], params: PerGroupParams) -> float | None:
    """The statistic across the groups' values (None when there are no groups)."""
    if not values:
        return None
    condition = Condition.parse(params.having) if params.having is not None else None
    meeting = [v for v in values if condition is None or condition.holds(v)]
    stats: dict[str, Callable[[], float | None]] = {
        "max": lambda: max(values),
        "min": lambda: min(values),
        "avg": lambda: statistics.fmean(values),
        "median": lambda: statistics.median(values),
        "sum": lambda: sum(values),
        "count": lambda: float(len(meeting)),
        "share": lambda: len(meeting) / len(values) * 100.0,
        "top_share": lambda: ratio(sum(sorted(values, reverse=True)[: params.top]), sum(values), scale=100.0),
    }
    return stats[params.across]()


@measure("per_group", PerGroupParams)
def per_group(ctx: MeasureContext, params: PerGroupParams, window: Window) -> float | None:
    """A statistic across groups of a per-group value: the worst tenant, the busiest endpoint, projects over a limit."""
    values = list(group_values(ctx, params, window).values())
    if not values and _empty_is_zero(params):
        # No group in the window: a real zero if such rows were ever recorded, else no data.
        return 0.0 if ever_seen(ctx, params.of or params.value, window.end) else None
    return across_groups(values, params)


def _empty_is_zero(params: PerGroupParams) -> bool:
    """Whether no groups at all means 0: none meet the condition, nothing to add up, or nobody counted any."""
    counted = params.of is None and not params.limits and params.value.agg in COUNTS
    return params.across in ("count", "sum") or (params.across == "max" and counted)


# ---------------------------------------------------------------------------------------------- budgets and limits


class BurnRateParams(Params):
    """Compliance = good / total; burn = (1 − compliance) / (1 − target / 100)."""

    good: Aggregate
    total: Aggregate
    target: float = Field(gt=0, lt=100)


@measure("burn_rate", BurnRateParams, rolled_up=lambda p: rollup.reads_rollups(p.good, p.total))
def burn_rate(ctx: MeasureContext, params: BurnRateParams, window: Window) -> float | None:
    """How fast the error budget burns: (1 − compliance) / (1 − SLO target); above 1 it runs out early."""
    compliance = ratio(evaluate_aggregate(ctx, params.good, window), evaluate_aggregate(ctx, params.total, window))
    if compliance is None:
        return None
    return (1.0 - compliance) / (1.0 - params.target / 100.0)


class RateLimitParams(Params):
    """Requests per minute of each API key (or tenant, consumer) against its tier's per-minute limit."""

    limits: dict[str, float] = Field(min_length=1)
    per: Literal["api_key", "tenant_id", "consumer"] = "api_key"
    where: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check(self) -> RateLimitParams:
        unknown = set(self.limits) - set(PLAN_TIERS)
        if unknown:
            raise ValueError(f"limits are per plan tier ({', '.join(PLAN_TIERS)}), not {', '.join(sorted(unknown))}")
        if any(limit <= 0 for limit in self.limits.values()):
            raise ValueError("every limit must be above 0 requests per minute")
        Aggregate(table="requests", where=self.where)
        return self


@measure("rate_limit_consumption", RateLimitParams, reads=["requests"])
def rate_limit_consumption(ctx: MeasureContext, params: RateLimitParams, window: Window) -> float | None:
    """The busiest minute of the busiest key as a % of its tier's rate limit (requests per minute)."""

    def build(w: Window) -> Any:
        rows = filtered(ctx, Aggregate(table="requests", where=params.where), w)
        rows = rows.filter(rows[params.per].notnull(), rows.tier.isin(list(params.limits)))
        minutes = rows.mutate(_minute=rows.ts.truncate("m"))
        counts = minutes.group_by([params.per, "tier", "_minute"]).aggregate(_calls=lambda t: t.count())
        limit = counts.tier.cases(*params.limits.items(), else_=None)
        return (counts._calls / limit * 100.0).max()

    return ctx.windowed_scalar(("rate_limit", params.model_dump_json()), window, build)


class OccurrencesParams(Params):
    """Rows matching the filters in the window, counted (or `column` summed), per s, min or h if asked.

    A window without any is 0, not no data, once the table has any row matching `known` (default: any
    row at all) before the window's end: a source that reports other events is known to be working,
    so no ENTERPRISE cold start and no isolation violation are real zeros.
    """

    table: str
    where: dict[str, Any] = {}
    labels: dict[str, str] = {}
    time: str | None = None
    column: str | None = None
    per: Literal["s", "min", "h"] | None = None
    known: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check(self) -> OccurrencesParams:
        self.spec()
        Aggregate(table=self.table, where=self.known, time=self.time)
        return self

    def spec(self) -> Aggregate:
        return Aggregate(
            table=self.table,
            agg="count" if self.column is None else "sum",
            column=self.column,
            where=self.where,
            labels=self.labels,
            time=self.time,
        )


@measure("occurrences", OccurrencesParams, rolled_up=lambda p: rollup.reads_rollups(p.spec()))
def occurrences(ctx: MeasureContext, params: OccurrencesParams, window: Window) -> float | None:
    """How many matching rows (or the sum of a column), per second, minute or hour if asked; 0 when none occurred."""
    spec = params.spec()
    # The query evaluate_aggregate runs: a count shared with other KPIs runs once.
    total = windowed_aggregate(ctx, spec, window)
    if not total:
        known = Aggregate(table=params.table, where=params.known, time=params.time)
        total = 0.0 if any_rows(ctx, known, window.end) else None
    if total is None or params.per is None:
        return total
    return total / (window.seconds / SECONDS_PER[params.per])


class TierMrrParams(Params):
    """One plan tier's MRR, in dollars or as a % of all MRR."""

    tier: Literal["FREE", "STARTER", "PRO", "BUSINESS", "ENTERPRISE"]
    share: bool = False


def tenant_tiers(ctx: MeasureContext, at: datetime) -> dict[str, str]:
    """Each tenant's plan tier at `at`: the tier of its latest subscription record before then."""

    def build(w: Window) -> Any:
        subs = ctx.table("subscriptions")
        known = subs.filter(subs.ts < ibis.literal(w.end))
        ranked = known.mutate(_rank=ibis.row_number().over(group_by="tenant_id", order_by=ibis.desc("ts")))
        return ranked.filter(ranked._rank == 0).select("tenant_id", "tier")

    return {row["tenant_id"]: row["tier"] for row in ctx.windowed_rows(("tenant_tiers",), Window(at, at), build)}


@measure("mrr_by_tier", TierMrrParams, reads=["subscriptions"], instant=True)
def mrr_by_tier(ctx: MeasureContext, params: TierMrrParams, window: Window) -> float | None:
    """MRR of the tenants on one plan tier at the window's end (dollars, or % of all MRR)."""
    total = total_mrr(ctx, window.end)
    if total is None:
        return None
    tiers = tenant_tiers(ctx, window.end)
    tier_mrr = sum(mrr for tenant, mrr in tenant_mrr(ctx, window.end).items() if tiers.get(tenant) == params.tier)
    return ratio(tier_mrr, total, scale=100.0) if params.share else tier_mrr


# ---------------------------------------------------------------------------------------------- combinations


class MeasureRef(Params):
    """Another measure of the library, with its parameters."""

    measure: str
    params: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check(self) -> MeasureRef:
        if self.measure not in MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}; known: {', '.join(sorted(MEASURES))}")
        try:
            parse_params(self.measure, self.params)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(params)'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise ValueError(f"params of measure {self.measure}: {problems}") from None
        return self

    def tables(self) -> set[str]:
        return MEASURES[self.measure].sources(parse_params(self.measure, self.params))

    def rolled_up(self) -> bool:
        """Whether the rollups answer the measure's requests where raw ones expired (see base.Measure)."""
        return MEASURES[self.measure].reads_rollups(parse_params(self.measure, self.params))

    def evaluate(self, ctx: MeasureContext, window: Window, *, whole: bool = False) -> float | None:
        """The measure over the window, with the same coverage rule as a KPI's (`whole` for a baseline)."""
        return compute(ctx, self.measure, parse_params(self.measure, self.params), window, whole=whole)


class QuotientParams(Params):
    """numerator / denominator, two measures of the library (× 100 unless percent is false)."""

    numerator: MeasureRef
    denominator: MeasureRef
    percent: bool = True


@measure("quotient", QuotientParams, rolled_up=lambda p: p.numerator.rolled_up() and p.denominator.rolled_up())
def quotient(ctx: MeasureContext, params: QuotientParams, window: Window) -> float | None:
    """The ratio of two measures (upgrades from FREE / FREE tenants)."""
    numerator = params.numerator.evaluate(ctx, window)
    return ratio(numerator, params.denominator.evaluate(ctx, window), scale=100.0 if params.percent else 1.0)


class DeltaParams(Params):
    """`of` in this window minus `of` in the window `baseline` earlier (default: the one just before)."""

    of: MeasureRef
    baseline: Duration | None = None


@measure("delta", DeltaParams, rolled_up=lambda p: p.of.rolled_up())
def delta(ctx: MeasureContext, params: DeltaParams, window: Window) -> float | None:
    """The absolute change of a measure against the previous window (today's p95 − yesterday's, in ms)."""
    now = params.of.evaluate(ctx, window)
    before = params.of.evaluate(ctx, window.previous(params.baseline), whole=True)
    return None if now is None or before is None else now - before

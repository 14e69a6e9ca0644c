"""Whether a KPI is judged on fresh data: the newest record of each source it reads, against a lag allowance.

A KPI reads one or more source tables (its measure's, or the `table` its parameters name). A
source's newest record is the latest event time in it at or before the evaluation instant. A KPI's
data is *stale* when a source's newest record is older than the KPI's allowance: `max_lag` from
the catalog when the KPI sets one, else the larger of 5 minutes (Prometheus' staleness lookback:
ingest delay and scrape intervals are not staleness) and a tenth of the KPI's window (so the
value covers at least 90 % of its window).

Business records (a signup, a subscription change, a payment, a ticket …) arrive when something
happens, so a quiet day without a signup says nothing about the feed: those sources are judged
by the newest record of the whole store. A source with no record at all is not stale: the KPI
has no data, and says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from healthdeck.catalog.models import KpiSpec
from healthdeck.engine.evaluate import KpiResult, evaluate_kpi
from healthdeck.engine.measures import MeasureContext
from healthdeck.engine.measures.base import MEASURES, MINUTE, ROLLED_UP, Params, parse_params, time_bound, time_bounds
from healthdeck.engine.scoring import Status

LOOKBACK = timedelta(minutes=5)
# Tables whose records arrive when something happens in the business, not continuously.
RECORD_TABLES = frozenset({"tenants", "users", "subscriptions", "payments", "spend", "tickets", "incidents"})


@dataclass(frozen=True)
class SourceAge:
    """One source of a KPI: its newest record by the evaluation instant, and whether that is too old."""

    table: str
    newest: datetime | None
    # The record the age is judged on: the source's newest, or the store's for business records.
    judged_on: datetime | None
    max_lag: timedelta
    stale: bool

    @property
    def label(self) -> str:
        return self.table if self.judged_on == self.newest else f"{self.table} (by the store's newest event)"


@dataclass(frozen=True)
class Freshness:
    """How fresh a KPI's data is: each source's newest record, and which of them are stale."""

    sources: tuple[SourceAge, ...]

    @property
    def newest_event(self) -> datetime | None:
        """The newest record the KPI's sources hold (None when they are all empty)."""
        return max((s.newest for s in self.sources if s.newest is not None), default=None)

    @property
    def stale(self) -> bool:
        return any(s.stale for s in self.sources)

    @property
    def stale_sources(self) -> list[SourceAge]:
        return [s for s in self.sources if s.stale]


def source_tables(measure: str, params: Params) -> tuple[str, ...]:
    """The tables a measure reads with these parameters, in a stable order."""
    return tuple(sorted(MEASURES[measure].sources(params)))


def kpi_tables(ctx: MeasureContext, kpi: KpiSpec) -> tuple[str, ...]:
    """The tables this KPI reads."""
    return ctx.memo(("sources", kpi.id), lambda: source_tables(kpi.measure, parse_params(kpi.measure, kpi.params)))


def allowance(kpi: KpiSpec, window: timedelta) -> timedelta:
    """How old a source's newest record may be, for this KPI over this window, before it is stale."""
    return kpi.max_lag if kpi.max_lag is not None else max(LOOKBACK, window / 10)


def newest_records(ctx: MeasureContext, at: datetime) -> dict[str, datetime | None]:
    """Each table's newest event time at or before `at` (None: the table has none)."""

    def query() -> dict[str, datetime | None]:
        # The newest time of every table, read once with the coverage's first times (a top-N reads the
        # newest row groups only): the usual case (--at now) needs nothing else.
        newest = _newest_by(ctx, [table for table in time_bounds(ctx) if table not in ROLLUP_TABLES], at)
        # A raw table holds every record from its first on, so its newest is exact when it has one by
        # then; before its first, where expiry deleted the rest, its rollup still knows the minute (of
        # the minutes over by `at`: a later part of the minute `at` falls in is not reported yet).
        expired = {table: rollup for table, rollup in ROLLED_UP.items() if newest.get(table) is None}
        rolled = _newest_by(ctx, list(expired.values()), at - MINUTE)
        return newest | {table: rolled[rollup] for table, rollup in expired.items()}

    return ctx.memo(("newest_records", at), query)


ROLLUP_TABLES = frozenset(ROLLED_UP.values())


def _newest_by(ctx: MeasureContext, tables: list[str], at: datetime) -> dict[str, datetime | None]:
    """The newest time of each table at or before `at`: its newest overall unless that is later."""
    newest = {table: time_bounds(ctx)[table][1] for table in tables}
    late = [name for name, moment in newest.items() if moment is not None and moment > at]
    if late:  # --at in the past: the last day first, so zone maps skip the older row groups
        newest |= _max_times(ctx, late, since=at - RECENT, until=at)
        newest |= _max_times(ctx, [name for name in late if newest[name] is None], until=at)
    return newest


RECENT = timedelta(days=1)


def _max_times(
    ctx: MeasureContext, tables: list[str], *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, datetime | None]:
    """max(time column) of each table, after `since` and up to `until` when given: one query for all."""
    params = {key: value for key, value in (("since", since), ("until", until)) if value is not None}
    tests = {"since": "{col} > $since", "until": "{col} <= $until"}

    def select(table: str) -> str:
        where = " AND ".join(tests[key] for key in params)
        return f"SELECT '{table}', {time_bound(table, newest=True, where=where)}"

    if not tables:
        return {}
    return dict(ctx.store.con.execute(" UNION ALL ".join(map(select, tables)), params).fetchall())


def freshness(ctx: MeasureContext, result: KpiResult, at: datetime, length: timedelta) -> Freshness:
    """Each source of the KPI: its newest record by `at` and whether it is too old for the KPI's window."""
    newest = newest_records(ctx, at)
    store_newest = max((t for t in newest.values() if t is not None), default=None)
    lag = allowance(result.kpi, length)
    ages = []
    for table in kpi_tables(ctx, result.kpi):
        record = newest.get(table)
        judged_on = store_newest if table in RECORD_TABLES else record
        stale = record is not None and judged_on is not None and at - judged_on > lag
        ages.append(SourceAge(table, record, judged_on, lag, stale))
    return Freshness(tuple(ages))


def evaluate_fresh(ctx: MeasureContext, kpi: KpiSpec, at: datetime, window: timedelta | None = None) -> KpiResult:
    """Evaluate a KPI and judge its freshness; a value read from stale data is STALE, out of the score.

    The allowance follows the window asked for, not the part of it the data covers: a young
    store's clipped 24-hour window still allows a 24-hour KPI's lag.
    """
    result = evaluate_kpi(ctx, kpi, at, window)
    fresh = freshness(ctx, result, at, window or kpi.window)
    if fresh.stale and result.value is not None:
        return replace(result, freshness=fresh, status=Status.STALE, score=None)
    return replace(result, freshness=fresh)


def newest_event(results: Iterable[KpiResult]) -> datetime | None:
    """The newest record among the sources of these KPIs."""
    times = [r.freshness.newest_event for r in results if r.freshness and r.freshness.newest_event]
    return max(times, default=None)


def format_age(age: timedelta) -> str:
    """A lag as people say it: 40 s, 14 min, 3 h 5 min, 2 days."""
    seconds = int(age.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds // 86400} days"


def _when(moment: datetime, at: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({format_age(at - moment)} before the evaluation time)"


def _lagging(sources: Iterable[SourceAge], at: datetime) -> str:
    ages = {s.label: s.judged_on for s in sources if s.judged_on is not None}
    return ", ".join(f"{label} {format_age(at - moment)} old" for label, moment in ages.items())


def stale_reason(result: KpiResult) -> str:
    """Why a KPI has no fresh data: which sources stopped reporting, how long ago, and the allowance."""
    assert result.freshness is not None and result.freshness.stale
    stale = result.freshness.stale_sources
    return f"no fresh data: {_lagging(stale, result.window.end)}, more than the {format_age(stale[0].max_lag)} allowed"


def describe_freshness(results: list[KpiResult], at: datetime) -> str:
    """One sentence on the data's age: the newest event, and which KPIs have no fresh data and why."""
    newest = newest_event(results)
    if newest is None:
        gone = sorted({(r.expired.table, r.expired.before) for r in results if r.expired is not None})
        why = "; ".join(f"raw {table} before {before:%Y-%m-%d %H:%M} UTC were expired" for table, before in gone)
        none = f"No event at or before {at:%Y-%m-%d %H:%M:%S} UTC in the sources of these KPIs"
        return f"{none} ({why})." if why else f"{none}."
    stale = [r.freshness for r in results if r.freshness is not None and r.freshness.stale]
    if not stale:
        return f"Newest event {_when(newest, at)}; every KPI shown has fresh data."
    lagging = _lagging((s for f in stale for s in f.stale_sources), at)
    return (
        f"Stale data: newest event {_when(newest, at)}; {len(stale)} of {len(results)} KPIs have no fresh data "
        f"({lagging}) and are left out of the score."
    )

"""The measure library's frame: a registry of named measures, their typed parameters, and the
context they run in (the store, its queries compiled once into SQL templates, a per-evaluation cache)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from healthdeck.engine.measures.lazy import lazy_module
from healthdeck.engine.measures.templates import CACHE_FILE, PER_LENGTH, TemplateCache, bind, fingerprint
from healthdeck.engine.revenue_options import MrrSettings
from healthdeck.store.connection import Store
from healthdeck.store.migrations import SCHEMA_VERSION
from healthdeck.store.retention import expiry_marks
from healthdeck.store.rollups import ROLLUPS
from healthdeck.store.schema import KINDS

if TYPE_CHECKING:
    import ibis
    from ibis.expr.types import Scalar, Table
else:
    ibis = lazy_module("ibis")


@dataclass(frozen=True)
class Window:
    """A half-open interval of time [start, end) that a measure is evaluated over.

    An event at `start` belongs to the window, one at `end` to the next; a state "at" an instant
    is the state left by the records strictly before it (see README, "Windows and coverage").
    `clipped` marks a window cut to begin at its source's first record or to end at the store's
    newest event (see `covered`); `asked` is then the length it was asked for.
    """

    start: datetime
    end: datetime
    clipped: bool = field(default=False, compare=False)
    asked: timedelta | None = field(default=None, compare=False)

    @classmethod
    def ending(cls, end: datetime, length: timedelta) -> Window:
        return cls(end - length, end)

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def planned_length(self) -> timedelta:
        """The length asked for, before any cut: what a report plans its batches by (generic.plan)."""
        return self.asked or self.length

    @property
    def seconds(self) -> float:
        return self.length.total_seconds()

    @property
    def days(self) -> float:
        return self.seconds / 86400

    def previous(self, baseline: timedelta | None = None) -> Window:
        """The window `baseline` earlier (default: the window of the same length just before this one)."""
        shift = baseline or self.length
        return Window(self.start - shift, self.end - shift)


# The column that places a row of each table in time (the schema's; default: ts).
TIME_COLUMNS = {name: kind.time_field for name, kind in KINDS.items()} | {ROLLUPS: "minute"}
# A raw table -> the rollup that keeps its minutes after its raw rows expire (store/retention.py).
ROLLED_UP = {"requests": ROLLUPS}


def time_bound(table: str, *, newest: bool, where: str = "") -> str:
    """A scalar subquery: the table's earliest (or newest) time, among the rows `where` keeps (SQL, may be empty).

    ORDER BY … LIMIT 1 rather than min()/max(): DuckDB answers a bare min or max from its statistics
    only as long as no row of the table was ever deleted, which expiry does (store/retention.py);
    then min and max read every row, while a top-N still skips the row groups its zone maps exclude.
    """
    column = f'"{TIME_COLUMNS.get(table, "ts")}"'  # names from the schema, not from input
    kept = " AND ".join(test for test in (f"{column} IS NOT NULL", where.format(col=column)) if test)
    order = "DESC" if newest else "ASC"
    return f'(SELECT {column} FROM "{table}" WHERE {kept} ORDER BY {column} {order} LIMIT 1)'


class Params(BaseModel):
    """Base of every measure's parameters: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def tables(self) -> set[str]:
        """The tables these parameters name (a `table` field, in nested parameters too)."""
        found: set[str] = set()
        for name in type(self).model_fields:
            found |= _tables_in(getattr(self, name), field_name=name)
        return found


def _tables_in(value: Any, *, field_name: str = "") -> set[str]:
    if isinstance(value, Params):
        return value.tables()
    if isinstance(value, list | tuple):
        return set().union(*(_tables_in(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_tables_in(v) for v in value.values())) if value else set()
    return {value} if field_name == "table" and isinstance(value, str) else set()


P = TypeVar("P", bound=Params)
T = TypeVar("T")
MeasureFn = Callable[["MeasureContext", Any, Window], float | None]


@dataclass(frozen=True)
class Measure:
    """A named way of computing a number from the store over a window."""

    name: str
    params: type[Params]
    compute: MeasureFn
    doc: str
    # Tables it reads whatever its parameters say (an aggregate's table comes from its parameters).
    reads: tuple[str, ...] = ()
    # It reads only the state at the window's end (MRR), so the data covers it once it began before then.
    instant: bool = False
    # The sampled metrics it reads by label, given its parameters and the KPI's window length (see
    # batch.plan_labelled): (metric, label keys, the length of the window it reads them over).
    labelled: Callable[[Any, timedelta], list[tuple[str, tuple[str, ...], timedelta]]] | None = None
    # Whether, with these parameters, the rollups answer all it reads of a raw table in ROLLED_UP
    # wherever that table's raw rows expired (measures/rollup.py): its coverage then begins with the rollups.
    rolled_up: Callable[[Any], bool] | None = None

    def sources(self, params: Params) -> set[str]:
        """Every table this measure reads with these parameters."""
        return set(self.reads) | params.tables()

    def reads_rollups(self, params: Params) -> bool:
        return self.rolled_up is not None and self.rolled_up(params)


MEASURES: dict[str, Measure] = {}

# The tables whose rows belong to one tenant: a tenant-scoped evaluation sees only that tenant's rows
# of these. Samples belong to a tenant by their `tenant_id` label, which only per-tenant gauges carry
# (a tenant's CPU or memory, not the cluster's): a KPI that groups or filters samples by that label
# reads them per tenant; any other KPI reading samples, or spend, is not available per tenant.
TENANT_TABLES = frozenset(name for name, kind in KINDS.items() if "tenant_id" in kind.columns)
TENANT_LABEL = "tenant_id"
# Stands for the tenant id in compiled queries until it becomes the `$tenant` parameter (see
# `_parametrized`), so the id itself never enters SQL text. Padded with spaces, which no stored
# id may be (store/schema.py), it cannot be mistaken for a tenant or a catalog's own string.
TENANT_SENTINEL = " healthdeck-tenant "
TENANT_PARAM = "tenant"


def _names_tenant_label(value: Any, *, key: str = "") -> bool:
    """Whether parameters group by `labels.tenant_id` or filter on a `tenant_id` label."""
    if isinstance(value, str):
        return value == f"labels.{TENANT_LABEL}"
    if isinstance(value, dict):
        if key == "labels" and TENANT_LABEL in value:
            return True
        return any(_names_tenant_label(v, key=k) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_names_tenant_label(v) for v in value)
    return False


class NotPerTenant(Exception):
    """A tenant-scoped evaluation asked for a table without tenant_id."""

    def __init__(self, table: str) -> None:
        super().__init__(f"not available per tenant: it reads {table}, which has no tenant_id")


def per_tenant_problem(name: str, params: Params) -> str | None:
    """Why a measure cannot be evaluated for one tenant (it reads a table without tenant_id), or None."""
    per_tenant = TENANT_TABLES | ({"samples"} if _names_tenant_label(params.model_dump()) else set())
    shared = sorted(MEASURES[name].sources(params) - per_tenant)
    if not shared:
        return None
    why = {"samples": "samples not grouped or filtered by a tenant_id label"}
    return f"not available per tenant: it reads {', '.join(why.get(t, f'{t}, which has no tenant_id') for t in shared)}"


_CACHES: dict[Path, TemplateCache] = {}
# Set to `off`, every query is compiled for its own window and no template is read, learnt or
# written: the reference the templates are checked against, and a way around a suspect cache.
TEMPLATES_ENV = "HEALTHDECK_SQL_TEMPLATES"


def save_templates(store: Store) -> None:
    """Keep what this process compiled for the next one (a no-op when nothing is new)."""
    if not _templates_off():
        _cache_for(store).save()


def _templates_off() -> bool:
    return os.environ.get(TEMPLATES_ENV, "").strip().lower() == "off"


def _cache_for(store: Store) -> TemplateCache:
    """One template cache per store, loaded from (and saved to) a file beside it."""
    path = store.path.resolve().parent / "cache" / CACHE_FILE
    if path not in _CACHES:
        # Keyed by dialect too: a template holds the SQL of one engine.
        _CACHES[path] = TemplateCache(path, fingerprint(store.dialect) + f"-schema{SCHEMA_VERSION}-{store.dialect}")
    return _CACHES[path]


def measure(
    name: str,
    params: type[P],
    *,
    reads: Iterable[str] = (),
    instant: bool = False,
    labelled: Callable[[P, timedelta], list[tuple[str, tuple[str, ...], timedelta]]] | None = None,
    rolled_up: Callable[[P], bool] | None = None,
) -> Callable[[Callable[[MeasureContext, P, Window], float | None]], Any]:
    """Register a measure under `name`; its docstring's first line documents it.

    `reads` names the tables it reads besides those its parameters name, `instant` says it reads
    only the state at the window's end, and `rolled_up` whether the rollups answer its requests
    where raw ones expired: they decide which windows the data covers (`covered`).
    `labelled` says which sampled metrics it reads by label, so that a report reads them together.
    """

    def register(fn: Callable[[MeasureContext, P, Window], float | None]) -> Any:
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        MEASURES[name] = Measure(name, params, fn, doc, tuple(reads), instant, labelled, rolled_up)
        return fn

    return register


def time_bounds(ctx: MeasureContext) -> dict[str, tuple[datetime | None, datetime | None]]:
    """Each table's earliest and newest time (None: it has no records), all in one query; the rollups'
    first and last minute too (what they hold after raw requests expired).

    Every report needs most of them (coverage, `reported_until`); each is a top-N that reads one
    row group, so asking for all of them at once costs less than a round trip per table.
    """
    return ctx.memo(("time_bounds",), lambda: {t: (a, b) for t, a, b in ctx.store.con.execute(BOUNDS_SQL).fetchall()})


# Built once here: a report asks for the bounds hundreds of times, each answered from the memo.
BOUNDS_SQL = " UNION ALL ".join(
    f"SELECT '{table}', {time_bound(table, newest=False)}, {time_bound(table, newest=True)}"
    for table in (*KINDS, *ROLLED_UP.values())
)


def first_record(ctx: MeasureContext, table: str) -> datetime | None:
    """When the table's records begin (its earliest time), or None when it has none."""
    return time_bounds(ctx)[table][0]


MINUTE = timedelta(minutes=1)


def _minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def next_minute(moment: datetime) -> datetime:
    """The moment itself when it begins a minute, else the next minute."""
    return moment if moment == _minute_of(moment) else _minute_of(moment) + MINUTE


def raw_expired_before(ctx: MeasureContext, table: str) -> datetime | None:
    """Where a raw table's expired rows end: None while nothing of it has expired.

    A table with a rollup: its first raw record (the rollup's end when none is left), when the rollup
    holds minutes before it. Rollups are made only from stored rows, so a rollup minute before the
    minute of the first raw record is the trace of rows that expiry deleted (store/retention.py).
    Another table: the mark expiry keeps of how far it deleted, unless rows older than that were
    stored since (a retention made longer, then older data ingested).
    """
    rollup = ROLLED_UP.get(table)
    if rollup is None:
        mark = ctx.memo(("expiry_marks",), lambda: expiry_marks(ctx.store.con)).get(table)
        first = first_record(ctx, table)
        return mark if mark is not None and (first is None or first >= mark) else None
    rolled_first, rolled_last = time_bounds(ctx)[rollup]
    if rolled_first is None or rolled_last is None:
        return None
    raw_first = first_record(ctx, table)
    if raw_first is None:
        return rolled_last + MINUTE
    return raw_first if rolled_first < _minute_of(raw_first) else None


def table_coverage(ctx: MeasureContext, name: str, params: Params, table: str) -> datetime | None:
    """From when the data the measure reads of one table exists: its first record, or the first
    minute of its rollup when the measure reads that where the raw rows expired."""
    if MEASURES[name].reads_rollups(params) and raw_expired_before(ctx, table) is not None:
        return first_record(ctx, ROLLED_UP[table])
    return first_record(ctx, table)


def coverage_start(ctx: MeasureContext, name: str, params: Params) -> datetime | None:
    """From when the data a measure reads exists: the latest coverage of its tables (None: some are empty)."""
    firsts = [table_coverage(ctx, name, params, table) for table in sorted(MEASURES[name].sources(params))]
    if not firsts or any(first is None for first in firsts):
        return None
    return max(first for first in firsts if first is not None)


@dataclass(frozen=True)
class ExpiredRaw:
    """A window reaching back before `before`, where `table`'s raw rows were expired: the measure
    reads that part from the table's rollup (`rolled_up`), or has no data there."""

    table: str
    before: datetime
    rolled_up: bool


def expired_raw(ctx: MeasureContext, name: str, params: Params, window: Window) -> ExpiredRaw | None:
    """Whether the window begins where raw rows the measure reads were expired, and what it reads there."""
    for table in sorted(MEASURES[name].sources(params)):
        first = first_record(ctx, table)
        if table not in ROLLED_UP and first is not None and window.start >= first:
            continue  # its expiry mark is never after its first record: no need to read the marks
        gone = raw_expired_before(ctx, table)
        if gone is not None and window.start < gone:
            return ExpiredRaw(table, gone, rolled_up=MEASURES[name].reads_rollups(params))
    return None


def _whole_minutes(
    ctx: MeasureContext, name: str, params: Params, start: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """[start, end) with the edges that lie where raw rows expired moved to whole minutes: the rollups
    know only whole minutes there, so the window is measured over those (and says so)."""
    expired = expired_raw(ctx, name, params, Window(start, end))
    if expired is None or not expired.rolled_up:
        return start, end
    return next_minute(start), (_minute_of(end) if end <= expired.before else end)


def reported_until(ctx: MeasureContext) -> datetime | None:
    """The store's newest event time, over every kind: what lies after it has not been reported yet."""
    return max((newest for _, newest in time_bounds(ctx).values() if newest is not None), default=None)


def covered(ctx: MeasureContext, name: str, params: Params, window: Window, *, whole: bool) -> Window | None:
    """The part of `window` the data covers, or None when it has no data.

    Coverage begins at the measure's tables' first record (where raw requests expired, the
    rollups' first minute for a measure the rollups answer: `table_coverage`): a window that began
    before it is partially covered, so a baseline (`whole`, e.g. the previous period of a trend)
    has no data and a current window is measured from the first record on. Where raw rows
    expired, the rollups know whole minutes only, so an edge there moves to a whole minute.
    Coverage ends at the store's newest event: nothing after it was reported yet, and a stopped
    feed is not silence, so a window is measured up to that event (a rate is not diluted by
    unreported minutes). A window
    that ends at or before the first record, or begins after the newest event, has no data. A
    measure of the state at the window's end (MRR) needs only records before that instant.
    """
    began = coverage_start(ctx, name, params)
    if began is None or began >= window.end:
        return None
    if MEASURES[name].instant:
        return window
    if whole and began > window.start:
        return None
    start, end = max(began, window.start), window.end
    newest = reported_until(ctx)
    if newest is not None and newest < end:
        end = newest + timedelta(microseconds=1)  # [start, end) holds the newest event itself
    start, end = _whole_minutes(ctx, name, params, start, end)
    if end <= start:
        return None
    if (start, end) == (window.start, window.end):
        return window
    return Window(start, end, clipped=True, asked=window.length)


def compute(ctx: MeasureContext, name: str, params: Params, window: Window, *, whole: bool = False) -> float | None:
    """A measure over the covered part of a window: the path every measure of a KPI goes through."""
    span = covered(ctx, name, params, window, whole=whole)
    return None if span is None else MEASURES[name].compute(ctx, params, span)


def parse_params(name: str, raw: dict[str, Any]) -> Params:
    """Validate a KPI's params against its measure; raises KeyError or ValidationError."""
    return MEASURES[name].params.model_validate(raw)


def param_problems(name: str, raw: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """(location inside the KPI, message) for each problem with a measure name or its params."""
    if name not in MEASURES:
        return [(("measure",), f"unknown measure {name!r}; known: {', '.join(sorted(MEASURES))}")]
    try:
        parse_params(name, raw)
    except ValidationError as exc:
        return [
            (("params", *exc_loc), err["msg"].removeprefix("Value error, "))
            for err in exc.errors()
            for exc_loc in [tuple(err["loc"])]
        ]
    return []


@dataclass
class MeasureContext:
    """What a measure sees: the store, its queries compiled once, and a cache shared by one evaluation.

    A measure asks for a query by its shape (a key naming everything the query depends on except
    the window) and a function building the Ibis expression for a window. The expression is built
    and compiled only when the shape's template is not in the cache (see templates.py).

    With a `tenant`, every table with a tenant_id column is read filtered to that tenant's rows
    (`table`), the id bound as the query parameter `$tenant`; tables without one are refused.
    """

    store: Store
    cache: dict[Hashable, Any] = field(default_factory=dict)
    tenant: str | None = None
    # The MRR rules' settings (engine/mrr.py): from the environment unless a command chose them.
    mrr_settings: MrrSettings = field(default_factory=MrrSettings.from_environment)

    @cached_property
    def db(self) -> Any:
        """Ibis's compiler for the store's engine: set up only when a query has to be compiled."""
        return self.store.sql_compiler()

    @cached_property
    def templates(self) -> TemplateCache:
        """The store's template cache, found once per evaluation (finding it resolves the store's path)."""
        return _cache_for(self.store)

    def table(self, name: str) -> Table:
        """The table as measures read it: for a tenant-scoped context, only that tenant's rows."""
        # Looking a table up asks DuckDB for its schema; once per evaluation is enough.
        whole = self.memo(("table", name), lambda: self._describe(name))
        if self.tenant is None:
            return whole
        if "tenant_id" in whole.columns:
            return whole.filter(whole.tenant_id == ibis.literal(TENANT_SENTINEL))
        if "labels" in whole.columns:  # see TENANT_TABLES: only readings labelled with the tenant
            return whole.filter(whole.labels[TENANT_LABEL].str == ibis.literal(TENANT_SENTINEL))
        raise NotPerTenant(name)

    def _describe(self, name: str) -> Table:
        # The same schema Ibis's own `table()` reads, but fetched without PyArrow (0.1–0.2 s to import);
        # the engine only compiles expressions to SQL, so the table need not be bound to the backend.
        # Every engine's columns are described by their DuckDB types (store/schema.py's names).
        from ibis.backends.sql.datatypes import DuckDBType

        columns = self.store.columns(name)
        schema = {column: DuckDBType.from_string(kind, nullable=nullable) for column, kind, nullable in columns}
        return ibis.table(ibis.schema(schema), name=name)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Compute once per evaluation: many KPIs share the same facts (request counts, MRR).

        The key includes the tenant: one tenant's facts are never another's or every tenant's.
        """
        scoped = (key, "tenant", self.tenant)
        if scoped not in self.cache:
            self.cache[scoped] = compute()
        return self.cache[scoped]

    def scalar(self, expr: Scalar) -> float | None:
        """Run a scalar expression as it is; NULL and NaN become None (no data)."""
        sql, params = self._compile(expr)
        return self.memo(("scalar", sql), lambda: number(self._fetch(sql, params).fetchall()[0][0]))

    def rows(self, expr: Table) -> list[dict[str, Any]]:
        sql, params = self._compile(expr)
        return self.memo(("rows", sql), lambda: _dicts(self._fetch(sql, params)))

    def windowed_scalar(self, shape: Hashable, window: Window, build: Callable[[Window], Scalar]) -> float | None:
        """`self.scalar(build(window))`, compiled once per shape."""
        rows = self._windowed(("scalar", shape), window, build)
        return number(rows[0][next(iter(rows[0]))]) if rows is not None else self.scalar(build(window))

    def windowed_values(self, shape: Hashable, window: Window, build: Callable[[Window], Table]) -> dict[str, Any]:
        """The one row of `self.windowed_rows(…)`, its values as numbers (NULL and NaN: None)."""
        return {name: number(value) for name, value in self.windowed_rows(shape, window, build)[0].items()}

    def windowed_rows(self, shape: Hashable, window: Window, build: Callable[[Window], Table]) -> list[dict[str, Any]]:
        """`self.rows(build(window))`, compiled once per shape."""
        rows = self._windowed(("rows", shape), window, build)
        return rows if rows is not None else self.rows(build(window))

    def _windowed(self, shape: Hashable, window: Window, build: Callable[[Window], Any]) -> list[dict[str, Any]] | None:
        template = self._template(shape, window, build)
        if template is None:
            return None
        params: dict[str, Any] = bind(template, window.start, window.end)
        if template.get(TENANT_PARAM):
            params[TENANT_PARAM] = self.tenant
        sql = template["sql"]
        return self.memo(("sql", sql, *sorted(params.items())), lambda: _dicts(self._fetch(sql, params)))

    def _template(self, shape: Hashable, window: Window, build: Callable[[Window], Any]) -> dict[str, Any] | None:
        """The shape's template from the cache, learnt (and cached) on a miss; None: compile this window."""
        if _templates_off():
            return None
        if self.tenant is not None:  # its SQL reads `$tenant`: never the template of the query over every tenant
            shape = (shape, "tenant-scoped")
        cache = self.templates
        known, entry = cache.get(repr(shape))
        if known and entry != PER_LENGTH:
            return entry
        known_length, fixed = cache.get(repr((shape, window.length.total_seconds())))
        if known_length:
            return fixed
        if known and window.clipped:
            return None  # an irregular length: a template for it would only bloat the cache file
        return self._learn(cache, shape, window, build, any_length=not known)

    def _learn(
        self, cache: TemplateCache, shape: Hashable, window: Window, build: Callable[[Window], Any], *, any_length: bool
    ) -> dict[str, Any] | None:
        """Compile the shape's template (for any length if `any_length` and the SQL allows) and cache it."""
        from healthdeck.engine.measures.parametrize import learn  # SQLGlot: only on a cache miss

        scoped = False

        def compile_for(span: tuple[datetime, datetime]) -> Any:
            nonlocal scoped
            tree, scoped = self._scoped(self.db.compiler.to_sqlglot(build(Window(*span))))
            return tree

        template, any_length = learn(compile_for, window.length, dialect=self.db.dialect, any_length=any_length)
        if template is not None and scoped:
            template[TENANT_PARAM] = True  # `_windowed` binds the tenant's id
        cache.put(repr(shape), template if any_length else PER_LENGTH)
        if any_length:
            return template
        if window.clipped:
            return None
        cache.put(repr((shape, window.length.total_seconds())), template)
        return template

    def _compile(self, expr: Scalar | Table) -> tuple[str, dict[str, Any]]:
        """The SQL of an expression and its parameters (the tenant's id, for a tenant-scoped context)."""
        # Compiling is the costly step, so it happens once; the text keys the cache and is what runs.
        if self.tenant is None:
            return str(self.db.compile(expr)), {}
        from healthdeck.engine.measures.parametrize import render  # SQLGlot: only when compiling

        tree, scoped = self._scoped(self.db.compiler.to_sqlglot(expr))
        return render(tree, self.db.dialect), {TENANT_PARAM: self.tenant} if scoped else {}

    def _scoped(self, tree: Any) -> tuple[Any, bool]:
        """The compiled tree with the tenant's stand-in made the `$tenant` parameter; whether it had one."""
        if self.tenant is None:
            return tree, False
        from healthdeck.engine.measures.parametrize import bind_string  # SQLGlot: only when compiling

        return bind_string(tree, TENANT_SENTINEL, TENANT_PARAM)

    def _fetch(self, sql: str, params: dict[str, Any]) -> Any:
        return self.store.run_compiled(sql, params)


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def number(value: Any) -> float | None:
    """A value from SQL as a number; NULL, NaN and what is not a number are None (no data)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def ratio(numerator: float | None, denominator: float | None, *, scale: float = 1.0) -> float | None:
    """numerator / denominator × scale, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator * scale


def in_window(table: Table, column: str, window: Window) -> Table:
    """Rows of `table` whose `column` lies in the window."""
    col = table[column]
    return table.filter(col >= ibis.literal(window.start), col < ibis.literal(window.end))

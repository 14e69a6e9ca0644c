"""The measure library's frame: a registry of named measures, their typed parameters, and the
context they run in (an Ibis connection over the store, plus a per-evaluation cache)."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import ibis
from ibis.expr.types import Scalar, Table
from pydantic import BaseModel, ConfigDict, ValidationError

from healthdeck.engine.measures.templates import CACHE_FILE, TemplateCache, fingerprint
from healthdeck.store.connection import Store, ibis_backend
from healthdeck.store.migrations import SCHEMA_VERSION


@dataclass(frozen=True)
class Window:
    """A half-open interval of time [start, end) that a measure is evaluated over."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, length: timedelta) -> Window:
        return cls(end - length, end)

    @property
    def length(self) -> timedelta:
        return self.end - self.start

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


class Params(BaseModel):
    """Base of every measure's parameters: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


MEASURES: dict[str, Measure] = {}

# Compiling an Ibis expression costs milliseconds, and a health check runs hundreds that differ
# only in their window. So a windowed expression is compiled once per shape (and window length)
# with a sentinel window far from any real date; every instant in its SQL then lies a fixed
# offset from the window's start and becomes a query parameter. An instant that is not near the
# sentinel (a date written in a catalog) makes the expression compile per window instead.
_SENTINEL = datetime(2500, 3, 5, 7, 11, 13, tzinfo=UTC)
_NEAR_SENTINEL = timedelta(days=365 * 150)
_TIMESTAMP_LITERAL = re.compile(r"MAKE_TIMESTAMPTZ\(([^()]*)\)")
_CACHES: dict[Path, TemplateCache] = {}


def save_templates(store: Store) -> None:
    """Keep what this process compiled for the next one (a no-op when nothing is new)."""
    _cache_for(store).save()


def _cache_for(store: Store) -> TemplateCache:
    """One template cache per store, loaded from (and saved to) a file beside it."""
    path = store.path.resolve().parent / "cache" / CACHE_FILE
    if path not in _CACHES:
        from healthdeck.engine.measures import generic  # the module whose expressions are templated

        _CACHES[path] = TemplateCache(path, fingerprint(sys.modules[__name__], generic) + f"-schema{SCHEMA_VERSION}")
    return _CACHES[path]


def measure(name: str, params: type[P]) -> Callable[[Callable[[MeasureContext, P, Window], float | None]], Any]:
    """Register a measure under `name`; its docstring's first line documents it."""

    def register(fn: Callable[[MeasureContext, P, Window], float | None]) -> Any:
        MEASURES[name] = Measure(name, params, fn, (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return register


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
    """What a measure sees: Ibis tables over the store and a cache shared by one evaluation."""

    store: Store
    cache: dict[Hashable, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.db = ibis_backend(self.store.con)

    def table(self, name: str) -> Table:
        # Looking a table up asks DuckDB for its schema; once per evaluation is enough.
        return self.memo(("table", name), lambda: self.db.table(name))

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Compute once per evaluation: many KPIs share the same facts (request counts, MRR)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def scalar(self, expr: Scalar) -> float | None:
        """Run a scalar expression; NULL and NaN become None (no data)."""
        sql = self._compile(expr)
        return self.memo(("scalar", sql), lambda: _number(self._fetch(sql).fetchall()[0][0]))

    def rows(self, expr: Table) -> list[dict[str, Any]]:
        sql = self._compile(expr)
        return self.memo(("rows", sql), lambda: _dicts(self._fetch(sql)))

    def windowed_scalar(self, shape: Hashable, window: Window, build: Callable[[Window], Scalar]) -> float | None:
        """`self.scalar(build(window))`, compiled once per shape and window length."""
        rows = self._windowed(("scalar", shape), window, build)
        return _number(rows[0][next(iter(rows[0]))]) if rows is not None else self.scalar(build(window))

    def windowed_rows(self, shape: Hashable, window: Window, build: Callable[[Window], Table]) -> list[dict[str, Any]]:
        """`self.rows(build(window))`, compiled once per shape and window length."""
        rows = self._windowed(("rows", shape), window, build)
        return rows if rows is not None else self.rows(build(window))

    def _windowed(self, shape: Hashable, window: Window, build: Callable[[Window], Any]) -> list[dict[str, Any]] | None:
        cache = _cache_for(self.store)
        key = repr((shape, window.length.total_seconds()))
        known, template = cache.get(key)
        if not known:
            template = self._template(build(Window(_SENTINEL, _SENTINEL + window.length)))
            cache.put(key, template)
        if template is None:
            return None
        sql, offsets = template["sql"], template["offsets"]
        params = {name: window.start + timedelta(microseconds=micros) for name, micros in offsets.items()}
        return self.memo(("windowed", sql, window.start), lambda: _dicts(self.store.con.execute(sql, params)))

    def _template(self, expr: Scalar | Table) -> dict[str, Any] | None:
        """The compiled SQL with each instant as a parameter at a fixed offset from the window's start."""
        sql = self._compile(expr)
        offsets: dict[str, int] = {}
        for match in set(_TIMESTAMP_LITERAL.finditer(sql)):
            offset = _instant(match.group(1)) - _SENTINEL
            if abs(offset) > _NEAR_SENTINEL:
                return None
            micros = (offset.days * 86400 + offset.seconds) * 1_000_000 + offset.microseconds
            offsets[f"at_{'m' if micros < 0 else 'p'}{abs(micros)}"] = micros
        for name, micros in offsets.items():
            literal = self._literal(_SENTINEL + timedelta(microseconds=micros))
            sql = sql.replace(literal, "$" + name)
        if _TIMESTAMP_LITERAL.search(sql):
            return None  # an instant was written in a way we did not expect: do not guess
        return {"sql": sql, "offsets": offsets}

    def _literal(self, moment: datetime) -> str:
        """How Ibis writes this instant in SQL (compiled once per instant)."""
        return self.memo(("literal", moment), lambda: self._render(moment))

    def _render(self, moment: datetime) -> str:
        match = _TIMESTAMP_LITERAL.search(self._compile(ibis.literal(moment)))
        assert match, "Ibis renders timestamps with MAKE_TIMESTAMPTZ"
        return match.group(0)

    def _compile(self, expr: Scalar | Table) -> str:
        # Compiling is the costly step, so it happens once; the text keys the cache and is what runs.
        return str(self.db.compile(expr))

    def _fetch(self, sql: str) -> Any:
        return self.store.con.execute(sql)


def _instant(arguments: str) -> datetime:
    """The instant of MAKE_TIMESTAMPTZ(year, month, day, hour, minute, seconds, 'UTC')."""
    year, month, day, hour, minute, seconds = (float(a) for a in arguments.split(",")[:6])
    base = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=UTC)
    return base + timedelta(seconds=seconds)


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _number(value: Any) -> float | None:
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

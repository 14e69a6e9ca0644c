"""What every view of seed 004 is made of: filters with their options, a time span, and panels.

A panel is one small SQL query over the store. Every value a caller chose (a filter, the span)
reaches the SQL as a named parameter (`$tier`, `$start`…); a query written `($tier IS NULL OR …)`
covers both "All" and one value, as Grafana's variables do. The panels' f-strings only join fixed
fragments of SQL (a table's filtered rows, the step bucket, a LIMIT); no caller's value is formatted in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from healthdeck.store.connection import Store

# The view's span → the step of its time series (about 60–170 points whatever the span).
_STEPS = (
    (timedelta(hours=1), timedelta(minutes=1)),
    (timedelta(hours=6), timedelta(minutes=5)),
    (timedelta(days=1), timedelta(minutes=15)),
    (timedelta(days=7), timedelta(hours=1)),
)
_PARAMETER = re.compile(r"\$([a-z_]+)")
# Point i of a time series covers [start + i × step, start + (i + 1) × step): this is i, for a column.
BUCKET = "floor((epoch({column}) - epoch($start)) / $step)::BIGINT"


def view_step(span: timedelta) -> timedelta:
    """The step of a view's time series over `span`."""
    return next((step for longest, step in _STEPS if span <= longest), timedelta(hours=6))


@dataclass(frozen=True)
class Filter:
    """A filter of a view: its name (the URL query parameter) and the SQL listing its values in the store."""

    name: str
    options: str


@dataclass(frozen=True)
class Query:
    """One request of a view: the store, the span and the chosen filters (None: all)."""

    store: Store
    start: datetime
    end: datetime
    step: timedelta
    filters: dict[str, str | None]

    def rows(self, sql: str, **extra: Any) -> list[tuple[Any, ...]]:
        """The rows of `sql`, given the parameters it names among the span's, the filters and `extra`."""
        known = {"start": self.start, "end": self.end, "step": self.step.total_seconds(), **self.filters, **extra}
        used = {name: known[name] for name in set(_PARAMETER.findall(sql))}
        return self.store.con.execute(sql, used).fetchall()

    def moments(self) -> list[datetime]:
        """The start of each step of the span."""
        count = -(-(self.end - self.start) // self.step)
        return [self.start + i * self.step for i in range(count)]


@dataclass
class Panel:
    """One panel's data: a table (`columns`, `rows`), a stat (one row) or time series (`series`)."""

    id: str
    title: str
    kind: Literal["timeseries", "table", "stat"]
    unit: str | None
    filtered_by: list[str]
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "unit": self.unit,
            "filtered_by": self.filtered_by,
            "columns": self.columns,
            "rows": self.rows,
            "series": self.series,
        }


PanelMaker = Callable[[Query], Panel]


@dataclass(frozen=True)
class View:
    """One of seed 004's dashboards: its filters, its panels and the catalog KPIs it shows."""

    name: str
    title: str
    filters: tuple[Filter, ...]
    panels: tuple[PanelMaker, ...]
    # The `source` of the api_pipeline_tenants pack's KPIs that belong to this view.
    kpi_source: str


def series(q: Query, sql: str, *, empty: float | None) -> list[dict[str, Any]]:
    """Time series from rows (label, step index, value), one per label in order of first appearance,
    with a point at every step; a step without a row gets `empty`."""
    by_label: dict[str, dict[int, float | None]] = {}
    for label, index, value in q.rows(sql):
        by_label.setdefault(str(label), {})[int(index)] = value
    moments = q.moments()
    return [
        {
            "label": label,
            "points": [[at.isoformat(), rounded(values.get(i, empty))] for i, at in enumerate(moments)],
        }
        for label, values in by_label.items()
    ]


def duration_text(step: timedelta) -> str:
    """A step as the API writes it: 1d, 6h, 15m or 30s."""
    seconds = int(step.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def rounded(value: Any) -> Any:
    """Floats to 6 significant digits (a rate of a few requests a day per second keeps its precision);
    anything else as it is."""
    return float(f"{value:.6g}") if isinstance(value, float) else value


def table(q: Query, sql: str, **extra: Any) -> list[list[Any]]:
    return [[rounded(v) for v in row] for row in q.rows(sql, **extra)]

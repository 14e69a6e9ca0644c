"""Charts as data: a series of the API's JSON reshaped for charts.js and for the table beside each chart.

Reshaping only (times to epoch seconds, points aligned on their times): the values are the API's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from healthdeck.catalog.models import AREAS
from healthdeck.web.render import unit_text


@dataclass(frozen=True)
class Chart:
    """One chart: its title, its times and its named series; `data` is what charts.js draws."""

    title: str
    times: list[str]
    series: list[tuple[str, list[float | None]]]
    unit: str = ""
    # Lines drawn across the chart, e.g. {"good": 99.9, "critical": 99.5} (the catalog's numeric thresholds).
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return {
            "x": [datetime.fromisoformat(t).timestamp() for t in self.times],
            "series": [
                {"label": label, "values": values, "unit": unit_text(self.unit)} for label, values in self.series
            ],
        } | ({"thresholds": self.thresholds} if self.thresholds else {})

    @property
    def rows(self) -> list[tuple[str, list[float | None]]]:
        """The table alternative: one row per time, one column per series."""
        return [(t, [values[i] for _, values in self.series]) for i, t in enumerate(self.times)]

    def __bool__(self) -> bool:
        return len(self.times) >= 2  # one point is not a line: the chart is left out, not drawn empty


def history_chart(history: dict[str, Any], *, title: str) -> Chart:
    """The overall score and each area's over the kept evaluations (`GET /v1/history`'s shape)."""
    times = [point["at"] for point in history["overall"]]
    series = [("Overall", [point["score"] for point in history["overall"]])]
    for area in AREAS:
        by_time = {point["at"]: point["score"] for point in history["areas"].get(area, [])}
        if by_time:
            series.append((area.capitalize(), [by_time.get(t) for t in times]))
    return Chart(title, times, series, unit="points")


def points_chart(
    points: list[dict[str, Any]],
    *,
    title: str,
    field: str,
    label: str,
    unit: str = "",
    thresholds: dict[str, float] | None = None,
) -> Chart:
    """One field of a list of `{"at", field…}` points (a KPI's history, an export) as one series."""
    values = [p.get(field) for p in points]
    return Chart(title, [p["at"] for p in points], [(label, values)], unit=unit, thresholds=thresholds or {})


def panel_chart(panel: dict[str, Any]) -> Chart:
    """A `timeseries` panel of `GET /v1/views/{view}`: one line per series (they share their steps)."""
    series = panel["series"]
    times = [at for at, _ in series[0]["points"]] if series else []
    lines = [(s["label"], [value for _, value in s["points"]]) for s in series]
    return Chart(panel["title"], times, lines, unit=panel["unit"] or "")


MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn")


def movement_chart(periods: list[dict[str, Any]], *, title: str) -> Chart:
    """MRR at each period's end and each movement of the period (`GET /v1/business/mrr`'s periods), in USD."""
    series = [("MRR", [p["mrr"] for p in periods])]
    series += [(name.capitalize(), [p[name] for p in periods]) for name in MOVEMENTS]
    return Chart(title, [p["end"] for p in periods], series, unit="usd")

"""Drawing engine answers for people: Rich tables on a terminal, Markdown for reports and chat."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from healthdeck.engine.evaluate import KpiResult
    from healthdeck.engine.health import AreaReport, HealthReport

COLOURS = {
    "GREEN": "green",
    "YELLOW": "yellow",
    "RED": "red",
    "GOOD": "green",
    "WARNING": "yellow",
    "CRITICAL": "red",
    "NO_DATA": "dim",
    "INFO": "cyan",
    "STALE": "magenta",
}
SYMBOLS = {
    "GREEN": "●",
    "YELLOW": "▲",
    "RED": "■",
    "GOOD": "✓",
    "WARNING": "!",
    "CRITICAL": "✗",
    "NO_DATA": "·",
    "INFO": "i",
    "STALE": "~",
}


def badge(status: str | None) -> Text:
    """A status as colour, symbol and word, so it reads without colour too."""
    if status is None:
        return Text("no data", style="dim")
    return Text(f"{SYMBOLS.get(status, '')} {status}", style=COLOURS.get(status, ""))


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _trend(result: KpiResult) -> str:
    return "" if result.change_pct is None else f"{result.change_pct:+.1f}%"


def kpi_table(results: list[KpiResult], title: str | None = None) -> Table:
    from healthdeck.engine.explain import describe_threshold, format_value  # the engine loads only when used

    table = Table("KPI", "value", "status", "score", "threshold", "trend", title=title, title_justify="left")
    for r in results:
        table.add_row(
            r.kpi.title,
            format_value(r.value, r.kpi.unit),
            badge(r.status.value),
            _score(r.score),
            describe_threshold(r),
            _trend(r),
        )
    return table


def _with_data(area: AreaReport) -> str:
    """How many KPIs have fresh data judged or shown (INFO ones too), out of the area's KPIs."""
    from healthdeck.engine.scoring import Status  # the engine loads only when a command runs

    measured = sum(1 for r in area.kpis if r.status not in (Status.NO_DATA, Status.STALE))
    return f"{measured}/{len(area.kpis)}"


def health_view(report: HealthReport, *, full: bool) -> Group:
    """The score with its light, one row per area, the KPIs when asked, and the explanation."""
    from healthdeck.engine.explain import explain

    status = report.status.value if report.status else None
    change = "" if report.change is None else f"  ({report.change:+.1f} since the previous period)"
    header = Text.assemble("Health ", (_score(report.score), "bold"), "/100  ", badge(status), change)
    if report.tenant is not None:
        header.append(f"  tenant {report.tenant}", style="bold")
    if report.stale:
        header.append("  on stale data", style="bold yellow")
    areas = Table("area", "score", "status", "weight", "KPIs with data")
    for area in (a for a in report.areas.values() if a.kpis):
        areas.add_row(
            area.area,
            _score(area.score),
            badge(area.status.value if area.status else None),
            f"{area.weight:.2f}",
            _with_data(area),
        )
    parts: list[object] = [header, freshness_line(report.results(), report.at), areas]
    if full or len(report.areas) == 1:
        parts += [kpi_table(a.kpis, title=f"{a.area} KPIs") for a in report.areas.values()]
    reasons = explain(report)
    reasons = reasons[1:] if report.score is not None else reasons  # the first line repeats the header
    parts += [Text("Why:", style="bold")] + [Text(f"  {escape(line)}") for line in reasons]
    return Group(*parts)  # type: ignore[arg-type]


def freshness_line(results: Iterable[KpiResult], at: datetime) -> Text:
    """The newest event and whether the data is stale: loud when it is, quiet when it is not."""
    from healthdeck.engine.freshness import describe_freshness

    chosen = list(results)
    stale = any(r.freshness is not None and r.freshness.stale for r in chosen)
    return Text(describe_freshness(chosen, at), style="bold yellow" if stale else "dim")


def health_markdown(report: HealthReport, *, full: bool) -> str:
    from healthdeck.engine.explain import describe_threshold, explain, format_value
    from healthdeck.engine.freshness import describe_freshness

    status = report.status.value if report.status else "NO DATA"
    lines = [
        f"# Health {_score(report.score)}/100 — {status}"
        + (f", tenant {report.tenant}" if report.tenant is not None else "")
        + (" (on stale data)" if report.stale else ""),
        "",
        f"As of {report.at.isoformat()}. {describe_freshness(list(report.results()), report.at)}",
        "",
        "| area | score | status | weight |",
        "|---|---|---|---|",
    ]
    for area in (a for a in report.areas.values() if a.kpis):
        light = area.status.value if area.status else "no data"
        lines.append(f"| {area.area} | {_score(area.score)} | {light} | {area.weight:.2f} |")
    if full or len(report.areas) == 1:
        for area in report.areas.values():
            lines += [
                "",
                f"## {area.area}",
                "",
                "| KPI | value | status | score | threshold | trend |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {r.kpi.title} | {format_value(r.value, r.kpi.unit)} | {r.status.value} | {_score(r.score)} "
                f"| {describe_threshold(r)} | {_trend(r)} |"
                for r in area.kpis
            ]
    lines += ["", "## Why", ""] + [f"- {line}" for line in explain(report)]
    return "\n".join(lines) + "\n"

"""Words for numbers: how each KPI and each score came to be, and what moved it."""

from __future__ import annotations

from healthdeck.engine.evaluate import KpiResult
from healthdeck.engine.freshness import stale_reason
from healthdeck.engine.health import HealthReport
from healthdeck.engine.scoring import Status

UNIT_SUFFIX = {
    "percent": "%",
    "percent_of_mrr": "%",
    "ms": " ms",
    "s": " s",
    "us": " µs",
    "per_s": "/s",
    "usd": " USD",
    "days": " days",
    "gbps": " Gbps",
    "mb_per_h": " MB/h",
    "x_cac": "× CAC",
    "ratio": ":1",
}


def format_value(value: float | None, unit: str = "") -> str:
    """A value as a person reads it: 99.95%, 182 ms, 52,400 USD, no data."""
    if value is None:
        return "no data"
    magnitude = abs(value)
    digits = 0 if magnitude >= 1000 or value == int(value) else 1 if magnitude >= 100 else 2 if magnitude >= 1 else 3
    if unit in ("percent", "percent_of_mrr") and 99 <= magnitude < 100:
        digits = 3
    return f"{value:,.{digits}f}{UNIT_SUFFIX.get(unit, ' ' + unit if unit else '')}"


def describe_threshold(result: KpiResult) -> str:
    """The rule that judged the KPI, e.g. "good > 99.9, critical < 99.5" (on the % change for trends)."""
    threshold = result.kpi.thresholds
    if threshold is None:
        return "no threshold (informational)"
    text = f"good {threshold.good}" + (f", critical {threshold.critical}" if threshold.critical else "")
    return text + (" on the % change" if result.kpi.compare == "change" else "")


def describe_kpi(result: KpiResult) -> str:
    """One line: title, value, status, the rule, and the trend."""
    kpi = result.kpi
    shown = format_value(result.value, kpi.unit)
    if kpi.compare == "change" and result.change_pct is not None:
        shown += f" ({result.change_pct:+.1f}% vs previous)"
    stale = result.freshness is not None and result.freshness.stale
    if result.status is Status.NO_DATA:
        reason = result.problem or (stale_reason(result) if stale else "no events in the window")
        return f"{kpi.title}: no data ({reason}); left out of the score"
    if result.status is Status.STALE:
        return f"{kpi.title}: {shown} from stale data ({stale_reason(result)}); left out of the score"
    return f"{kpi.title}: {shown} is {result.status.value} ({describe_threshold(result)})"


def explain(report: HealthReport, *, top: int = 5) -> list[str]:
    """The overall score in sentences: the score and its change, each area, and what costs the most."""
    if report.score is None:
        return ["No KPI has data yet: ingest events or run `healthdeck simulate`."]
    lines = [f"Health {report.score:.1f}/100 is {report.status}" + _change(report.change)]
    for area in report.areas.values():
        if not area.kpis:
            continue  # a pack without KPIs in this area
        if area.score is None:
            lines.append(f"{area.area}: no data (left out of the weights)")
            continue
        lines.append(f"{area.area}: {area.score:.1f} ({area.status}), weight {area.weight:.2f}" + _change(area.change))
    worst = sorted(report.points_lost.items(), key=lambda item: -item[1])[:top]
    by_id = {r.kpi.id: r for r in report.results()}
    for kpi_id, lost in worst:
        if lost >= 0.05:
            lines.append(f"-{lost:.1f} points: {describe_kpi(by_id[kpi_id])}")
    missing = [r.kpi.id for r in report.results() if r.status is Status.NO_DATA]
    if missing:
        lines.append(f"No data (excluded from the weights): {', '.join(missing)}")
    return lines


def _change(change: float | None) -> str:
    return "" if change is None else f" ({change:+.1f} since the previous period)"

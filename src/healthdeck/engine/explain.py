"""Words for numbers: how each KPI and each score came to be, and what moved it."""

from __future__ import annotations

from datetime import timedelta

from healthdeck.catalog.conditions import Condition
from healthdeck.catalog.durations import format_duration
from healthdeck.catalog.models import KpiSpec
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


PERIOD_NAMES = {
    timedelta(hours=1): "hour",
    timedelta(days=1): "day",
    timedelta(days=7): "week",
    timedelta(days=30): "month",
}


def comparison_period(kpi: KpiSpec) -> str:
    """What a trend KPI's change compares: "month over month", "against the same day a week earlier"."""
    length, baseline = kpi.window, kpi.baseline or kpi.window
    this, that = PERIOD_NAMES.get(length), PERIOD_NAMES.get(baseline)
    if this and baseline == length:
        return f"{this} over {this}"
    if this and that:
        return f"against the same {this} a {that} earlier"
    return f"against the {format_duration(length)} {format_duration(baseline)} earlier"


def _rule(kpi: KpiSpec) -> str:
    """The threshold's conditions; on a trend KPI they are % changes, and say so."""
    assert kpi.thresholds is not None
    suffix = "%" if kpi.compare == "change" else ""

    def show(condition: Condition) -> str:
        return " or ".join(f"{part}{suffix}" for part in condition.parts)

    critical = kpi.thresholds.critical
    return f"good {show(kpi.thresholds.good)}" + (f", critical {show(critical)}" if critical else "")


def describe_threshold(result: KpiResult) -> str:
    """The rule that judged the KPI, e.g. "good > 99.9, critical < 99.5" (on its growth for trends)."""
    kpi = result.kpi
    if kpi.thresholds is None:
        return "no threshold (informational)"
    if kpi.compare == "change":
        return f"{_rule(kpi)} on growth {comparison_period(kpi)}"
    return _rule(kpi)


def describe_kpi(result: KpiResult) -> str:
    """One line: what was judged, its status, the rule; a trend KPI names its growth, not its value;
    and where its window reaches back to expired raw events, what that part was read from."""
    line, note = _described(result), expired_note(result)
    return line if note is None or result.value is None else f"{line}; {note}"


def expired_note(result: KpiResult) -> str | None:
    """What the KPI read where its window reaches back before expired raw events (None: it does not)."""
    expired = result.expired
    if expired is None or (expired.rolled_up and result.value is None):
        return None
    gone = f"raw {expired.table} before {expired.before:%Y-%m-%d %H:%M} UTC were expired"
    if expired.rolled_up:
        return f"{gone}: that part is read from the per-minute rollups, and its individual {expired.table} are gone"
    return (
        f"{gone}: measured from then on"
        if result.value is not None
        else f"{gone}, and the rollups do not hold this KPI"
    )


def _described(result: KpiResult) -> str:
    kpi = result.kpi
    shown = format_value(result.value, kpi.unit)
    if result.status is Status.STALE:
        return f"{kpi.title}: {shown} from stale data ({stale_reason(result)}); left out of the score"
    if kpi.compare == "change" and result.value is not None:
        if result.change_pct is None:
            unjudged = f"no growth {comparison_period(kpi)} to judge yet (no data for the period before)"
            return f"{kpi.title} {shown}: {unjudged}; left out of the score"
        if kpi.thresholds is not None:
            growth = f"growth {result.change_pct:+.1f}% {comparison_period(kpi)}"
            return f"{kpi.title} {shown}: {growth} is {result.status.value} ({_rule(kpi)})"
    if result.status is Status.NO_DATA:
        stale = result.freshness is not None and result.freshness.stale
        reason = result.problem or (stale_reason(result) if stale else _no_data_reason(result))
        return f"{kpi.title}: no data ({reason}); left out of the score"
    return f"{kpi.title}: {shown} is {result.status.value} ({describe_threshold(result)})"


def _no_data_reason(result: KpiResult) -> str:
    note = expired_note(result)
    if note is not None:
        return note
    if result.window.clipped:  # e.g. NRR needs the MRR at a start the data does not reach
        span = f"{result.window.start:%Y-%m-%d %H:%M} to {result.window.end:%Y-%m-%d %H:%M} UTC"
        return f"the data covers only {span} of the window"
    return "no events in the window"


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

"""The health score: KPI sub-scores -> area scores -> the overall 0–100 score and its light.

Area score = weighted mean of the sub-scores of its KPIs that have data (catalog weights).
Overall = weighted mean of the area scores with the specification's weights (service .35,
customer .25, business .25, capacity .15), renormalised over the areas that have data.
KPIs and areas without data are listed as such and left out of the weights.
The change since the previous period compares like with like: it is computed over the KPIs
that have a score in both periods (young stores have no history for 30-day KPIs).
Each KPI's `points_lost` is how far it pulled the overall score below 100; they add up to
100 − score, so the explanation accounts for every point.
A KPI whose source stopped reporting too long ago is STALE (engine/freshness.py): like a KPI
without data it is left out of the weights, and the report says how old its newest event is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from healthdeck.catalog.models import AREA_WEIGHTS, AREAS, KpiSpec
from healthdeck.engine.evaluate import KpiResult, plan_aggregates
from healthdeck.engine.freshness import evaluate_fresh, newest_event
from healthdeck.engine.measures import MeasureContext
from healthdeck.engine.scoring import Light, light, weighted_mean


class _Judged:
    """The light and the change of a score; shared by an area and the overall report."""

    score: float | None
    comparable_score: float | None
    previous_score: float | None

    @property
    def status(self) -> Light | None:
        return light(self.score) if self.score is not None else None

    @property
    def change(self) -> float | None:
        """The change since the previous period, over the KPIs scored in both."""
        if self.comparable_score is None or self.previous_score is None:
            return None
        return self.comparable_score - self.previous_score


@dataclass
class AreaReport(_Judged):
    """One area (service, customer, business, capacity): its score and its KPIs."""

    area: str
    weight: float
    kpis: list[KpiResult]
    score: float | None = None
    # Over the KPIs scored in both periods: now, and one period earlier.
    comparable_score: float | None = None
    previous_score: float | None = None

    @property
    def scored(self) -> list[KpiResult]:
        return [r for r in self.kpis if r.score is not None]


@dataclass
class HealthReport(_Judged):
    """The overall score, its light, its areas, and the explanation of every point."""

    at: datetime
    areas: dict[str, AreaReport]
    score: float | None = None
    comparable_score: float | None = None
    previous_score: float | None = None
    points_lost: dict[str, float] = field(default_factory=dict)
    # The one tenant it covers (None: every tenant).
    tenant: str | None = None

    def results(self) -> Iterable[KpiResult]:
        for report in self.areas.values():
            yield from report.kpis

    @property
    def newest_event(self) -> datetime | None:
        """The newest event by `at` in the sources of the KPIs shown (None: they hold no data)."""
        return newest_event(self.results())

    @property
    def stale_kpis(self) -> list[KpiResult]:
        """The KPIs whose sources stopped reporting too long before `at`."""
        return [r for r in self.results() if r.freshness is not None and r.freshness.stale]

    @property
    def stale(self) -> bool:
        return bool(self.stale_kpis)


def _area_score(results: list[KpiResult], *, previous: bool = False) -> float | None:
    pairs = [(r.previous_score if previous else r.score, r.kpi.weight) for r in results]
    return weighted_mean([(score, weight) for score, weight in pairs if score is not None])


def _overall(areas: dict[str, AreaReport], field_name: str) -> float | None:
    scores = [(getattr(area, field_name), area.weight) for area in areas.values()]
    return weighted_mean([(score, weight) for score, weight in scores if score is not None])


def _score_area(report: AreaReport) -> None:
    both = [r for r in report.kpis if r.score is not None and r.previous_score is not None]
    report.score = _area_score(report.kpis)
    report.comparable_score = _area_score(both)
    report.previous_score = _area_score(both, previous=True)


def _points_lost(areas: dict[str, AreaReport]) -> dict[str, float]:
    """How many points of the overall score each KPI costs (they sum to 100 − score)."""
    area_total = sum(a.weight for a in areas.values() if a.score is not None)
    lost: dict[str, float] = {}
    for report in areas.values():
        kpi_total = sum(r.kpi.weight for r in report.scored)
        if report.score is None or not kpi_total:
            continue
        for r in report.scored:
            assert r.score is not None
            lost[r.kpi.id] = report.weight / area_total * r.kpi.weight / kpi_total * (100.0 - r.score)
    return lost


def health(
    ctx: MeasureContext,
    kpis: list[KpiSpec],
    *,
    at: datetime,
    window: timedelta | None = None,
    areas: Iterable[str] = AREAS,
) -> HealthReport:
    """Evaluate `kpis` at `at` and roll them up into area scores and the overall score."""
    chosen = list(areas)
    plan_aggregates(ctx, [k for k in kpis if k.area in chosen], window)
    reports = {
        area: AreaReport(
            area,
            AREA_WEIGHTS[area],
            [evaluate_fresh(ctx, k, at, window) for k in kpis if k.area == area],
        )
        for area in chosen
    }
    for report in reports.values():
        _score_area(report)
    comparable = {name: area for name, area in reports.items() if area.previous_score is not None}
    result = HealthReport(
        at,
        reports,
        _overall(reports, "score"),
        _overall(comparable, "comparable_score"),
        _overall(comparable, "previous_score"),
    )
    result.points_lost = _points_lost(reports)
    result.tenant = ctx.tenant
    return result

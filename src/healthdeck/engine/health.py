"""The health score: KPI sub-scores -> area scores -> the overall 0–100 score and its light.

Area score = weighted mean of the sub-scores of its KPIs that have data (catalog weights).
Overall = weighted mean of the area scores with the specification's weights (service .35,
customer .25, business .25, capacity .15), renormalised over the areas that have data.
KPIs and areas without data are listed as such and left out of the weights.
Each KPI's `points_lost` is how far it pulled the overall score below 100; they add up to
100 − score, so the explanation accounts for every point.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from healthdeck.catalog.models import AREA_WEIGHTS, AREAS, KpiSpec
from healthdeck.engine.evaluate import KpiResult, evaluate_kpi
from healthdeck.engine.measures import MeasureContext
from healthdeck.engine.scoring import Light, light, weighted_mean


@dataclass
class AreaReport:
    """One area (service, customer, business, capacity): its score and its KPIs."""

    area: str
    weight: float
    kpis: list[KpiResult]
    score: float | None = None
    previous_score: float | None = None

    @property
    def status(self) -> Light | None:
        return light(self.score) if self.score is not None else None

    @property
    def scored(self) -> list[KpiResult]:
        return [r for r in self.kpis if r.score is not None]


@dataclass
class HealthReport:
    """The overall score, its light, its areas, and the explanation of every point."""

    at: datetime
    areas: dict[str, AreaReport]
    score: float | None = None
    previous_score: float | None = None
    points_lost: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> Light | None:
        return light(self.score) if self.score is not None else None

    @property
    def change(self) -> float | None:
        if self.score is None or self.previous_score is None:
            return None
        return self.score - self.previous_score

    def results(self) -> Iterable[KpiResult]:
        for report in self.areas.values():
            yield from report.kpis


def _area_score(results: list[KpiResult], *, previous: bool = False) -> float | None:
    pairs = [
        (r.previous_score if previous else r.score, r.kpi.weight)
        for r in results
        if (r.previous_score if previous else r.score) is not None
    ]
    return weighted_mean([(s, w) for s, w in pairs if s is not None])


def _overall(areas: dict[str, AreaReport], *, previous: bool = False) -> float | None:
    pairs = []
    for report in areas.values():
        score = report.previous_score if previous else report.score
        if score is not None:
            pairs.append((score, report.weight))
    return weighted_mean(pairs)


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
    reports = {
        area: AreaReport(area, AREA_WEIGHTS[area], [evaluate_kpi(ctx, k, at, window) for k in kpis if k.area == area])
        for area in chosen
    }
    for report in reports.values():
        report.score = _area_score(report.kpis)
        report.previous_score = _area_score(report.kpis, previous=True)
    result = HealthReport(at, reports, _overall(reports), _overall(reports, previous=True))
    result.points_lost = _points_lost(reports)
    return result

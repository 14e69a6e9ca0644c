"""The engine's front: what every delivery layer (CLI, HTTP API, exports) asks for.

Delivery code never computes a metric; it calls these methods and formats the answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from healthdeck.catalog.loader import Catalog, load_catalog
from healthdeck.catalog.models import AREAS, KpiSpec
from healthdeck.engine.evaluate import KpiResult, evaluate_kpi, evaluate_value, pct_change
from healthdeck.engine.freshness import with_freshness
from healthdeck.engine.health import HealthReport, health
from healthdeck.engine.measures import MeasureContext, Window
from healthdeck.engine.measures.base import param_problems, save_templates
from healthdeck.engine.scoring import Status, judge
from healthdeck.errors import HealthdeckError
from healthdeck.store.connection import Store


def measure_problems(catalog: Catalog) -> list[str]:
    """Stage 3 of loading: every KPI names a known measure with valid parameters."""
    return [
        f"{catalog.where(kpi.id, loc)}: {kpi.id}: {'.'.join(str(p) for p in loc)}: {message}"
        for kpi in catalog.kpis.values()
        for loc, message in param_problems(kpi.measure, kpi.params)
    ]


def load_checked_catalog(user_files: Sequence[Path] = ()) -> Catalog:
    """The shipped packs plus the user's files, validated down to each measure's parameters."""
    return load_catalog(user_files, extra_checks=[measure_problems])


@dataclass(frozen=True)
class ExportRow:
    """One KPI value at one step of an export."""

    at: datetime
    kpi: KpiSpec
    value: float | None
    status: Status


@dataclass(frozen=True)
class Comparison:
    """One KPI over two periods."""

    kpi: KpiSpec
    first: float | None
    second: float | None

    @property
    def change_pct(self) -> float | None:
        return pct_change(self.second, self.first)

    def status(self, value: float | None) -> Status:
        return value_status(self.kpi, value)


class Engine:
    """Evaluates the catalog's KPIs over one store."""

    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store, self.catalog = store, catalog

    def context(self) -> MeasureContext:
        return MeasureContext(self.store)

    def save_compiled(self) -> None:
        """Keep the SQL compiled so far for the next process (see measures/templates.py)."""
        save_templates(self.store)

    def select(
        self, *, pack: str | None = None, areas: Iterable[str] = AREAS, ids: Sequence[str] = ()
    ) -> list[KpiSpec]:
        """The KPIs asked for: by id, else a pack's, else those that make up the health score."""
        if ids:
            return [self.catalog.get(kpi_id) for kpi_id in ids]
        chosen = self.catalog.in_pack(pack) if pack else self.catalog.scored()
        wanted = set(areas)
        return [k for k in chosen if k.area in wanted]

    def health(
        self,
        *,
        at: datetime | None = None,
        window: timedelta | None = None,
        pack: str | None = None,
        areas: Iterable[str] = AREAS,
    ) -> HealthReport:
        """The health score of the scored KPIs (or one pack's) at `at`, explained."""
        chosen = list(areas)
        return health(self.context(), self.select(pack=pack, areas=chosen), at=at or now(), window=window, areas=chosen)

    def evaluate(
        self, kpis: Sequence[KpiSpec], *, at: datetime | None = None, window: timedelta | None = None
    ) -> list[KpiResult]:
        """Several KPIs at one moment, sharing one cache."""
        ctx, moment = self.context(), at or now()
        return [with_freshness(ctx, evaluate_kpi(ctx, k, moment, window), moment) for k in kpis]

    def kpi(self, kpi_id: str, *, at: datetime | None = None, window: timedelta | None = None) -> KpiResult:
        return self.evaluate([self.catalog.get(kpi_id)], at=at, window=window)[0]

    def export(self, kpis: Sequence[KpiSpec], *, start: datetime, end: datetime, step: timedelta) -> list[ExportRow]:
        """Each KPI's value (over its own window) at every step from start to end."""
        if end <= start:
            raise HealthdeckError("the export's end must be after its start")
        if (end - start) / step > 10_000:
            raise HealthdeckError("that export has over 10,000 steps per KPI; use a larger --step")
        ctx, rows, moment = self.context(), [], start + step
        while moment <= end:
            for kpi in kpis:
                value = evaluate_value(ctx, kpi, Window.ending(moment, kpi.window))
                rows.append(ExportRow(moment, kpi, value, value_status(kpi, value)))
            moment += step
        return rows

    def compare(self, kpis: Sequence[KpiSpec], first: Window, second: Window) -> list[Comparison]:
        """Each KPI measured over two whole periods (e.g. last week against this week)."""
        ctx = self.context()
        return [Comparison(k, evaluate_value(ctx, k, first), evaluate_value(ctx, k, second)) for k in kpis]


def value_status(kpi: KpiSpec, value: float | None) -> Status:
    """The status of a bare value (trend KPIs cannot be judged from one value alone)."""
    if value is None:
        return Status.NO_DATA
    if kpi.thresholds is None or kpi.compare == "change":
        return Status.INFO
    return judge(value, kpi.thresholds)


def now() -> datetime:
    return datetime.now(UTC)

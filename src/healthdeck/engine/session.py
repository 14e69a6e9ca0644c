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
from healthdeck.engine.business import DAY, SUMMARY_ENGAGEMENT_KPIS, SUMMARY_SPAN, BusinessSummary
from healthdeck.engine.churn_analysis import PAYING_STEPS, ChurnAnalysis, Churned, paying_history
from healthdeck.engine.customers import CHANGE_SPAN, CustomerHealth
from healthdeck.engine.engagement import (
    ENGAGEMENT_KPIS,
    Cohort,
    EngagementReport,
    Lifecycle,
    Period,
    cohorts,
    lifecycle,
)
from healthdeck.engine.enterprise import (
    ENTERPRISE_TENANTS,
    UPTIME_WINDOW,
    UPTIME_WINDOWS,
    EnterpriseStatus,
    uptime_windows,
)
from healthdeck.engine.evaluate import KpiResult, evaluate_kpi, evaluate_value, pct_change
from healthdeck.engine.freshness import evaluate_fresh
from healthdeck.engine.health import HealthReport, health
from healthdeck.engine.measures import MeasureContext, Window
from healthdeck.engine.measures.base import param_problems, save_templates
from healthdeck.engine.measures.churn import ChurnRisk, tenant_churn_risk
from healthdeck.engine.measures.customers import tenant_health
from healthdeck.engine.measures.revenue import SpendParams, cac, new_paying_customers
from healthdeck.engine.mrr import Book, load_states
from healthdeck.engine.revenue_movements import PeriodKind, PeriodMovements, movements, mrr_movements
from healthdeck.engine.revenue_options import MrrSettings
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


@dataclass(frozen=True)
class PeriodComparison:
    """Two periods as asked, the same-length periods actually compared, and each KPI over them."""

    asked: tuple[Window, Window]
    first: Window
    second: Window
    rows: list[Comparison]

    @property
    def cut(self) -> bool:
        """Whether a period was shortened (to now, or to the other's length) to compare like with like."""
        return (self.first, self.second) != self.asked


class Engine:
    """Evaluates the catalog's KPIs over one store: every tenant's rows, or one tenant's (`tenant=`).

    For one tenant, each table with a tenant_id column is read filtered to that tenant, and a KPI
    reading a table without one (samples, spend) has no data (see measures/base.py, MeasureContext).
    """

    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store, self.catalog = store, catalog

    def context(self, tenant: str | None = None, mrr_settings: MrrSettings | None = None) -> MeasureContext:
        if mrr_settings is None:
            return MeasureContext(self.store, tenant=tenant)
        return MeasureContext(self.store, tenant=tenant, mrr_settings=mrr_settings)

    def mrr_book(self, settings: MrrSettings, tenant: str | None = None) -> Book:
        """Every subscription state under the MRR rules; stops when a currency has no rate."""
        return Book.of(load_states(self.store.con, tenant), settings)

    def business_mrr(
        self,
        *,
        by: PeriodKind,
        periods: int,
        settings: MrrSettings,
        at: datetime | None = None,
        tenant: str | None = None,
    ) -> list[PeriodMovements]:
        """MRR and its movements in each of the last `periods` days, weeks or months up to `at`."""
        return mrr_movements(self.mrr_book(settings, tenant), at=at or now(), by=by, count=periods)

    def business_summary(self, *, settings: MrrSettings, at: datetime | None = None) -> BusinessSummary:
        """Seed 000 §3.4's dashboard at `at`: the last 30 days' revenue figures and the day's counts."""
        moment = at or now()
        window = Window(moment - SUMMARY_SPAN, moment)
        ctx = self.context(mrr_settings=settings)
        kpis = [self.catalog.get(kpi_id) for kpi_id in SUMMARY_ENGAGEMENT_KPIS.values()]
        results = [evaluate_fresh(ctx, kpi, moment, None) for kpi in kpis]
        return BusinessSummary(
            at=moment,
            window=window,
            moved=movements(self.mrr_book(settings), window),
            cac=cac(ctx, SpendParams(), window),
            engagement=dict(zip(SUMMARY_ENGAGEMENT_KPIS, results, strict=True)),
            conversions=new_paying_customers(ctx, Window(moment - DAY, moment)),
        )

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
        tenant: str | None = None,
    ) -> HealthReport:
        """The health score of the scored KPIs (or one pack's) at `at`, explained."""
        chosen = list(areas)
        ctx = self.context(tenant)
        return health(ctx, self.select(pack=pack, areas=chosen), at=at or now(), window=window, areas=chosen)

    def evaluate(
        self,
        kpis: Sequence[KpiSpec],
        *,
        at: datetime | None = None,
        window: timedelta | None = None,
        tenant: str | None = None,
    ) -> list[KpiResult]:
        """Several KPIs at one moment, sharing one cache."""
        ctx, moment = self.context(tenant), at or now()
        return [evaluate_fresh(ctx, k, moment, window) for k in kpis]

    def kpi(
        self, kpi_id: str, *, at: datetime | None = None, window: timedelta | None = None, tenant: str | None = None
    ) -> KpiResult:
        return self.evaluate([self.catalog.get(kpi_id)], at=at, window=window, tenant=tenant)[0]

    def export(
        self,
        kpis: Sequence[KpiSpec],
        *,
        start: datetime,
        end: datetime,
        step: timedelta,
        tenant: str | None = None,
    ) -> list[ExportRow]:
        """Each KPI at start, start + step, … up to and including end, exactly as `kpi` evaluates it there."""
        if end <= start:
            raise HealthdeckError("the export's end must be after its start")
        if (end - start) / step > 10_000:
            raise HealthdeckError("that export has over 10,000 steps per KPI; use a larger --step")
        ctx, rows, moment = self.context(tenant), [], start
        while moment <= end:
            for kpi in kpis:
                result = evaluate_kpi(ctx, kpi, moment)
                rows.append(ExportRow(moment, kpi, result.value, result.status))
            moment += step
        return rows

    def compare(
        self,
        kpis: Sequence[KpiSpec],
        first: Window,
        second: Window,
        *,
        at: datetime | None = None,
        tenant: str | None = None,
    ) -> PeriodComparison:
        """Each KPI over two periods of the same length, both wholly covered by the data.

        A period still running at `at` (default now) ends there, and the longer period is cut to
        the shorter one's length from its start: this week so far against the same days of last week.
        """
        moment = at or now()
        asked = (first, second)
        ended = [Window(w.start, min(w.end, moment)) for w in asked]
        length = min(w.length for w in ended)
        if length <= timedelta(0):
            raise HealthdeckError("a period to compare begins after now; choose periods that have begun")
        used = [Window(w.start, w.start + length) for w in ended]
        ctx = self.context(tenant)
        rows = [Comparison(k, evaluate_value(ctx, k, used[0]), evaluate_value(ctx, k, used[1])) for k in kpis]
        return PeriodComparison(asked, used[0], used[1], rows)

    def churn_risk(self, *, at: datetime | None = None, tenant: str | None = None) -> list[ChurnRisk]:
        """Each tenant's churn risk (seed 000 §2.4) at `at`, or one tenant's ([] if unknown)."""
        return tenant_churn_risk(self.context(tenant), at or now())

    def customer_health(self, *, at: datetime | None = None, tenant: str | None = None) -> list[CustomerHealth]:
        """Each tenant's health (seed 000 §2.3) and churn risk (§2.4) at `at` and a week before, or one
        tenant's ([] if unknown)."""
        moment = at or now()
        before = moment - CHANGE_SPAN
        ctx = self.context(tenant)
        current = {t.tenant_id: t for t in tenant_health(ctx, moment)}
        earlier = {t.tenant_id: t for t in tenant_health(ctx, before)}
        risks = {r.tenant_id: r for r in tenant_churn_risk(ctx, moment)}
        risks_before = {r.tenant_id: r for r in tenant_churn_risk(ctx, before)}
        rows = self.store.con.execute(
            "SELECT tenant_id, name, tier, created_at FROM tenants WHERE $tenant IS NULL OR tenant_id = $tenant",
            {"tenant": tenant},
        ).fetchall()
        return [
            CustomerHealth(
                name=name,
                tier=tier,
                at=moment,
                now=current[tenant_id],
                # A tenant created since then has no score a week ago to compare with.
                before=earlier[tenant_id] if created_at <= before else None,
                risk=risks[tenant_id],
                risk_before=risks_before[tenant_id] if created_at <= before else None,
            )
            for tenant_id, name, tier, created_at in rows
            if tenant_id in current
        ]

    def engagement(self, *, at: datetime | None = None, tenant: str | None = None) -> EngagementReport:
        """The engagement KPIs (usage, engagement, acquisition, agent sessions) at `at`, by group."""
        moment = at or now()
        ctx = self.context(tenant)
        groups = tuple(
            (name, tuple(evaluate_fresh(ctx, self.catalog.get(kpi_id), moment) for kpi_id in ids))
            for name, ids in ENGAGEMENT_KPIS
        )
        return EngagementReport(moment, groups)

    def cohorts(self, *, weeks: int = 8, at: datetime | None = None, tenant: str | None = None) -> list[Cohort]:
        """Weekly signup cohorts and the % of each active in every week since signup (None: not over yet)."""
        return cohorts(self.store, weeks=weeks, at=at or now(), tenant=tenant)

    def lifecycle(
        self, *, period: Period = "week", periods: int = 8, at: datetime | None = None, tenant: str | None = None
    ) -> list[Lifecycle]:
        """Active users of each of the last `periods` periods over: new, returning, resurrecting; and dormant."""
        return lifecycle(self.store, period=period, count=periods, at=at or now(), tenant=tenant)

    def churn_analysis(self, *, start: datetime, end: datetime) -> ChurnAnalysis:
        """The tenants that churned in [start, end), each with its health and churn risk just before."""
        rows = self.store.con.execute(PAYING_STEPS, {"end": end, "tenant": None}).fetchall()
        history = paying_history(rows, start)
        tenants = {
            t: (name, tier)
            for t, name, tier in self.store.con.execute("SELECT tenant_id, name, tier FROM tenants").fetchall()
        }
        churned = []
        for tenant, moment in sorted(history.churns.items(), key=lambda item: (item[1], item[0])):
            ctx = self.context(tenant)
            (health,) = tenant_health(ctx, moment)
            (risk,) = tenant_churn_risk(ctx, moment)
            name, tier = tenants.get(tenant, (tenant, "unknown"))
            churned.append(
                Churned(tenant, name, tier, moment, tenant in history.at_start, tenant in history.at_end, health, risk)
            )
        paying = {t: tenants.get(t, (t, "unknown"))[1] for t in history.at_start}
        return ChurnAnalysis(start=start, end=end, paying_at_start=paying, churned=churned)

    def enterprise_status(self, *, start: datetime, end: datetime) -> list[EnterpriseStatus]:
        """Each enterprise tenant (flagged enterprise, or of tier ENTERPRISE): health and churn risk at `end`,
        and its requests' uptime in 24-hour windows over [start, end)."""
        enterprise = [t for (t,) in self.store.con.execute(ENTERPRISE_TENANTS, {"tenant": None}).fetchall()]
        customers = {c.now.tenant_id: c for c in self.customer_health(at=end) if c.now.tenant_id in enterprise}
        params = {"start": start, "end": end, "seconds": UPTIME_WINDOW.total_seconds(), "tenants": enterprise}
        windows = uptime_windows(self.store.con.execute(UPTIME_WINDOWS, params).fetchall(), start=start, end=end)
        return [EnterpriseStatus(customers[t], windows.get(t, [])) for t in enterprise if t in customers]


def value_status(kpi: KpiSpec, value: float | None) -> Status:
    """The status of a bare value (trend KPIs cannot be judged from one value alone)."""
    if value is None:
        return Status.NO_DATA
    if kpi.thresholds is None or kpi.compare == "change":
        return Status.INFO
    return judge(value, kpi.thresholds)


def now() -> datetime:
    return datetime.now(UTC)

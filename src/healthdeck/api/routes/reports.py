"""Read routes: the health report, one KPI, the catalog, the store.

Each answers the same JSON as the matching CLI command with `--output json`. The health report
and a KPI cover every tenant, or one with `?project=` (as `--tenant`), which a token limited to
that project may ask for.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from healthdeck.api.auth import Caller, needs, tenant_scope
from healthdeck.api.errors import ApiError, documented
from healthdeck.api.owner import StoreOwner, owner_of
from healthdeck.api.tokens import Role
from healthdeck.catalog.conditions import Comparison
from healthdeck.catalog.durations import format_duration
from healthdeck.catalog.models import AREAS, KpiSpec
from healthdeck.engine.measures import MEASURES
from healthdeck.engine.measures.base import parse_params
from healthdeck.engine.serialize import health_json, kpi_json
from healthdeck.store.migrations import read_version
from healthdeck.store.schema import KINDS
from healthdeck.timephrases import evaluation_time, window_length

router = APIRouter(tags=["reports"], responses=documented(400, 401, 403, 404))
EveryTenant = [Depends(needs(Role.viewer))]
Viewer = Annotated[Caller, Depends(needs(Role.viewer, every_tenant=False))]
ProjectQuery = Annotated[
    str | None, Query(description="Only this tenant's data (a tenant id; `_all` or none: every tenant).")
]
AtQuery = Annotated[str, Query(description='Evaluate as of this time: "now", "8 hours ago", "yesterday", ISO 8601.')]
WindowQuery = Annotated[str | None, Query(description="Override every KPI's window, e.g. 5m, 1h, 24h, 30d.")]


@router.get("/v1/health")
def full_health(
    request: Request,
    caller: Viewer,
    area: Annotated[list[str] | None, Query(description=f"Only these areas ({', '.join(AREAS)}); repeat.")] = None,
    at: AtQuery = "now",
    window: WindowQuery = None,
    pack: Annotated[str | None, Query(description="Evaluate one catalog pack instead of the scored KPIs.")] = None,
    project: ProjectQuery = None,
) -> dict[str, Any]:
    """The overall score, its areas and their KPIs, explained (as `healthdeck health --output json`)."""
    unknown = [a for a in area or [] if a not in AREAS]
    if unknown:
        raise ApiError(400, f"area: unknown {', '.join(unknown)}; areas: {', '.join(AREAS)}")
    tenant = tenant_scope(request, caller, project)
    moment, span = evaluation_time(at, label="at"), window_length(window, label="window")
    with owner_of(request).engine() as hd:
        return health_json(hd.health(at=moment, window=span, pack=pack, areas=area or list(AREAS), tenant=tenant))


@router.get("/v1/kpis/{kpi_id}")
def one_kpi(
    request: Request,
    caller: Viewer,
    kpi_id: str,
    at: AtQuery = "now",
    window: WindowQuery = None,
    project: ProjectQuery = None,
) -> dict[str, Any]:
    """One KPI's value, status, sub-score and trend (as `healthdeck metrics get --output json`)."""
    tenant = tenant_scope(request, caller, project)
    return evaluated_kpi(request, kpi_id, at=at, window=window, tenant=tenant)


def evaluated_kpi(request: Request, kpi_id: str, *, at: str, window: str | None, tenant: str | None) -> dict[str, Any]:
    """One KPI evaluated on request, at `at` over `window` (its own by default), for one tenant or all."""
    owner = owner_of(request)
    known_kpi(owner, kpi_id)
    moment, span = evaluation_time(at, label="at"), window_length(window, label="window")
    with owner.engine() as hd:
        return kpi_json(hd.kpi(kpi_id, at=moment, window=span, tenant=tenant))


def known_kpi(owner: StoreOwner, kpi_id: str) -> KpiSpec:
    """The catalog's KPI of that id; another id is a 404 that says where the ids are listed."""
    if kpi_id not in owner.catalog.kpis:
        raise ApiError(404, f"no KPI with id {kpi_id!r}; GET /v1/catalog lists them")
    return owner.catalog.kpis[kpi_id]


@router.get("/v1/catalog", dependencies=EveryTenant)
def catalog(request: Request) -> list[dict[str, Any]]:
    """Every KPI with its area and pack, and whether it is scored (as `healthdeck catalog list --output json`)."""
    loaded = owner_of(request).catalog
    return [
        {"id": k.id, "title": k.title, "area": k.area, "pack": k.pack, "scored": loaded.is_scored(k)}
        for k in loaded.kpis.values()
    ]


@router.get("/v1/catalog/{kpi_id}", dependencies=EveryTenant)
def catalog_kpi(request: Request, kpi_id: str) -> dict[str, Any]:
    """One KPI's definition: what it measures and how, its windows, thresholds and PromQL (as `catalog show`)."""
    owner = owner_of(request)
    kpi = known_kpi(owner, kpi_id)
    return catalog_entry(kpi, scored=owner.catalog.is_scored(kpi))


def catalog_entry(kpi: KpiSpec, *, scored: bool) -> dict[str, Any]:
    """A KPI's catalog definition as JSON: durations as the catalog writes them, conditions as text."""
    return {
        **{key: getattr(kpi, key) for key in ("id", "title", "area", "pack", "unit", "weight", "description")},
        "scored": scored,
        "source": kpi.source,
        "measure": kpi.measure,
        "measure_doc": MEASURES[kpi.measure].doc,
        "params": kpi.params,
        "reads": sorted(MEASURES[kpi.measure].sources(parse_params(kpi.measure, kpi.params))),
        "window": format_duration(kpi.window),
        "baseline": None if kpi.baseline is None else format_duration(kpi.baseline),
        "frequency": kpi.frequency,
        "compare": kpi.compare,
        "thresholds": thresholds_json(kpi),
        "promql": kpi.promql,
        "action": kpi.action,
    }


def thresholds_json(kpi: KpiSpec) -> dict[str, Any] | None:
    """good / critical as written (WARNING is between), and as numbers where each is one bound on the value."""
    rule = kpi.thresholds
    if rule is None:
        return None
    conditions = {"good": rule.good, "critical": rule.critical}
    lines = {
        name: condition.parts[0].bound
        for name, condition in conditions.items()
        if condition is not None and len(condition.parts) == 1 and isinstance(condition.parts[0], Comparison)
    }
    return {
        "good": str(rule.good),
        "critical": None if rule.critical is None else str(rule.critical),
        "judges": "change_pct" if kpi.compare == "change" else "value",
        "lines": lines if kpi.compare == "value" else {},  # a trend's bounds are % changes, not values
    }


@router.get("/v1/store", dependencies=EveryTenant)
def store_info(request: Request) -> dict[str, Any]:
    """The store's path, schema version and records per table (as `healthdeck store info --output json`)."""
    with owner_of(request).reader() as store:
        return {
            "path": str(store.path),
            "schema_version": read_version(store.con),
            "tables": {name: store.count(name) for name in KINDS},
        }

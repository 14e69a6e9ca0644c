"""Health history: each scheduled evaluation kept in the store, read back as curves.

One row per subject and evaluation: `overall`, each area, and each scored KPI when its
catalog `frequency` is due (a daily KPI gets one row a day, a 1m KPI one per cycle).
Rows older than the retention are deleted as new ones are written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from healthdeck.catalog.durations import parse_duration
from healthdeck.catalog.models import AREAS, KpiSpec
from healthdeck.engine.health import HealthReport
from healthdeck.errors import HealthdeckError
from healthdeck.store.connection import Store
from healthdeck.store.transaction import transaction

Row = tuple[datetime, str, str, str | None, float | None, str | None, float | None]
_NAMED_FREQUENCIES = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


def frequency(kpi: KpiSpec) -> timedelta:
    """How often a KPI is worth keeping: its catalog frequency, else its window."""
    if kpi.frequency is None:
        return kpi.window
    return _NAMED_FREQUENCIES.get(kpi.frequency) or parse_duration(kpi.frequency)


def history_rows(report: HealthReport, *, last_kept: dict[str, datetime]) -> list[Row]:
    """The rows of one evaluation; `last_kept` (KPI id -> time of its last row) is updated."""
    at = report.at
    rows: list[Row] = [(at, "overall", "overall", None, None, _light(report.status), report.score)]
    for name, area in report.areas.items():
        rows.append((at, "area", name, name, None, _light(area.status), area.score))
    for result in report.results():
        kpi = result.kpi
        if kpi.id in last_kept and at - last_kept[kpi.id] < frequency(kpi):
            continue
        last_kept[kpi.id] = at
        rows.append((at, "kpi", kpi.id, kpi.area, result.value, result.status.value, result.score))
    return rows


def _light(status: Any) -> str | None:
    return status.value if status is not None else None


def keep(store: Store, rows: Iterable[Row], *, retention: timedelta) -> None:
    """Append one evaluation's rows and drop those past the retention, in one transaction."""
    con = store.con
    with transaction(con):
        con.executemany("INSERT INTO health_history VALUES (?, ?, ?, ?, ?, ?, ?)", list(rows))
        con.execute("DELETE FROM health_history WHERE evaluated_at < now() - ?", [retention])


def last_kept(store: Store) -> dict[str, datetime]:
    """When each KPI's last row was kept, so a restart does not write a daily KPI twice a day."""
    rows = store.con.execute(
        "SELECT name, max(evaluated_at) FROM health_history WHERE level = 'kpi' GROUP BY name"
    ).fetchall()
    return {name: at for name, at in rows}


def since_moment(text: str) -> datetime:
    """When the `since` span (e.g. 7d) before now begins; one that does not read is the caller's error."""
    return datetime.now(UTC) - span_length(text)


def span_length(text: str) -> timedelta:
    """The length of a `since` span (e.g. 7d); one that does not read is the caller's error."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise HealthdeckError(f"since: {exc}") from exc


def read_history(store: Store, *, since: datetime, kpi: str | None = None) -> dict[str, Any]:
    """The score and each area over time since `since` (and one KPI's values, if asked)."""
    rows = store.con.execute(
        "SELECT evaluated_at, level, name, value, status, score FROM health_history "
        "WHERE evaluated_at >= ? AND (level <> 'kpi' OR name = ?) ORDER BY evaluated_at, level, name",
        [since, kpi],
    ).fetchall()
    answer: dict[str, Any] = {"since": since.isoformat(), "overall": [], "areas": {}}
    if kpi is not None:
        answer["kpi"] = {"id": kpi, "points": []}
    for at, level, name, value, status, score in rows:
        point = {"at": at.isoformat(), "score": _round(score), "status": status}
        if level == "overall":
            answer["overall"].append(point)
        elif level == "area":
            answer["areas"].setdefault(name, []).append(point)
        else:
            answer["kpi"]["points"].append({**point, "value": _round(value)})
    return answer


def read_score_history(store: Store, *, since: datetime, points: int | None = None) -> dict[str, Any]:
    """The score and each area since `since`, as `read_history` gives them, at most `points` each
    (the newest of each slice: an evaluation's overall and area rows stay together)."""
    answer: dict[str, Any] = {"since": since.isoformat(), "overall": [], "areas": {}}
    for level, names in (("overall", ["overall"]), ("area", list(AREAS))):
        for name, at, _, status, score in _kept(store, level=level, names=names, since=since, points=points):
            point = {"at": at.isoformat(), "score": _round(score), "status": status}
            (answer["overall"] if level == "overall" else answer["areas"].setdefault(name, [])).append(point)
    return answer


def read_kpi_history(store: Store, *, kpi: str, since: datetime, points: int | None = None) -> list[dict[str, Any]]:
    """One KPI's kept values since `since`, oldest first, as `read_history` gives them under "kpi"."""
    return read_kpis_history(store, kpis=[kpi], since=since, points=points)[kpi]


def read_kpis_history(
    store: Store, *, kpis: Sequence[str], since: datetime, points: int | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Several KPIs' kept values since `since` in one query: each KPI asked -> its points, oldest first.

    With `points`, each KPI keeps at most that many: the last evaluation kept in each of `points`
    equal slices of the span (a sparkline or a chart needs no more, and the values stay as kept).
    """
    found: dict[str, list[dict[str, Any]]] = {kpi: [] for kpi in kpis}
    for name, at, value, status, score in _kept(store, level="kpi", names=list(kpis), since=since, points=points):
        found[name].append({"at": at.isoformat(), "score": _round(score), "status": status, "value": _round(value)})
    return found


def read_area_history(store: Store, *, area: str, since: datetime, points: int | None = None) -> list[dict[str, Any]]:
    """One area's kept scores since `since`, oldest first, as `read_history` gives them under "areas"."""
    rows = _kept(store, level="area", names=[area], since=since, points=points)
    return [{"at": at.isoformat(), "score": _round(score), "status": status} for _, at, _, status, score in rows]


def _kept(
    store: Store, *, level: str, names: list[str], since: datetime, points: int | None
) -> list[tuple[str, datetime, float | None, str | None, float | None]]:
    where = "WHERE level = ? AND list_contains(?, name) AND evaluated_at >= ?"
    if points is None:
        query = f"SELECT name, evaluated_at, value, status, score FROM health_history {where} ORDER BY name, 2"
        return store.con.execute(query, [level, names, since]).fetchall()
    # The newest row of each of `points` equal slices of the span stands for the slice (a hash
    # aggregate: five times faster than ranking the rows of a slice with a window function).
    query = (
        "SELECT name, max(evaluated_at) AS newest, arg_max(value, evaluated_at), arg_max(status, evaluated_at), "
        f"arg_max(score, evaluated_at) FROM health_history {where} "
        "GROUP BY name, least(floor((epoch(evaluated_at) - ?) / ?), ?) ORDER BY name, newest"
    )
    width = max((datetime.now(UTC) - since).total_seconds() / points, 1e-3)
    return store.con.execute(query, [level, names, since, since.timestamp(), width, points - 1]).fetchall()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

"""The documented shape of KPI values over time (exports, period comparisons), shared by the CLI and the API.

`healthdeck metrics export|compare` and `GET /v1/metrics/export|compare` write these same rows,
so a script gets identical answers from either.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from healthdeck.engine.session import Comparison, ExportRow, PeriodComparison

EXPORT_COLUMNS = ("at", "kpi", "value", "unit", "status")


def default_step(span: timedelta) -> timedelta:
    """An export's step when none is asked for: a day over more than two days, else an hour."""
    return timedelta(days=1) if span > timedelta(days=2) else timedelta(hours=1)


def export_records(rows: list[ExportRow]) -> list[dict[str, Any]]:
    """One record per KPI and step: `{"at", "kpi", "value", "unit", "status"}`."""
    return [
        {"at": r.at.isoformat(), "kpi": r.kpi.id, "value": r.value, "unit": r.kpi.unit, "status": r.status.value}
        for r in rows
    ]


def export_csv(rows: list[ExportRow]) -> str:
    """The export as CSV text with a header line (the csv module's dialect: lines end with CRLF)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    writer.writerows(export_records(rows))
    return text.getvalue()


def comparison_json(result: PeriodComparison) -> list[dict[str, Any]]:
    """One record per KPI: both values and statuses, the change, and the windows actually compared."""
    return [_compared(row, result) for row in result.rows]


def _compared(row: Comparison, result: PeriodComparison) -> dict[str, Any]:
    return {
        "kpi": row.kpi.id,
        "period1": row.first,
        "period2": row.second,
        "change_pct": row.change_pct,
        "status1": row.status(row.first).value,
        "status2": row.status(row.second).value,
        "window1": {"start": result.first.start.isoformat(), "end": result.first.end.isoformat()},
        "window2": {"start": result.second.start.isoformat(), "end": result.second.end.isoformat()},
        "cut": result.cut,
    }

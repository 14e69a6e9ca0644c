"""`healthdeck metrics`: one KPI, a live view, exports over time, and period comparisons."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.table import Table

from healthdeck.cli.console import err, out, print_json
from healthdeck.cli.engine_access import engine
from healthdeck.cli.options import AtOption, CatalogOption, DbOption, Output, PackOption, TenantOption, WindowOption
from healthdeck.cli.render import badge, freshness_line, kpi_table
from healthdeck.engine.series_json import comparison_json, default_step, export_csv, export_records
from healthdeck.errors import HealthdeckError, StoreLockedError
from healthdeck.timephrases import evaluation_time, parse_moment, parse_period, window_length

if TYPE_CHECKING:
    from healthdeck.engine.measures import Window
    from healthdeck.engine.session import ExportRow, PeriodComparison

metrics_app = typer.Typer(
    help="Look at individual KPIs: now, live, over time, or between two periods.", no_args_is_help=True
)
NameOption = Annotated[list[str] | None, typer.Option("--name", help="KPI id (repeat for several).")]


@metrics_app.command("get")
def get(
    name: Annotated[str, typer.Option("--name", help="The KPI id, e.g. api_latency_p95.")],
    at: AtOption = "now",
    window: WindowOption = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    tenant: TenantOption = None,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """One KPI's value, status, sub-score and trend, and how it is computed."""
    from healthdeck.engine.explain import expired_note, format_value  # the engine loads only when a command runs
    from healthdeck.engine.serialize import kpi_json

    with engine(db, catalog) as hd:
        result = hd.kpi(name, at=evaluation_time(at), window=window_length(window), tenant=tenant)
    if output is Output.json:
        print_json(kpi_json(result))
        return
    kpi = result.kpi
    scope = "" if tenant is None else f", tenant {tenant}"
    out.print(kpi_table([result], title=f"{kpi.id} ({kpi.area}, pack {kpi.pack}{scope})"))
    out.print(
        f"window {result.window.start:%Y-%m-%d %H:%M} → {result.window.end:%Y-%m-%d %H:%M} UTC; "
        f"previous {format_value(result.previous, kpi.unit)}",
        markup=False,
    )
    out.print(f"measure {kpi.measure} {kpi.params}", markup=False)
    out.print(freshness_line([result], result.window.end))
    for label, text in (
        ("about", kpi.description),
        ("source", kpi.source),
        ("promql", kpi.promql),
        ("if critical", kpi.action),
        ("problem", result.problem),
        ("expired", expired_note(result)),
    ):
        if text:
            out.print(f"{label}: {text}", markup=False)


@metrics_app.command("watch")
def watch(
    name: NameOption = None,
    pack: PackOption = None,
    interval: Annotated[float, typer.Option("--interval", min=0.5, help="Seconds between refreshes.")] = 5.0,
    count: Annotated[int, typer.Option("--count", min=0, help="Stop after this many refreshes (0: never).")] = 0,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """A live view of the KPIs, refreshed every few seconds (Ctrl-C to stop)."""
    refreshes = 0
    with Live(Table(), console=out, auto_refresh=False) as live:
        while count == 0 or refreshes < count:
            live.update(_snapshot(db, catalog, name or [], pack, interval), refresh=True)
            refreshes += 1
            if count == 0 or refreshes < count:
                time.sleep(interval)


def _snapshot(
    db: Path | None, catalog: list[Path] | None, names: list[str], pack: str | None, interval: float
) -> Table:
    try:
        with engine(db, catalog) as hd:
            results = hd.evaluate(hd.select(ids=names, pack=pack))
    except StoreLockedError as exc:
        busy = Table("store busy", title=f"healthdeck — {datetime.now(UTC):%H:%M:%S} UTC", title_justify="left")
        busy.add_row(f"{exc} Retrying every {interval:g} s.")
        return busy
    moment = results[0].window.end if results else datetime.now(UTC)
    return kpi_table(results, title=f"healthdeck — {moment:%H:%M:%S} UTC")


class ExportFormat(StrEnum):
    """File formats of an export."""

    csv = "csv"
    json = "json"
    parquet = "parquet"


@metrics_app.command("export")
def export(
    start: Annotated[str, typer.Option("--start", help='Start, e.g. "7 days ago".')] = "7 days ago",
    end: Annotated[str, typer.Option("--end", help='End, e.g. "now".')] = "now",
    step: Annotated[
        str | None, typer.Option("--step", help="Time between points (default 1h, or 1d over 2 days).")
    ] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv, json or parquet.")] = ExportFormat.csv,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write to this file (needed for parquet).")] = None,
    name: NameOption = None,
    pack: PackOption = None,
    tenant: TenantOption = None,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """KPI values over time (each over its own window), for spreadsheets and notebooks."""
    begin, finish = parse_moment(start, label="--start"), evaluation_time(end, label="--end")
    every = _step(step, finish - begin)
    if fmt is ExportFormat.parquet and out_file is None:
        raise HealthdeckError("--format parquet needs --out FILE")
    with engine(db, catalog) as hd:
        rows = hd.export(hd.select(ids=name or [], pack=pack), start=begin, end=finish, step=every, tenant=tenant)
    _write_export(rows, fmt, out_file)
    if out_file:
        err.print(f"wrote {len(rows):,} rows to {out_file}")


def _step(text: str | None, span: timedelta) -> timedelta:
    step = window_length(text, label="--step")
    return default_step(span) if step is None else step


def _write_export(rows: list[ExportRow], fmt: ExportFormat, out_file: Path | None) -> None:
    if fmt is ExportFormat.parquet:
        assert out_file is not None
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(export_records(rows)), out_file)
        return
    stream = open(out_file, "w", newline="") if out_file else sys.stdout  # noqa: SIM115
    try:
        if fmt is ExportFormat.json:
            import orjson

            stream.write(orjson.dumps(export_records(rows), option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            stream.write(export_csv(rows))
    finally:
        if out_file:
            stream.close()


@metrics_app.command("compare")
def compare(
    period1: Annotated[str, typer.Option("--period1", help='First period, e.g. "last week".')] = "last week",
    period2: Annotated[str, typer.Option("--period2", help='Second period, e.g. "this week".')] = "this week",
    name: NameOption = None,
    pack: PackOption = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    tenant: TenantOption = None,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """Each KPI over two periods of the same length, side by side, with the change.

    A period still running ends now, and the longer one is cut to the shorter's length from its
    start: "last week" against "this week" on a Thursday compares Monday to Thursday of each.
    """
    from healthdeck.engine.explain import format_value  # the engine loads only when a command runs
    from healthdeck.engine.measures import Window

    first = Window(*parse_period(period1, label="--period1"))
    second = Window(*parse_period(period2, label="--period2"))
    with engine(db, catalog) as hd:
        result = hd.compare(hd.select(ids=name or [], pack=pack), first, second, tenant=tenant)
    if output is Output.json:
        print_json(comparison_json(result))
        return
    table = Table(
        "KPI",
        period1,
        "",
        period2,
        "",
        "change",
        title=f"{_span(result.first)} against {_span(result.second)} (UTC)",
    )
    for r in result.rows:
        change = "" if r.change_pct is None else f"{r.change_pct:+.1f}%"
        table.add_row(
            r.kpi.title,
            format_value(r.first, r.kpi.unit),
            badge(r.status(r.first).value),
            format_value(r.second, r.kpi.unit),
            badge(r.status(r.second).value),
            change,
        )
    out.print(table)
    if result.cut:
        out.print(_cut_note(result, period1, period2), markup=False)


def _span(window: Window) -> str:
    return f"{window.start:%Y-%m-%d %H:%M} → {window.end:%Y-%m-%d %H:%M}"


def _days(length: timedelta) -> str:
    return f"{length.total_seconds() / 86400:.1f} days"


def _cut_note(result: PeriodComparison, period1: str, period2: str) -> str:
    asked = ", ".join(
        f"{label} {_span(w)} ({_days(w.length)})" for label, w in zip((period1, period2), result.asked, strict=True)
    )
    return (
        f"Like with like: both periods are compared over their first {_days(result.first.length)} "
        f"(a period still running ends now). Asked: {asked}."
    )

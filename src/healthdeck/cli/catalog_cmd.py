"""`healthdeck catalog`: validate KPI files, list and show the KPIs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from healthdeck.catalog.durations import format_duration
from healthdeck.cli.console import out, print_json
from healthdeck.cli.options import CatalogOption, Output

catalog_app = typer.Typer(help="The KPI catalog: shipped packs plus your own YAML.", no_args_is_help=True)


@catalog_app.command("validate")
def validate(files: Annotated[list[Path], typer.Argument(help="KPI YAML files to check.")]) -> None:
    """Check KPI files on top of the shipped packs; every problem is listed with file and line."""
    from healthdeck.engine.session import load_checked_catalog  # the measures (Ibis) load only when used

    catalog = load_checked_catalog(files)
    names = {str(f) for f in files}
    mine = [k for k in catalog.kpis.values() if k.location.rsplit(":", 1)[0] in names]
    out.print(f"ok: {len(files)} file(s), {len(mine)} KPI(s) defined or overridden, {len(catalog.kpis)} in all")


@catalog_app.command("list")
def list_kpis(
    pack: Annotated[str | None, typer.Option("--pack", help="Only this pack.")] = None,
    area: Annotated[str | None, typer.Option("--area", help="Only this area.")] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    catalog: CatalogOption = None,
) -> None:
    """Every KPI with its area, pack, window and thresholds; the scored ones make up the health score."""
    from healthdeck.engine.session import load_checked_catalog

    loaded = load_checked_catalog(catalog or [])
    kpis = [k for k in (loaded.in_pack(pack) if pack else loaded.kpis.values()) if area in (None, k.area)]
    if output is Output.json:
        print_json(
            [
                {"id": k.id, "title": k.title, "area": k.area, "pack": k.pack, "scored": loaded.is_scored(k)}
                for k in kpis
            ]
        )
        return
    table = Table("id", "title", "area", "pack", "window", "good", "critical", "scored")
    for k in kpis:
        good = str(k.thresholds.good) if k.thresholds else "—"
        critical = str(k.thresholds.critical) if k.thresholds and k.thresholds.critical else "—"
        table.add_row(
            k.id,
            k.title,
            k.area,
            k.pack,
            _window(k.window.total_seconds()),
            good,
            critical,
            "yes" if loaded.is_scored(k) else "",
        )
    out.print(table)
    out.print(f"{len(kpis)} KPIs; packs: {', '.join(loaded.packs)}")


def _window(seconds: float) -> str:
    return format_duration(timedelta(seconds=seconds))


@catalog_app.command("show")
def show(
    kpi_id: Annotated[str, typer.Argument(help="The KPI id.")],
    catalog: CatalogOption = None,
) -> None:
    """One KPI's full definition, as YAML you can copy into your own catalog file."""
    import yaml

    from healthdeck.engine.measures import MEASURES
    from healthdeck.engine.session import load_checked_catalog

    loaded = load_checked_catalog(catalog or [])
    kpi = loaded.get(kpi_id)
    raw = {k: v for k, v in loaded.raw[kpi.id].items() if k != "pack"}
    out.print(f"# pack {kpi.pack}, defined at {kpi.location}", markup=False)
    out.print(f"# measure {kpi.measure}: {MEASURES[kpi.measure].doc}", markup=False)
    out.print(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), markup=False, end="")

"""`healthdeck health`: the 0–100 score, its light, and why."""

from __future__ import annotations

from typing import Annotated

import typer

from healthdeck.cli.console import print_json
from healthdeck.cli.engine_access import engine
from healthdeck.cli.options import (
    AtOption,
    CatalogOption,
    DbOption,
    EngineOption,
    Format,
    PackOption,
    TenantOption,
    WindowOption,
)
from healthdeck.errors import HealthdeckError
from healthdeck.timephrases import evaluation_time, window_length


def health(
    service: Annotated[bool, typer.Option("--service", help="Only service health.")] = False,
    customers: Annotated[bool, typer.Option("--customers", help="Only customer health.")] = False,
    business: Annotated[bool, typer.Option("--business", help="Only business health.")] = False,
    capacity: Annotated[bool, typer.Option("--capacity", help="Only capacity health.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Every KPI of every area.")] = False,
    at: AtOption = "now",
    window: WindowOption = None,
    pack: PackOption = None,
    tenant: TenantOption = None,
    history: Annotated[
        str | None,
        typer.Option("--history", help="The score and each area over this span (e.g. 7d), from the kept history."),
    ] = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json or markdown.")] = Format.table,
    catalog: CatalogOption = None,
    db: DbOption = None,
    engine_url: EngineOption = None,
) -> None:
    """The overall health score (GREEN ≥ 80, YELLOW ≥ 60, else RED), its areas, and what pulled it down."""
    from healthdeck.catalog.models import AREAS  # the engine's modules load only when a command runs
    from healthdeck.engine.serialize import health_json

    if history is not None:
        if tenant is not None:
            raise HealthdeckError("--history is kept for every tenant together; leave out --tenant")
        from healthdeck.cli.history_cmd import show_history

        show_history(db, history, output)
        return
    chosen = [a for a, flag in zip(AREAS, (service, customers, business, capacity), strict=True) if flag] or list(AREAS)
    with engine(db, catalog, engine_url) as hd:
        report = hd.health(at=evaluation_time(at), window=window_length(window), pack=pack, areas=chosen, tenant=tenant)
    if output is Format.json:
        print_json(health_json(report))
        return
    from healthdeck.cli.console import out  # Rich: only for a table or Markdown
    from healthdeck.cli.render import health_markdown, health_view

    if output is Format.markdown:
        out.print(health_markdown(report, full=full), markup=False, end="")
    else:
        out.print(health_view(report, full=full))

"""`healthdeck status --quick`: the morning check's panels with their traffic light."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from healthdeck.cli.console import out, print_json
from healthdeck.cli.engine_access import engine
from healthdeck.cli.options import AtOption, CatalogOption, DbOption, Output
from healthdeck.cli.render import badge, freshness_line
from healthdeck.timephrases import evaluation_time

MORNING_PACK = "daily_ops_morning"
MEANING = {
    "GREEN": "All systems operational",
    "YELLOW": "Degraded performance, monitoring required",
    "RED": "Service impacted, immediate action needed",
}


def status(
    quick: Annotated[bool, typer.Option("--quick", help="Only the morning panels (the default and only view).")] = True,
    at: AtOption = "now",
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """System status at a glance: uptime, error rate, p95 latency, pods and GPU, with the light and actions."""
    from healthdeck.engine.explain import describe_threshold, format_value  # the engine loads only when used
    from healthdeck.engine.scoring import Status
    from healthdeck.engine.serialize import health_json

    with engine(db, catalog) as hd:
        report = hd.health(at=evaluation_time(at), pack=MORNING_PACK, areas=["service"])
    if output is Output.json:
        print_json(health_json(report))
        return
    light = report.status.value if report.status else None
    meaning = MEANING.get(light or "", "no data yet")
    panels = report.areas["service"].kpis
    if report.stale:  # a light from the few panels still fresh cannot vouch for the rest
        fresh = [r for r in panels if r.value is not None and r.status is not Status.STALE]
        meaning = f"not confirmed: {len(fresh)} of {len(panels)} panels have fresh data"
    out.print(Text.assemble("Status ", badge(light), "  ", (meaning, "bold yellow" if report.stale else "")))
    out.print(freshness_line(report.results(), report.at))
    table = Table("panel", "value", "status", "healthy / critical", "action if critical")
    for r in report.areas["service"].kpis:
        action = r.kpi.action if r.status is Status.CRITICAL else ""
        table.add_row(
            r.kpi.title, format_value(r.value, r.kpi.unit), badge(r.status.value), describe_threshold(r), action
        )
    out.print(table)

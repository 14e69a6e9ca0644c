"""`healthdeck business cohorts|lifecycle|engagement`: how users stay, come and go (seed 000 §2.1–2.2, seed 003 §1.1).

Registered on `business_app` at the end of cli/business_cmd.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from healthdeck.cli.console import out, print_json
from healthdeck.cli.engine_access import engine
from healthdeck.cli.options import AtOption, CatalogOption, DbOption, TableOrJson, TableOrJsonOption, TenantOption
from healthdeck.timephrases import evaluation_time

if TYPE_CHECKING:
    from healthdeck.engine.engagement import Cohort, EngagementReport, Lifecycle


def engagement(
    at: AtOption = "now",
    output: TableOrJsonOption = TableOrJson.table,
    tenant: TenantOption = None,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """DAU, WAU, MAU, stickiness, per-user numbers, return rates, activation, and the agent session metrics."""
    from healthdeck.engine.engagement import engagement_json

    with engine(db, catalog) as hd:
        report = hd.engagement(at=evaluation_time(at), tenant=tenant)
    if output is TableOrJson.json:
        print_json(engagement_json(report))
        return
    show_engagement(report, tenant=tenant)


def show_engagement(report: EngagementReport, *, tenant: str | None) -> None:
    from healthdeck.cli.render import kpi_table

    scope = "" if tenant is None else f", tenant {tenant}"
    for name, results in report.groups:
        out.print(kpi_table(list(results), title=f"{name.capitalize()} at {report.at:%Y-%m-%d %H:%M} UTC{scope}"))


def cohorts(
    weeks: Annotated[int, typer.Option("--weeks", help="Signup weeks shown, and weeks since signup (0 … N-1).")] = 8,
    at: AtOption = "now",
    output: TableOrJsonOption = TableOrJson.table,
    tenant: TenantOption = None,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """Retention by signup week: the % of each week's signups active in each week since (a triangle)."""
    from healthdeck.engine.engagement import check_span, cohorts_json

    check_span(weeks, "--weeks")
    moment = evaluation_time(at)
    with engine(db, catalog) as hd:
        rows = hd.cohorts(weeks=weeks, at=moment, tenant=tenant)
    if output is TableOrJson.json:
        print_json(cohorts_json(rows, weeks=weeks, at=moment))
        return
    out.print(cohort_table(rows, weeks=weeks, at=moment))
    out.print(
        "Columns: weeks since the signup week (0). Blank: that week is not over yet. Weeks start Monday 00:00 UTC.",
        markup=False,
    )


def cohort_table(rows: list[Cohort], *, weeks: int, at: datetime) -> Table:
    """Cohorts down, weeks since signup across (0 is the signup week), % active: a triangle."""
    table = Table(
        title=f"% of each signup week's users active N weeks later, at {at:%Y-%m-%d %H:%M} UTC",
        title_justify="left",
    )
    table.add_column("signup week", no_wrap=True)
    table.add_column("users", justify="right")
    for k in range(weeks):
        table.add_column(str(k), justify="right", no_wrap=True)
    for cohort in rows:
        cells = ("" if pct is None else f"{pct:.1f}" for pct in cohort.retention)
        table.add_row(cohort.week.isoformat(), str(cohort.users), *cells)
    if not rows:
        table.add_row("no signups", "", *([""] * weeks))
    return table


def lifecycle(
    period: Annotated[str, typer.Option("--period", help="day, week or month.")] = "week",
    periods: Annotated[int, typer.Option("--periods", help="How many periods (the last ones over).")] = 8,
    at: AtOption = "now",
    output: TableOrJsonOption = TableOrJson.table,
    tenant: TenantOption = None,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """Active users per period, split into new, returning and resurrecting, and those who went dormant."""
    from healthdeck.engine.engagement import check_period, check_span, lifecycle_json

    chosen = check_period(period)
    check_span(periods, "--periods")
    moment = evaluation_time(at)
    with engine(db, catalog) as hd:
        rows = hd.lifecycle(period=chosen, periods=periods, at=moment, tenant=tenant)
    if output is TableOrJson.json:
        print_json(lifecycle_json(rows, period=chosen, at=moment))
        return
    out.print(lifecycle_table(rows, period=chosen, at=moment))


def lifecycle_table(rows: list[Lifecycle], *, period: str, at: datetime) -> Table:
    table = Table(
        period,
        "active",
        "new",
        "returning",
        "resurrecting",
        "dormant",
        title=f"Users per {period} (the last {len(rows)} over at {at:%Y-%m-%d %H:%M} UTC)",
        title_justify="left",
    )
    for row in rows:
        counts = (row.active, row.new, row.returning, row.resurrecting, row.dormant)
        table.add_row(row.start.isoformat(), *(str(n) for n in counts))
    return table

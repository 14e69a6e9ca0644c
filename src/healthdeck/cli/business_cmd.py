"""`healthdeck business`: revenue and engagement as a finance lead reads them (seed 000 tiers 2 and 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Group
from rich.table import Table

from healthdeck.cli.console import out, print_json
from healthdeck.cli.engine_access import engine
from healthdeck.cli.options import AtOption, CatalogOption, DbOption, TableOrJson, TableOrJsonOption
from healthdeck.cli.render import badge
from healthdeck.engine.revenue_options import (
    CHURN_AT_SETTING,
    DEFAULT_PERIODS,
    DISCOUNTS_SETTING,
    RATES_SETTING,
    MrrSettings,
    Period,
    Setting,
)
from healthdeck.timephrases import evaluation_time

business_app = typer.Typer(
    help="Revenue and engagement: MRR and its movements, retention, unit economics, cohorts.",
    no_args_is_help=True,
)


def _setting_option(setting: Setting) -> Any:
    return typer.Option(setting.option, envvar=setting.env, help=setting.help, show_default=False)


RatesOption = Annotated[Path | None, _setting_option(RATES_SETTING)]
ChurnAtOption = Annotated[str | None, _setting_option(CHURN_AT_SETTING)]
DiscountsOption = Annotated[str | None, _setting_option(DISCOUNTS_SETTING)]


def mrr_settings(rates: Path | None, churn_at: str | None, discounts: str | None) -> MrrSettings:
    return MrrSettings.from_values(rates=rates, churn_at=churn_at, discounts=discounts)


@business_app.command("mrr")
def mrr_command(
    by: Annotated[
        Period, typer.Option("--by", help="The length of each period (UTC days, weeks from Monday, months).")
    ] = Period.month,
    periods: Annotated[
        int | None,
        typer.Option(
            "--periods", min=1, max=1000, help="How many periods up to --at (default: 30 days, 12 weeks, 12 months)."
        ),
    ] = None,
    at: AtOption = "now",
    rates: RatesOption = None,
    churn_at: ChurnAtOption = None,
    discounts: DiscountsOption = None,
    output: TableOrJsonOption = TableOrJson.table,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """MRR and its movements per period: new, expansion, contraction, churn, reactivation."""
    from healthdeck.engine.revenue_movements import mrr_json

    settings, moment = mrr_settings(rates, churn_at, discounts), evaluation_time(at)
    with engine(db, catalog) as hd:
        rows = hd.business_mrr(by=by.value, periods=periods or DEFAULT_PERIODS[by.value], at=moment, settings=settings)
    answer = mrr_json(rows)
    if output is TableOrJson.json:
        print_json(answer)
        return
    # Piped output is 80 columns by default: too narrow for ten columns of dollars and cents.
    out.width = max(out.width, TABLE_WIDTH)
    out.print(mrr_table(answer["periods"], by.value))


TABLE_WIDTH = 130
MRR_COLUMNS = ("mrr", "new", "expansion", "reactivation", "contraction", "churn", "net_new", "arr", "quick_ratio")


def mrr_table(rows: list[dict[str, Any]], by: str) -> Table:
    """One line per period; losses shown negative so a line reads as a sum."""
    table = Table(title=f"MRR movements by {by} (USD per month)", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column(by)
    for column in MRR_COLUMNS:
        table.add_column(column.replace("_", " "), justify="right")
    for row in rows:
        cells = [_signed(column, row[column]) for column in MRR_COLUMNS]
        table.add_row(row["period"], *cells)
    return table


def _signed(column: str, value: float | None) -> str:
    if value is None:
        return "—"
    if column == "quick_ratio":
        return f"{value:.2f}"
    if column in ("contraction", "churn") and value:
        return f"-{value:,.2f}"
    return f"{value:,.2f}"


@business_app.command("summary")
def summary_command(
    at: AtOption = "now",
    rates: RatesOption = None,
    churn_at: ChurnAtOption = None,
    discounts: DiscountsOption = None,
    output: TableOrJsonOption = TableOrJson.table,
    db: DbOption = None,
    catalog: CatalogOption = None,
) -> None:
    """The daily business dashboard: MRR, ARR, NRR, churn, DAU, MAU, signups, conversions, unit economics."""
    from healthdeck.engine.business import summary_json

    settings, moment = mrr_settings(rates, churn_at, discounts), evaluation_time(at)
    with engine(db, catalog) as hd:
        summary = summary_json(hd.business_summary(settings=settings, at=moment))
        statuses = figure_statuses(hd.catalog, summary)
    if output is TableOrJson.json:
        print_json(summary)
        return
    out.print(summary_view(summary, statuses, moment.strftime("%Y-%m-%d %H:%M UTC")))


def figure_statuses(catalog: Any, summary: dict[str, Any]) -> dict[str, str]:
    """Each judged figure's status by the catalog KPI that judges it (seed 000's thresholds)."""
    from healthdeck.engine.business import JUDGED_BY
    from healthdeck.engine.session import value_status

    return {key: value_status(catalog.get(kpi), summary[key]).value for key, kpi in JUDGED_BY.items()}


CARDS = (
    (("MRR", "mrr"), ("ARR", "arr"), ("NRR", "nrr"), ("Churn (logo)", "logo_churn_rate")),
    (("DAU", "dau"), ("MAU", "mau"), ("Signups (day)", "signups"), ("Conversions (day)", "conversions")),
)
DETAILS = (
    ("ARPU", "arpu"),
    ("GRR", "grr"),
    ("Revenue churn", "revenue_churn_rate"),
    ("Expansion rate", "expansion_rate"),
    ("Quick ratio", "quick_ratio"),
    ("LTV", "ltv"),
    ("CAC", "cac"),
    ("LTV:CAC", "ltv_cac"),
)
PERCENT = {"nrr", "grr", "logo_churn_rate", "revenue_churn_rate", "expansion_rate"}
DOLLARS = {"mrr", "arr", "arpu", "ltv", "cac"}


def shown(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if key in DOLLARS:
        return f"${value:,.2f}"
    if key in PERCENT:
        return f"{value:.1f}%"
    return f"{value:.2f}" if key in ("quick_ratio", "ltv_cac") else f"{value:,.0f}"


def summary_view(summary: dict[str, Any], statuses: dict[str, str], when: str) -> Group:
    """Seed 000 §3.4's two rows of cards, then the unit economics with their statuses."""
    cards = Table(title=f"Business dashboard — {when} (revenue: last 30 days)", title_justify="left", show_lines=True)
    for _ in range(4):
        cards.add_column(justify="center")
    for row in CARDS:
        cards.add_row(*[f"{label}\n[bold]{shown(key, summary[key])}[/bold]" for label, key in row])
        cards.add_row(*["" if key not in statuses else badge(statuses[key]) for _, key in row])
    details = Table(title_justify="left")
    details.add_column("figure")
    details.add_column("value", justify="right")
    details.add_column("status")
    for label, key in DETAILS:
        details.add_row(label, shown(key, summary[key]), badge(statuses[key]) if key in statuses else "")
    return Group(cards, details)


# Engagement: the engagement KPIs, cohorts and lifecycle (cli/engagement_cmd.py).
from healthdeck.cli import engagement_cmd  # noqa: E402

business_app.command("engagement")(engagement_cmd.engagement)
business_app.command("cohorts")(engagement_cmd.cohorts)
business_app.command("lifecycle")(engagement_cmd.lifecycle)

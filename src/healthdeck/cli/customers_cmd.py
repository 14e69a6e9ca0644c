"""`healthdeck customers`: each tenant's health and churn risk, as a customer-success lead reads them.

Each command prints the JSON of its API route (`--output json`), or a table made from that JSON.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from healthdeck.cli.console import out, print_json
from healthdeck.cli.engine_access import engine
from healthdeck.cli.options import AtOption, CatalogOption, DbOption, TableOrJson, TableOrJsonOption
from healthdeck.cli.remote import on_store
from healthdeck.cli.render import COLOURS, SYMBOLS
from healthdeck.errors import HealthdeckError
from healthdeck.timephrases import evaluation_time, parse_period, period_length

if TYPE_CHECKING:
    from healthdeck.store.connection import Store

customers_app = typer.Typer(
    help="Customers: per-tenant health and churn risk, usage, at-risk lists, enterprise status.",
    no_args_is_help=True,
)
TenantIdOption = Annotated[str, typer.Option("--tenant-id", help="The tenant (its tenant_id).")]
# A status or level drawn as the traffic light it amounts to, with its own word.
LIGHTS = {"HEALTHY": "GOOD", "AT_RISK": "WARNING", "CRITICAL": "CRITICAL", "LOW": "GOOD", "MEDIUM": "WARNING"}
LIGHTS["HIGH"] = "CRITICAL"


def light(word: str) -> Text:
    status = LIGHTS.get(word, "INFO")
    return Text(f"{SYMBOLS[status]} {word}", style=COLOURS[status])


def _points(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _change(value: float | None) -> str:
    return "new" if value is None else f"{value:+.1f}"


def unknown_tenant(tenant: str) -> HealthdeckError:
    return HealthdeckError(
        f"--tenant-id {tenant!r}: no such tenant in the store; "
        '`healthdeck sql "SELECT tenant_id, name FROM tenants"` lists them'
    )


@customers_app.command("health")
def health(
    tenant_id: TenantIdOption,
    at: AtOption = "now",
    output: TableOrJsonOption = TableOrJson.table,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """One tenant's health score (seed 000 §2.3) and churn risk (§2.4), each with its breakdown and week's change."""
    from healthdeck.engine.customers import customer_health_json

    with engine(db, catalog) as hd:
        found = hd.customer_health(at=evaluation_time(at), tenant=tenant_id)
    if not found:
        raise unknown_tenant(tenant_id)
    answer = customer_health_json(found[0])
    if output is TableOrJson.json:
        print_json(answer)
        return
    out.print(health_table(answer))
    out.print(churn_table(answer["churn_risk"]))


def health_table(answer: dict[str, Any]) -> Table:
    title = Text(f"{answer['name']} ({answer['tenant_id']}, {answer['tier']}): health {answer['health_score']:.1f} ")
    title.append_text(light(answer["health_status"]))
    title.append(f", {_change(answer['change'])} since a week before")
    table = Table("factor", "points", "of", "rule", title=title, title_justify="left")
    maxima = {"usage": 30, "engagement": 25, "adoption": 25, "support": 20}
    for factor, points in answer["factors"].items():
        table.add_row(factor, _points(points), str(maxima[factor]), answer["rules"][factor])
    return table


def churn_table(risk: dict[str, Any]) -> Table:
    title = Text(f"churn risk {risk['score']} ")
    title.append_text(light(risk["level"]))
    change = "new" if risk["change"] is None else f"{risk['change']:+d}"
    title.append(f", {change} since a week before")
    table = Table("indicator", "points", "fact", title=title, title_justify="left")
    for indicator in risk["indicators"]:
        table.add_row(indicator["name"], str(indicator["points"]), indicator["fact"])
    if not risk["indicators"]:
        table.add_row("none active", "0", "")
    return table


@customers_app.command("at-risk")
def at_risk(
    at: AtOption = "now",
    output: TableOrJsonOption = TableOrJson.table,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """Tenants AT_RISK or CRITICAL in health, or at MEDIUM or HIGH churn risk, worst first, and why."""
    from healthdeck.engine.customers import at_risk_json

    moment = evaluation_time(at)
    with engine(db, catalog) as hd:
        answer = at_risk_json(hd.customer_health(at=moment), at=moment)
    if output is TableOrJson.json:
        print_json(answer)
        return
    title = f"{answer['at_risk']} of {answer['tenants_total']} tenants at risk at {moment:%Y-%m-%d %H:%M} UTC"
    table = Table("tenant", "health", "status", "churn risk", "level", "why", title=title, title_justify="left")
    for row in answer["tenants"]:
        risk = row["churn_risk"]
        table.add_row(
            row["tenant_id"],
            _points(row["health_score"]),
            light(row["health_status"]),
            str(risk["score"]),
            light(risk["level"]),
            "\n".join(row["why"]),
        )
    out.print(table)


@customers_app.command("usage")
def usage(
    tenant_id: TenantIdOption,
    period: Annotated[str, typer.Option("--period", help='How far back: "30 days", "2 weeks", 7d.')] = "30 days",
    step: Annotated[
        str | None, typer.Option("--step", help="Time between points (default 1h, or 1d over 2 days).")
    ] = None,
    output: TableOrJsonOption = TableOrJson.table,
    db: DbOption = None,
) -> None:
    """One tenant's requests, 5xx errors and p95 latency over the period, its tier and its subscriptions."""
    from healthdeck.catalog.durations import format_duration

    since = format_duration(period_length(period))
    answer = on_store(db, partial(usage_of, tenant=tenant_id, since=since, step=step))
    if output is TableOrJson.json:
        print_json(answer)
        return
    totals = answer["totals"]
    title = (
        f"{answer['tenant_id']} ({answer['tier']}) since {answer['since'][:16]} UTC: {totals['requests']:,} requests, "
        f"{totals['errors']:,} 5xx ({_points(totals['error_rate_pct'])}%), p95 {_points(totals['p95_latency_ms'])} ms"
    )
    table = Table("from", "requests", "5xx", "p95 ms", title=title, title_justify="left")
    for point in answer["points"]:
        table.add_row(
            point["at"][:16], f"{point['requests']:,}", f"{point['errors']:,}", _points(point["p95_latency_ms"])
        )
    out.print(table)
    if answer["raw_expired_before"]:
        out.print(
            f"raw requests before {answer['raw_expired_before'][:16]} UTC were expired: requests and 5xx there "
            "come from the per-minute rollups; their p95 and individual requests are no longer kept",
            markup=False,
        )
    subscriptions = Table(
        "subscription", "plan", "tier", "interval", "amount", "status", "since", title="subscriptions"
    )
    for sub in answer["subscriptions"]:
        amount = f"{sub['amount']:,.2f} {sub['currency']}"
        subscriptions.add_row(
            sub["subscription_id"], sub["plan"], sub["tier"], sub["interval"], amount, sub["status"], sub["since"][:10]
        )
    out.print(subscriptions)


def usage_of(store: Store, *, tenant: str, since: str, step: str | None) -> dict[str, Any]:
    """`GET /v1/customers/{tenant}/usage`'s answer, its refusals told as the command's options."""
    from healthdeck.api.errors import ApiError
    from healthdeck.api.usage import tenant_usage

    try:
        return tenant_usage(store, tenant=tenant, since=since, step=step)
    except ApiError as exc:
        if exc.status == 404:
            raise unknown_tenant(tenant) from exc
        raise HealthdeckError(f"--{exc.message}") from exc


@customers_app.command("churn-analysis")
def churn_analysis(
    period: Annotated[
        str, typer.Option("--period", help='The period: "90 days", "last month", "this month", 2026-11-01.')
    ] = "90 days",
    at: AtOption = "now",
    output: TableOrJsonOption = TableOrJson.table,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """Tenants that churned in the period, their churn-risk indicators just before, and the churn rate by tier."""
    from healthdeck.engine.churn_analysis import churn_analysis_json

    start, end = parse_period(period, now=evaluation_time(at), label="--period")
    with engine(db, catalog) as hd:
        answer = churn_analysis_json(hd.churn_analysis(start=start, end=end))
    if output is TableOrJson.json:
        print_json(answer)
        return
    out.print(churn_summary_table(answer))
    table = Table("tenant", "tier", "churned", "health", "churn risk", "level", "indicators before churning")
    table.title, table.title_justify = "churned tenants", "left"
    for row in answer["tenants"]:
        risk = row["churn_risk"]
        facts = "; ".join(f"{i['fact']} (+{i['points']})" for i in risk["indicators"]) or "none"
        table.add_row(
            f"{row['name']} ({row['tenant_id']})",
            row["tier"],
            row["churned_at"][:16],
            _points(row["health_score"]),
            str(risk["score"]),
            light(risk["level"]),
            facts,
        )
    out.print(table)


def churn_summary_table(answer: dict[str, Any]) -> Table:
    rate = answer["churn_rate_pct"]
    title = (
        f"{answer['start'][:16]} → {answer['end'][:16]} UTC: {answer['churned']} churned, "
        f"churn rate {'—' if rate is None else f'{rate:.1f}%'} of {answer['paying_at_start']} paying at the start; "
        f"{answer['flagged_before_churn']} were at MEDIUM or HIGH churn risk just before"
    )
    table = Table("tier", "paying at start", "churned", "churn rate %", title=title, title_justify="left")
    for tier in answer["by_tier"]:
        table.add_row(tier["tier"], str(tier["paying_at_start"]), str(tier["churned"]), _points(tier["churn_rate_pct"]))
    return table


@customers_app.command("enterprise-status")
def enterprise_status(
    period: Annotated[str, typer.Option("--period", help='The SLA period: "30 days", "last month".')] = "30 days",
    at: AtOption = "now",
    output: TableOrJsonOption = TableOrJson.table,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """Enterprise tenants: health, churn risk, open tickets, and 99.9% uptime SLA breaches over the period."""
    from healthdeck.engine.enterprise import enterprise_json

    start, end = parse_period(period, now=evaluation_time(at), label="--period")
    with engine(db, catalog) as hd:
        answer = enterprise_json(hd.enterprise_status(start=start, end=end), start=start, end=end)
    if output is TableOrJson.json:
        print_json(answer)
        return
    title = f"Enterprise tenants, {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC (SLA: 99.9% uptime per 24 h)"
    table = Table(
        "tenant",
        "health",
        "status",
        "churn risk",
        "open tickets",
        "uptime %",
        "SLA breaches",
        "worst 24 h",
        title=title,
    )
    table.title_justify = "left"
    for row in answer["tenants"]:
        worst = min(row["breaches"], key=lambda b: b["uptime_pct"], default=None)
        table.add_row(
            f"{row['name']} ({row['tenant_id']})",
            _points(row["health_score"]),
            light(row["health_status"]),
            light(row["churn_risk"]["level"]),
            str(row["open_tickets"]),
            "—" if row["uptime_pct"] is None else f"{row['uptime_pct']:.3f}",
            str(row["sla_breaches"]),
            "" if worst is None else f"{worst['uptime_pct']:.3f}% from {worst['start'][:16]}",
        )
    out.print(table)

"""The `healthdeck` command: subcommands grouped by the user's job."""

from __future__ import annotations

import atexit
import gc
import sys

import typer
from rich.markup import escape

from healthdeck import __version__
from healthdeck.cli.business_cmd import business_app
from healthdeck.cli.catalog_cmd import catalog_app
from healthdeck.cli.console import err
from healthdeck.cli.customers_cmd import customers_app
from healthdeck.cli.demo_cmd import demo
from healthdeck.cli.health_cmd import health
from healthdeck.cli.history_cmd import history_app
from healthdeck.cli.ingest_cmd import ingest
from healthdeck.cli.metrics_cmd import metrics_app
from healthdeck.cli.serve_cmd import serve
from healthdeck.cli.simulate_cmd import simulate
from healthdeck.cli.status_cmd import status
from healthdeck.cli.store_cmd import sql, store_app
from healthdeck.cli.tokens_cmd import tokens_app
from healthdeck.errors import HealthdeckError

# At exit, Python's last garbage collections walk every object the run created, tens of thousands
# of them from start-up alone (modules, types, functions), only to free memory the exit returns
# anyway: freezing them first skips that walk, about 40 ms of a short command.
atexit.register(gc.freeze)

app = typer.Typer(
    name="healthdeck",
    help="Is the product healthy, and if not, where, for whom, and what next?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(demo)
app.command()(health)
app.command()(ingest)
app.command()(serve)
app.command()(simulate)
app.command()(status)
app.command()(sql)
app.add_typer(store_app, name="store")
app.add_typer(metrics_app, name="metrics")
app.add_typer(catalog_app, name="catalog")
app.add_typer(tokens_app, name="tokens")
app.add_typer(history_app, name="history")
app.add_typer(customers_app, name="customers")
app.add_typer(business_app, name="business")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"healthdeck {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """healthdeck: product health for multi-tenant SaaS."""


def main() -> None:
    """Entry point: user errors print one clear line, never a traceback."""
    try:
        app()
    except HealthdeckError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(exc.exit_code)

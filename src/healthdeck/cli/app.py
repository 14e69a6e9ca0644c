"""The `healthdeck` command: subcommands grouped by the user's job."""

from __future__ import annotations

import atexit
import gc
import importlib
import sys
from typing import Any

import typer

from healthdeck import __version__
from healthdeck.errors import HealthdeckError

# At exit, Python's last garbage collections walk every object the run created, tens of thousands
# of them from start-up alone (modules, types, functions), only to free memory the exit returns
# anyway: freezing them first skips that walk, about 40 ms of a short command.
atexit.register(gc.freeze)

# Every command by name, in the order `--help` lists them: (its module, the command function).
COMMANDS = {
    "demo": ("healthdeck.cli.demo_cmd", "demo"),
    "health": ("healthdeck.cli.health_cmd", "health"),
    "ingest": ("healthdeck.cli.ingest_cmd", "ingest"),
    "serve": ("healthdeck.cli.serve_cmd", "serve"),
    "simulate": ("healthdeck.cli.simulate_cmd", "simulate"),
    "status": ("healthdeck.cli.status_cmd", "status"),
    "sql": ("healthdeck.cli.store_cmd", "sql"),
}
# Every group of subcommands by name: (its module, its Typer app).
GROUPS = {
    "store": ("healthdeck.cli.store_cmd", "store_app"),
    "metrics": ("healthdeck.cli.metrics_cmd", "metrics_app"),
    "catalog": ("healthdeck.cli.catalog_cmd", "catalog_app"),
    "tokens": ("healthdeck.cli.tokens_cmd", "tokens_app"),
    "history": ("healthdeck.cli.history_cmd", "history_app"),
    "customers": ("healthdeck.cli.customers_cmd", "customers_app"),
    "business": ("healthdeck.cli.business_cmd", "business_app"),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"healthdeck {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """healthdeck: product health for multi-tenant SaaS."""


def _loaded(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def build_app(only: str | None = None) -> typer.Typer:
    """The `healthdeck` command with every subcommand, or with only the one named `only`.

    A run needs only the command it invokes: importing every command module and building every
    command's options (Typer makes a validator per option) cost a `health` run about 0.04 s of CPU.
    """
    cli = typer.Typer(
        name="healthdeck",
        help="Is the product healthy, and if not, where, for whom, and what next?",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    cli.callback()(_root)
    for name, (module, function) in COMMANDS.items():
        if only in (None, name):
            cli.command()(_loaded(module, function))
    for name, (module, group) in GROUPS.items():
        if only in (None, name):
            cli.add_typer(_loaded(module, group), name=name)
    return cli


def invoked(args: list[str]) -> str | None:
    """The command or group the arguments invoke, if it is one of ours (else None: the whole app decides).

    The root takes no option but --version and --help, which end the run: its first other argument
    is the command.
    """
    first = next((arg for arg in args if not arg.startswith("-")), None)
    return first if first in COMMANDS or first in GROUPS else None


def __getattr__(name: str) -> Any:
    """`app`: the whole command (its documentation and tests walk every command)."""
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point: user errors print one clear line, never a traceback."""
    try:
        build_app(only=invoked(sys.argv[1:]))()
    except HealthdeckError as exc:
        from rich.markup import escape  # Rich loads only when there is something to show with it

        from healthdeck.cli.console import err

        err.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except RuntimeError as exc:  # Ctrl-C while DuckDB runs a query reaches Python as this error
        if str(exc) != "Query interrupted":
            raise
        _interrupted()


def _interrupted() -> None:
    """Ctrl-C: exit as an interrupted command does (128 + SIGINT), without a traceback."""
    sys.stderr.write("interrupted\n")
    sys.exit(130)

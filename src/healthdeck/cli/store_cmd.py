"""`healthdeck store` and `healthdeck sql`: look inside the store."""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from healthdeck.cli.console import out, print_json
from healthdeck.cli.options import DbOption, Output
from healthdeck.cli.remote import on_store
from healthdeck.errors import HealthdeckError
from healthdeck.store.schema import KINDS

if TYPE_CHECKING:
    from healthdeck.store.connection import Store

# `sql` stops a query after this long unless told otherwise (a runaway cross join holds the store).
SQL_TIMEOUT_S = 60.0

store_app = typer.Typer(help="Inspect the event store.", no_args_is_help=True)


@store_app.command("info")
def info(
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
) -> None:
    """Where the store is, its schema version, and how many records each table holds."""
    from healthdeck.store.connection import resolve_db_path  # DuckDB loads only when a command runs

    version, counts = on_store(db, _version_and_counts)
    summary = {"path": str(resolve_db_path(db)), "schema_version": version, "tables": counts}
    if output is Output.json:
        print_json(summary)
        return
    out.print(f"store {summary['path']} (schema version {summary['schema_version']})")
    table = Table("table", "records")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)


def _version_and_counts(store: Store) -> tuple[int, dict[str, int]]:
    return _schema_version(store), {name: store.count(name) for name in KINDS}


def _schema_version(store: Store) -> int:
    from healthdeck.store.migrations import read_version

    return read_version(store.con)


@store_app.command("upgrade")
def upgrade(db: DbOption = None) -> None:
    """Bring a store written by an older healthdeck up to this version's schema (read commands need it)."""
    from healthdeck.store.connection import resolve_db_path

    # A writable open upgrades the store; a running server upgraded it when it opened it.
    version = on_store(db, _schema_version, write=True)
    out.print(f"store {resolve_db_path(db)} is at schema version {version}", markup=False)


QUERY_HELP = (
    "One SELECT over the store's tables and views; - reads it from standard input. "
    "A query that starts with -- goes after a lone --, or in --file."
)


def sql(
    query: Annotated[str | None, typer.Argument(help=QUERY_HELP, show_default=False)] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the query from this file.", show_default=False)
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.001, help="Stop the query after this many seconds.")
    ] = SQL_TIMEOUT_S,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
) -> None:
    """Run your own SQL (DuckDB dialect) on the store: one read-only SELECT, no files, no network."""
    from healthdeck.store.query import json_value, run_query  # DuckDB loads only when a command runs

    text = _query_text(query, file)
    # Through a server, on one of its read cursors: the same one-SELECT check and time limit.
    result = on_store(db, partial(run_query, text=text, timeout=timeout))
    if output is Output.json:
        rows = [dict(zip(result.columns, map(json_value, row), strict=True)) for row in result.rows]
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        return
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    out.print(table)


def _query_text(query: str | None, file: Path | None) -> str:
    if query is not None and file is not None:
        raise HealthdeckError("give the query either as an argument or with --file, not both")
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise HealthdeckError(f"cannot read the query from --file {file}: {exc}") from exc
    if query == "-":
        return sys.stdin.read()
    if query is None:
        raise HealthdeckError('no query: write `healthdeck sql "SELECT …"`, `--file q.sql`, or `-` for standard input')
    return query


def _cell(value: Any) -> str:
    return "" if value is None else str(value)

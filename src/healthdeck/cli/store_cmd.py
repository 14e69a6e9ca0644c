"""`healthdeck store` and `healthdeck sql`: look inside the store."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from healthdeck.cli.console import out, print_json
from healthdeck.cli.options import DbOption, Output
from healthdeck.errors import HealthdeckError
from healthdeck.store.schema import KINDS

store_app = typer.Typer(help="Inspect the event store.", no_args_is_help=True)


@store_app.command("info")
def info(
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
) -> None:
    """Where the store is, its schema version, and how many records each table holds."""
    from healthdeck.store.connection import open_store  # DuckDB loads only when a command runs
    from healthdeck.store.migrations import read_version

    with open_store(db, read_only=True) as store:
        counts = {name: store.count(name) for name in KINDS}
        summary = {"path": str(store.path), "schema_version": read_version(store.con), "tables": counts}
    if output is Output.json:
        print_json(summary)
        return
    out.print(f"store {summary['path']} (schema version {summary['schema_version']})")
    table = Table("table", "records")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)


def sql(
    query: Annotated[str, typer.Argument(help="A read-only SQL query over the store's tables and views.")],
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
) -> None:
    """Run your own SQL (DuckDB dialect) against the store, read-only."""
    import duckdb

    from healthdeck.store.connection import open_store

    with open_store(db, read_only=True) as store:
        try:
            cursor = store.con.execute(query)
        except duckdb.Error as exc:
            raise HealthdeckError(f"the query failed: {exc}") from exc
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    if output is Output.json:
        print_json([dict(zip(columns, row, strict=True)) for row in rows])
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    out.print(table)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)

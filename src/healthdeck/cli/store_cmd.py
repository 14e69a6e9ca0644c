"""`healthdeck store` and `healthdeck sql`: look inside the store."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from healthdeck.cli.console import out, print_json
from healthdeck.cli.options import DbOption, Output
from healthdeck.errors import HealthdeckError
from healthdeck.store.schema import KINDS

# `sql` stops a query after this long unless told otherwise (a runaway cross join holds the store).
SQL_TIMEOUT_S = 60.0

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


@store_app.command("upgrade")
def upgrade(db: DbOption = None) -> None:
    """Bring a store written by an older healthdeck up to this version's schema (read commands need it)."""
    from healthdeck.store.connection import open_store
    from healthdeck.store.migrations import SCHEMA_VERSION

    with open_store(db) as store:
        out.print(f"store {store.path} is at schema version {SCHEMA_VERSION}", markup=False)


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
    from healthdeck.store.connection import open_store  # DuckDB loads only when a command runs
    from healthdeck.store.query import run_query

    text = _query_text(query, file)
    with open_store(db, read_only=True) as store:
        result = run_query(store, text, timeout=timeout)
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


def json_value(value: Any) -> Any:
    """A DuckDB value as JSON: exact integers (HUGEINT too), ISO 8601 times, base64 blobs."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON has no NaN or infinity
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def _iso_duration(value: dt.timedelta) -> str:
    """An INTERVAL as ISO 8601, e.g. P1DT2H3M4.5S (DuckDB hands months over as 30 days)."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    second_text = f"{seconds + value.microseconds / 1e6:g}"
    return f"{sign}P{value.days}DT{hours}H{minutes}M{second_text}S"


def _cell(value: Any) -> str:
    return "" if value is None else str(value)

"""`healthdeck store` and `healthdeck sql`: look inside the store."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from healthdeck.cli.console import out, print_json
from healthdeck.cli.options import DbOption, Output
from healthdeck.cli.remote import each_on_store, on_store
from healthdeck.errors import HealthdeckError
from healthdeck.store.schema import KINDS

if TYPE_CHECKING:
    from healthdeck.store.connection import Store
    from healthdeck.store.retention import Retention, TableExpiry

# `sql` stops a query after this long unless told otherwise (a runaway cross join holds the store).
SQL_TIMEOUT_S = 60.0

store_app = typer.Typer(help="Inspect the event store.", no_args_is_help=True)


@store_app.command("info")
def info(
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
) -> None:
    """Where the store is, its schema version, its retention, and how many records each table holds."""
    from healthdeck.store.connection import resolve_db_path  # DuckDB loads only when a command runs

    version, counts, retention = on_store(db, _version_counts_and_retention)
    summary = {
        "path": str(resolve_db_path(db)),
        "schema_version": version,
        "tables": counts,
        "retention": retention.as_json(),
    }
    if output is Output.json:
        print_json(summary)
        return
    out.print(f"store {summary['path']} (schema version {summary['schema_version']})")
    _print_retention(retention)
    table = Table("table", "records")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)


def _version_counts_and_retention(store: Store) -> tuple[int, dict[str, int], Retention]:
    from healthdeck.store.retention import read_retention

    return _schema_version(store), {name: store.count(name) for name in KINDS}, read_retention(store)


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


RawOption = Annotated[
    str | None,
    typer.Option(
        "--raw", help="Keep raw events this long, e.g. 90d; keep: for ever (the default).", show_default=False
    ),
]
RollupsOption = Annotated[
    str | None,
    typer.Option(
        "--rollups",
        help="Keep the per-minute rollups this long, e.g. 2y (at least --raw); keep: for ever (the default).",
        show_default=False,
    ),
]


@store_app.command("retention")
def retention(
    raw: RawOption = None,
    rollups: RollupsOption = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
) -> None:
    """Show, or set, how long the store keeps raw events and rollups (`store expire` and `serve` apply it)."""
    from healthdeck.store.retention import parse_retention, read_retention, write_retention

    given = {"raw": raw, "rollups": rollups}
    changes = {name: parse_retention(f"--{name}", text) for name, text in given.items() if text is not None}
    if changes:
        kept = on_store(db, partial(write_retention, changes=changes), write=True)
    else:
        kept = on_store(db, read_retention)
    if output is Output.json:
        print_json(kept.as_json())
        return
    _print_retention(kept)


def _print_retention(kept: Retention) -> None:
    from healthdeck.store.retention import EXPIRING, RAW

    raw_tables = ", ".join(spec.table for spec in EXPIRING if spec.setting == RAW)
    shown = {name: value or "kept for ever" for name, value in kept.as_json().items()}
    out.print(f"retention: raw events ({raw_tables}) {shown['raw']}; rollups {shown['rollups']}", markup=False)
    out.print(
        "  never expired: tenants, users, tickets, jobs, incidents (state), subscriptions, payments, spend; "
        "evaluation history: `serve --history-retention`",
        markup=False,
    )


@store_app.command("expire")
def expire(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")] = False,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
) -> None:
    """Delete the raw events and rollups older than the store's retention, one day of one table at a time."""
    from healthdeck.store.retention import delete_chunk, expired, plan_expiry

    plan = on_store(db, partial(plan_expiry, now=datetime.now(UTC)))
    tables = plan.tables
    if not dry_run and plan.chunks:
        deletes = [partial(delete_chunk, chunk=chunk) for chunk in plan.chunks]
        tables = expired(plan, each_on_store(db, deletes, write=True))
    if output is Output.json:
        print_json({"dry_run": dry_run, "tables": [t.as_json() for t in tables]})
        return
    _print_expiry(tables, dry_run=dry_run)


def _print_expiry(tables: list[TableExpiry], *, dry_run: bool) -> None:
    if not tables:
        out.print("nothing expires: no retention is set (e.g. healthdeck store retention --raw 90d --rollups 2y)")
        return
    verb = "would delete" if dry_run else "deleted"
    table = Table("table", "kept for", "older than", verb)
    for t in tables:
        table.add_row(t.table, t.kept_for, t.cutoff.isoformat(timespec="seconds"), f"{t.expired:,}")
    out.print(table)


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

"""`healthdeck ingest`: load JSON Lines, CSV and Parquet files into the store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from healthdeck.cli.console import err, out, print_json
from healthdeck.cli.options import DbOption, EngineOption, Output
from healthdeck.cli.progress import progress_bar
from healthdeck.errors import HealthdeckError
from healthdeck.store.schema import KINDS

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.progress import Progress

    from healthdeck.engines.url import EngineUrl
    from healthdeck.store.ingest import IngestReport

KIND_HELP = f'Kind of every record: {", ".join(KINDS)}. Default: each record\'s "kind" field.'


def ingest(
    files: Annotated[
        list[str], typer.Argument(help="Files to read (.jsonl/.ndjson/.json, .csv, .parquet; - for stdin).")
    ],
    kind: Annotated[
        str | None,
        typer.Option("--kind", help=KIND_HELP),
    ] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text, or json for scripts.")] = Output.text,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Where to write rejected records (default: beside the store).")
    ] = None,
    batch_rows: Annotated[
        int | None,
        typer.Option("--batch-rows", min=1, help="Records per transaction, 500,000 by default; bounds memory use."),
    ] = None,
    db: DbOption = None,
    engine_url: EngineOption = None,
) -> None:
    """Validate records and add the new ones to the store; exit 1 when any were rejected."""
    from healthdeck.cli.remote import find_server, ingest_through
    from healthdeck.engines.url import resolve_engine
    from healthdeck.store.connection import open_store, resolve_db_path  # DuckDB and PyArrow: only when run
    from healthdeck.store.ingest import BATCH_ROWS, ingest_files

    batch_rows = batch_rows or BATCH_ROWS
    _check_rejects_path(rejects)
    url = resolve_engine(engine_url)
    db = Path(url.target) if url is not None and url.kind == "duckdb" else db
    server = None if url is not None and url.kind != "duckdb" else find_server(db)
    if url is not None and url.kind != "duckdb":
        report = _ingest_into_engine(url, files, kind=kind, rejects=rejects, batch_rows=batch_rows)
    elif server is not None:  # the server holds the store: it ingests, with the same function
        shown_db = resolve_db_path(db)
        report = ingest_through(server, files, kind=kind, rejects=rejects, batch_rows=batch_rows, shown_db=shown_db)
    else:
        total = sum(os.path.getsize(f) for f in files if f != "-" and os.path.exists(f))
        with open_store(db, create=True) as store, progress_bar("ingesting", total or None, speeds=True) as bar:
            advance = _advancer(bar) if bar else None
            report = ingest_files(
                store, files, kind=kind, rejects_path=rejects, batch_rows=batch_rows, progress=advance
            )
    if output is Output.json:
        print_json({k: v for k, v in report.as_json().items() if k != "by_kind"})
    else:
        _print_report(report)
    if report.rejected:
        raise typer.Exit(1)


def _ingest_into_engine(
    url: EngineUrl, files: list[str], *, kind: str | None, rejects: Path | None, batch_rows: int
) -> IngestReport:
    """Validate in an in-memory DuckDB, store in PostgreSQL or ClickHouse (engines/ingest.py)."""
    from healthdeck.engines.ingest import StagingStore
    from healthdeck.engines.store import open_engine_store
    from healthdeck.store.ingest import ingest_files

    total = sum(os.path.getsize(f) for f in files if f != "-" and os.path.exists(f))
    target = open_engine_store(url, create=True, read_only=False)
    with (
        StagingStore(target, Path(".healthdeck")) as store,
        progress_bar("ingesting", total or None, speeds=True) as bar,
    ):
        advance = _advancer(bar) if bar else None
        return ingest_files(store, files, kind=kind, rejects_path=rejects, batch_rows=batch_rows, progress=advance)


def _advancer(bar: Progress) -> Callable[[int, int], None]:
    """Moves the bar by the bytes read and counts the records, for its bytes/s and records/s."""
    task = bar.task_ids[0]

    def advance(size: int, records: int) -> None:
        bar.update(task, advance=size, records=bar.tasks[0].fields.get("records", 0) + records)

    return advance


def _check_rejects_path(rejects: Path | None) -> None:
    # Checked before any batch is stored: the rejects file is only opened at the first reject.
    if rejects is not None and rejects.is_dir():
        raise HealthdeckError(
            f"--rejects {rejects} is a directory; give the file to write rejects to, e.g. {rejects / 'rejects.jsonl'}"
        )


def _print_report(report: IngestReport) -> None:
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(report.by_kind.items()) if n)
    out.print(
        f"accepted {report.accepted:,}"
        + (f" ({kinds})" if kinds else "")
        + f", duplicates {report.duplicates:,}, rejected {report.rejected:,}"
    )
    for reject in report.first_rejects:
        err.print(f"[red]rejected[/] {escape(reject.describe())}")
    if report.rejected > len(report.first_rejects):
        err.print(f"… and {report.rejected - len(report.first_rejects):,} more")
    if report.rejects_file:
        err.print(f"rejected records written to {report.rejects_file}")

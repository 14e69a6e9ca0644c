"""`healthdeck serve`: one process owns the store, ingests over HTTP and answers the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from healthdeck.catalog.durations import parse_duration
from healthdeck.cli.console import err
from healthdeck.cli.options import CatalogOption, DbOption
from healthdeck.errors import HealthdeckError


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8787,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="No tokens: anyone who reaches the port may do anything (local demos).")
    ] = False,
    max_body_mb: Annotated[
        int, typer.Option("--max-body-mb", min=1, help="Largest ingest body, in MiB after decompression.")
    ] = 64,
    ingest_queue: Annotated[
        int, typer.Option("--ingest-queue", min=1, help="Ingest batches admitted at once; more get 429.")
    ] = 16,
    evaluate_every: Annotated[
        str,
        typer.Option("--evaluate-every", help="Evaluate the scored KPIs and keep the result this often; off: never."),
    ] = "1m",
    history_retention: Annotated[
        str, typer.Option("--history-retention", help="Keep evaluations this long, e.g. 30d.")
    ] = "30d",
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """Serve the store over HTTP: ingest, health, KPIs, Prometheus metrics (the only writer while it runs)."""
    # The web stack is imported here so that every other command starts without it.
    from healthdeck.api.server import serve as run
    from healthdeck.api.settings import ServeSettings

    settings = ServeSettings(
        host=host,
        port=port,
        auth=not no_auth,
        max_body_bytes=max_body_mb << 20,
        ingest_queue=ingest_queue,
        catalog_files=catalog or [],
        evaluate_every=None if evaluate_every == "off" else _duration("--evaluate-every", evaluate_every),
        history_retention=_duration("--history-retention", history_retention),
    )
    run(db, settings, announce=lambda line: err.print(line, markup=False))


def _duration(option: str, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise HealthdeckError(f"{option}: {exc}") from exc

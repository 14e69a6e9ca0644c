"""`healthdeck serve`: one process owns the store, ingests over HTTP and answers the API."""

from __future__ import annotations

from typing import Annotated

import typer

from healthdeck.cli.console import err
from healthdeck.cli.options import CatalogOption, DbOption


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
    )
    run(db, settings, announce=lambda line: err.print(line, markup=False))

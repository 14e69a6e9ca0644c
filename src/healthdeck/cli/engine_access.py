"""Opening the store and the catalog for the engine's commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from healthdeck.engine.session import Engine


@contextmanager
def engine(db: Path | None, catalog: list[Path] | None, engine_url: str | None = None) -> Iterator[Engine]:
    """An engine over the store (read-only) and the catalog plus the user's files.

    While a server holds the store, the engine's methods run inside it (cli/remote.py). With
    `--engine` (or $HEALTHDECK_ENGINE_URL) naming PostgreSQL or ClickHouse, the store is there.
    """
    from healthdeck.cli.remote import RemoteEngine, find_server
    from healthdeck.engine.session import Engine, load_checked_catalog  # Ibis and DuckDB: only when used
    from healthdeck.engines.url import resolve_engine
    from healthdeck.store.connection import open_store

    checked = load_checked_catalog(catalog or [])
    url = resolve_engine(engine_url)
    if url is not None and url.kind != "duckdb":
        from healthdeck.engines.store import open_engine_store

        with open_engine_store(url) as target:
            hd = Engine(target, checked)
            try:
                yield hd
            finally:
                hd.save_compiled()
        return
    db = Path(url.target) if url is not None else db
    server = find_server(db)
    if server is not None:
        yield cast(Engine, RemoteEngine(server, checked))  # the same methods, answering the same objects
        return
    with open_store(db, read_only=True) as store:
        hd = Engine(store, checked)
        try:
            yield hd
        finally:
            hd.save_compiled()

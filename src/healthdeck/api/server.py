"""Running the API: open the store once, serve until SIGTERM or Ctrl-C, then drain and checkpoint."""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from healthdeck.api.app import create_app
from healthdeck.api.owner import StoreOwner
from healthdeck.api.settings import SHUTDOWN_GRACE_SECONDS, ServeSettings
from healthdeck.engine.session import load_checked_catalog
from healthdeck.store.connection import open_store


def serve(db: Path | None, settings: ServeSettings, *, announce: Callable[[str], None]) -> None:
    """Serve the store at `db` (the one writer) until stopped; `announce(text)` prints start-up lines."""
    settings.check()
    catalog = load_checked_catalog(settings.catalog_files)
    owner = StoreOwner(open_store(db), catalog)
    try:
        with tempfile.TemporaryDirectory(prefix="healthdeck-serve-") as spool:
            app = create_app(owner, settings, spool_dir=Path(spool))
            config = uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
            )
            for line in start_lines(owner, settings):
                announce(line)
            # uvicorn stops accepting on SIGTERM/SIGINT and returns once every request in flight has been answered.
            _Server(config).run()
    finally:
        owner.close()


class _Server(uvicorn.Server):
    """uvicorn's server, except that a stopping signal ends `run()` normally.

    uvicorn re-raises SIGTERM after its graceful shutdown, which would kill the process
    before the store is checkpointed and closed; here the caller gets control back.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def start_lines(owner: StoreOwner, settings: ServeSettings) -> list[str]:
    """What the server says on start: where it serves which store, and whether anyone may do anything."""
    url = f"http://{settings.host}:{settings.port}"
    lines = [f"healthdeck serves {owner.store.path} on {url} (API docs at {url}/docs); Ctrl-C stops it"]
    if not settings.auth:
        lines.append(
            "warning: --no-auth: no token is checked; anyone on this machine may read, ingest and manage tokens"
        )
    return lines

"""Running the API: open the store once, serve until SIGTERM or Ctrl-C, then drain and checkpoint."""

from __future__ import annotations

import signal
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

from healthdeck.api.app import create_app
from healthdeck.api.local import Address, new_address, remove_address, write_address
from healthdeck.api.owner import StoreOwner
from healthdeck.api.routes import local
from healthdeck.api.settings import SHUTDOWN_GRACE_SECONDS, ServeSettings
from healthdeck.engine.session import load_checked_catalog
from healthdeck.errors import HealthdeckError
from healthdeck.store.connection import open_store

if TYPE_CHECKING:
    from healthdeck.api.demo_feed import DemoFeed  # the simulator loads only for --demo


def serve(
    db: Path | None, settings: ServeSettings, *, announce: Callable[[str], None], demo: DemoFeed | None = None
) -> None:
    """Serve the store at `db` (the one writer) until stopped; `announce(text)` prints start-up lines.

    With `demo`, its live feed starts once the server listens and stops before the store is released.
    """
    settings.check()
    catalog = load_checked_catalog(settings.catalog_files)
    with ExitStack() as stack:
        spool = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="healthdeck-serve-")))
        owner = StoreOwner(open_store(db, create=True), catalog)  # it ingests, like `healthdeck ingest`
        stack.callback(owner.close)  # before the spool folder goes: queued batches still read their files
        app = create_app(owner, settings, spool_dir=spool)
        address = new_address(owner.store.path, host=settings.host, port=settings.port)
        local.install(app, address)
        # Removed before the store is released: a CLI that finds the file finds the server holding it.
        stack.callback(remove_address, address)
        if demo is not None:
            stack.callback(demo.stop)
        server = _Server(
            _config(app, settings),
            on_start=lambda: _started(announce, owner, settings, address, demo),
            on_stop=partial(_stopping, app.state.live.close, demo),
        )
        try:
            # Returns once every request in flight has been answered, after SIGTERM or Ctrl-C.
            server.run()
        except SystemExit as exc:  # uvicorn exits when it cannot listen, after saying why
            raise HealthdeckError(
                f"cannot listen on {settings.host}:{settings.port} (see above); choose another --port"
            ) from exc


def _config(app: FastAPI, settings: ServeSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, announcing itself once it listens, and returning normally when stopped.

    uvicorn re-raises SIGTERM after its graceful shutdown, which would kill the process
    before the store is checkpointed and closed; here the caller gets control back.
    """

    def __init__(self, config: uvicorn.Config, *, on_start: Callable[[], None], on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_start, self.on_stop = on_start, on_stop

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Live streams never finish by themselves: end them first, or stopping would wait out the grace period.
        self.on_stop()
        await super().shutdown(sockets)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _stopping(close_streams: Callable[[], None], demo: DemoFeed | None) -> None:
    # The demo feed is told first, so it sends nothing more to a server that is closing.
    if demo is not None:
        demo.halt()
    close_streams()


def _started(
    announce: Callable[[str], None],
    owner: StoreOwner,
    settings: ServeSettings,
    address: Address,
    demo: DemoFeed | None,
) -> None:
    # The CLI finds the server from here on: the file is written only once the server answers.
    write_address(address)
    for line in start_lines(owner, settings):
        announce(line)
    if demo is not None:
        demo.start(f"http://{settings.host}:{settings.port}")
        for line in demo.intro:
            announce(line)


def start_lines(owner: StoreOwner, settings: ServeSettings) -> list[str]:
    """What the server says on start: where it serves which store, and whether anyone may do anything."""
    url = f"http://{settings.host}:{settings.port}"
    lines = [f"healthdeck serves {owner.store.path} on {url} (API docs at {url}/docs); Ctrl-C stops it"]
    if not settings.auth:
        lines.append(
            "warning: --no-auth: no token is checked; anyone on this machine may read, ingest and manage tokens"
        )
    return lines

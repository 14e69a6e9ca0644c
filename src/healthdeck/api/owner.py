"""The server's one open store: a single writer thread, and cursors for reads beside it.

DuckDB allows one writing process; inside it, cursors of the same database read
concurrently with the writer and see every committed batch. Ingest and token changes
run on the writer thread, in arrival order; every read gets its own cursor.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from fastapi import Request

from healthdeck.catalog.loader import Catalog
from healthdeck.engine.session import Engine
from healthdeck.store.connection import Store
from healthdeck.store.ingest import warm_recent_ids
from healthdeck.store.recent_ids import RecentIds

T = TypeVar("T")
log = logging.getLogger("healthdeck.serve")


class StoreOwner:
    """Owns the store for the server's lifetime; `close()` drains the writer and checkpoints."""

    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store, self.catalog = store, catalog
        # Its writer commits small batches of recent events all day: their ids are looked for
        # among the hashes of the ids stored around now before the store is read (recent_ids.py).
        store.recent_ids = RecentIds()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthdeck-writer")
        # Read cursors come from this connection, never from the writer's, which is busy in its thread.
        self._cursors = store.con.cursor()
        # The writer's first job, once nothing else uses its connection; a batch arriving meanwhile waits for it.
        self._writer.submit(_warm, store)
        self._cursor_lock = threading.Lock()
        # One evaluation at a time: they share the compiled-SQL cache, and the machine's cores.
        self._evaluation_lock = threading.Lock()

    def submit(self, job: Callable[[Store], object]) -> None:
        """Queue `job` on the writer thread without waiting for it (group_commit.py answers its callers)."""
        self._writer.submit(job, self.store)

    async def write(self, job: Callable[[Store], T]) -> T:
        """Run `job` on the writer thread, after every job submitted before it."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, job, self.store)

    @contextmanager
    def reader(self) -> Iterator[Store]:
        """A read view of the store on its own cursor."""
        with self._cursor_lock:
            con = self._cursors.cursor()
        try:
            yield Store(path=self.store.path, con=con, read_only=True)
        finally:
            con.close()

    @contextmanager
    def engine(self, catalog: Catalog | None = None) -> Iterator[Engine]:
        """The engine over a read view, as the CLI's commands use it (with the server's catalog by default)."""
        with self._evaluation_lock, self.reader() as store:
            hd = Engine(store, catalog or self.catalog)
            try:
                yield hd
            finally:
                hd.save_compiled()

    def close(self) -> None:
        """Finish the writes in flight, checkpoint the store and release it."""
        self._writer.shutdown(wait=True)
        self.store.con.execute("CHECKPOINT")
        self._cursors.close()
        self.store.close()


def _warm(store: Store) -> None:
    """Read the hashes of the ids stored around now; if that fails, each span is read when a batch
    first needs it, as before, and the server goes on."""
    try:
        warm_recent_ids(store)
    except Exception as exc:  # a future nobody reads would drop it silently: said in the log instead
        log.error(
            "reading the ids stored around now failed: %s; they are read when a batch needs them", exc, exc_info=exc
        )


def owner_of(request: Request) -> StoreOwner:
    """The server's store owner, for a route's request."""
    owner: StoreOwner = request.app.state.owner
    return owner

"""Generate ahead: the next tables are built in a thread while the current ones are ingested.

numpy, Arrow and DuckDB all release the GIL for their heavy work, so on two
cores generation mostly hides behind ingest. The queue is bounded, which
bounds memory; output order, and so the store's contents, are unchanged.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import pyarrow as pa

Item = tuple[str, pa.Table]
_DONE = ("", None)


class _Stopped(Exception):
    """The consumer gave up: the producer should stop quietly."""


class Outbox:
    """The producer's end: `add(kind, table)` hands a table over, waiting while the queue is full."""

    def __init__(self, depth: int) -> None:
        self.items: queue.Queue[Item | tuple[str, None]] = queue.Queue(maxsize=depth)
        self.stopped = threading.Event()

    def add(self, name: str, table: pa.Table) -> None:
        self._put((name, table))

    def close(self) -> None:
        """Tell the consumer nothing more is coming."""
        self._put(_DONE)

    def _put(self, item: Item | tuple[str, None]) -> None:
        while not self.stopped.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped


def run_ahead(produce: Callable[[Outbox], None], consume: Callable[[str, pa.Table], None], depth: int = 8) -> None:
    """Call `consume` on every table `produce` adds, in order, with production running ahead in a thread."""
    outbox = Outbox(depth)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            produce(outbox)
        except _Stopped:
            return
        except BaseException as exc:  # re-raised in the caller's thread below
            failures.append(exc)
        try:
            outbox.close()
        except _Stopped:
            return

    thread = threading.Thread(target=work, name="healthdeck-sim-ahead", daemon=True)
    thread.start()
    try:
        while (item := outbox.items.get())[1] is not None:
            consume(item[0], item[1])
    finally:
        outbox.stopped.set()
        thread.join()
    if failures:
        raise failures[0]

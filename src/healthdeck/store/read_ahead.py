"""Read ahead: a thread reads and parses the next block of a file while the caller stores this one.

Parsing (pyarrow, Python) and storing (DuckDB) each release the GIL for most of their work, so on
two cores they overlap instead of taking turns. One block waits ready at most, so memory stays
bounded: the block being stored, the one waiting and the one being read.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
# How long the reader waits to hand over a block before looking whether the caller stopped.
_POLL_S = 0.1
# How long a caller that stops early (an error, Ctrl-C) waits for the reader to finish the block in
# hand and close its file. Not longer: standard input may block forever, and the thread is a daemon
# that stops by itself after that block.
_JOIN_S = 1.0
_DONE = object()


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """The items of `items`, each produced by a thread while the caller works on the one before.

    An exception raised by `items` is raised here, after the items before it. When the caller stops
    early (its own error, or closing this generator), the thread stops after the item in hand and
    closes `items` (so a file it opened is closed).
    """
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(items, handoff, stop), name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = handoff.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join(_JOIN_S)


def _produce(items: Iterator[Any], handoff: queue.Queue[tuple[bool, Any]], stop: threading.Event) -> None:
    try:
        for item in items:
            if not _hand_over(handoff, (True, item), stop):
                return
        _hand_over(handoff, (True, _DONE), stop)
    except BaseException as exc:  # raised again in the caller's thread
        _hand_over(handoff, (False, exc), stop)
    finally:
        if isinstance(items, Generator):
            items.close()


def _hand_over(handoff: queue.Queue[tuple[bool, Any]], entry: tuple[bool, Any], stop: threading.Event) -> bool:
    """Put `entry` in the handoff once there is room; False when the caller stopped first."""
    while not stop.is_set():
        try:
            handoff.put(entry, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False

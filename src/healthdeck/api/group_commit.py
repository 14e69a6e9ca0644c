"""Group commit: the bodies waiting for the writer are stored together, each answered as if alone.

`POST /v1/events` hands its spooled body here. While the writer is busy, bodies wait; when it is
free, it takes every body waiting and stores consecutive ones naming the same kind as one file
(`ingest_bodies`), up to `JOINED_BYTES`. A batch's statements cost nearly as much for 100 records
as for 10,000 (benchmarks/bench_serve_ingest.py --batch 100), so many small bodies no longer each
pay them. Bodies are stored in arrival order; other writer jobs (tokens, simulate) run between two
takings. A body arriving while the writer is idle is stored at once: nothing waits on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from healthdeck.api.ingest import BatchResult, Body, NothingStored, ingest_bodies
from healthdeck.api.owner import StoreOwner
from healthdeck.store.blocks import FIRST_BLOCK_BYTES
from healthdeck.store.connection import Store
from healthdeck.store.ingest import BATCH_ROWS

log = logging.getLogger("healthdeck.serve")
# The most bytes of bodies stored as one file: a text file's first block, so that joined bodies are
# read as one block of lines, and so one batch, as each of them alone (store/blocks.py; ingest.py
# stores a file's first block alone). A larger body is stored alone.
JOINED_BYTES = FIRST_BLOCK_BYTES


@dataclass(frozen=True)
class _Waiting:
    body: Body
    answer: asyncio.Future[BatchResult]
    loop: asyncio.AbstractEventLoop


class GroupCommit:
    """The bodies waiting for the server's writer."""

    def __init__(self, owner: StoreOwner, spool_dir: Path) -> None:
        self.owner, self.spool_dir = owner, spool_dir
        self._waiting: list[_Waiting] = []
        self._lock = threading.Lock()  # the event loop adds, the writer's thread takes
        self._taking = False  # a taking is queued on the writer, or running
        # Bodies stored alone and together with others, for /metrics (read from other threads: ints only).
        self.stored = {"alone": 0, "together": 0}

    async def ingest(self, body: Body) -> BatchResult:
        """Store `body` (with the others waiting, if any); its answer once its records are committed."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[BatchResult] = loop.create_future()
        with self._lock:
            self._waiting.append(_Waiting(body, answer, loop))
            start, self._taking = not self._taking, True
        if start:
            self.owner.submit(self._take)
        return await answer

    def _take(self, store: Store) -> None:
        """On the writer's thread: store every body waiting, then queue another taking if more came
        (whatever happened: a taking that never ends its turn would leave every later body waiting)."""
        taken: list[_Waiting] = []
        try:
            with self._lock:
                taken, self._waiting = self._waiting, []
            for group in _groups(taken):
                self._store(store, group)
        except Exception as exc:  # no caller may wait for ever: those not answered yet get the error
            log.error("storing the waiting bodies failed: %s", exc, exc_info=exc)
            for waiting in taken:
                _resolve(waiting, error=exc)
        finally:
            with self._lock:
                again = self._taking = bool(self._waiting)
            if again:
                self.owner.submit(self._take)

    def _store(self, store: Store, group: list[_Waiting]) -> None:
        try:
            answers = ingest_bodies(store, [waiting.body for waiting in group], spool_dir=self.spool_dir)
        except NothingStored as exc:  # nothing of them stored yet: each body alone, with its own answer
            log.info("%d bodies could not be stored together (%s); storing them one by one", len(group), exc)
            for waiting in group:
                self._store(store, [waiting])
            return
        except Exception as exc:  # each caller gets it
            # Some of their records may be stored: each caller gets the error, and a retry gets those as
            # duplicates, as after a crash (storing them again here would answer them as duplicates).
            for waiting in group:
                _resolve(waiting, error=exc)
            return
        self.stored["together" if len(group) > 1 else "alone"] += len(group)
        for waiting, answer in zip(group, answers, strict=True):
            _resolve(waiting, answer=answer)


def _groups(taken: list[_Waiting], *, max_lines: int = BATCH_ROWS) -> list[list[_Waiting]]:
    """Consecutive bodies naming the same kind, up to JOINED_BYTES and `max_lines` lines together (a
    larger body alone): the joined file is then one batch of each kind, as each body alone would be,
    so no body's records are split between two batches (a repeat across them would be answered
    as a duplicate of a stored record, not of its line)."""
    groups: list[list[_Waiting]] = []
    size = lines = 0
    for waiting in taken:
        body = waiting.body
        last = groups[-1] if groups else None
        fits = size + body.size <= JOINED_BYTES and lines + body.line_count <= max_lines
        if last and last[0].body.kind == body.kind and fits:
            last.append(waiting)
            size, lines = size + body.size, lines + body.line_count
        else:
            groups.append([waiting])
            size, lines = body.size, body.line_count
    return groups


def _resolve(waiting: _Waiting, *, answer: BatchResult | None = None, error: BaseException | None = None) -> None:
    """Hand the answer to the request's event loop (the caller may have gone, or the loop closed)."""

    def settle() -> None:
        if waiting.answer.done():
            return
        if error is not None:
            waiting.answer.set_exception(error)
        else:
            waiting.answer.set_result(answer)  # type: ignore[arg-type]

    with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped, nobody waits
        waiting.loop.call_soon_threadsafe(settle)

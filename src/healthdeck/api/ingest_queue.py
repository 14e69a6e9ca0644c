"""Admission to the single writer: a bounded number of ingest batches, else 429 at once.

A batch holds its place from the first byte received until it is committed, so the
server never holds more than `capacity` bodies and never times a batch out or drops one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from healthdeck.api.errors import ApiError
from healthdeck.api.settings import RETRY_AFTER_SECONDS


class IngestQueue:
    """Counts admitted batches; used only from the event loop's thread, so it needs no lock."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.admitted = capacity, 0

    @asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        if self.admitted >= self.capacity:
            raise ApiError(
                429,
                f"the ingest queue is full ({self.capacity} batches in progress); retry after "
                f"{RETRY_AFTER_SECONDS} s — nothing of this batch was stored",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

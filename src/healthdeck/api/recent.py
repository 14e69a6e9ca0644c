"""A costly answer kept for a few seconds, so a burst of requests costs one evaluation."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class Recent(Generic[T]):
    """The last result of `compute`, computed again once it is older than `max_age` seconds.

    One caller computes; the others answer the previous result meanwhile (only the very first
    computation is waited for), so a burst never queues behind an evaluation.
    """

    def __init__(self, compute: Callable[[], T], *, max_age: float) -> None:
        self.compute, self.max_age = compute, max_age
        self._value: tuple[float, T] | None = None
        self._lock = threading.Lock()  # held by the one caller computing

    def get(self) -> T:
        kept = self._value
        if kept is not None and not self._expired(kept):
            return kept[1]
        if kept is not None and not self._lock.acquire(blocking=False):
            # Another caller is computing the next one: answer the last meanwhile rather than queue.
            return kept[1]
        if kept is None:
            self._lock.acquire()  # nothing to answer yet: wait for the first computation
        try:
            if self._value is None or self._expired(self._value):
                self._value = (time.monotonic(), self.compute())
            return self._value[1]
        finally:
            self._lock.release()

    def latest(self) -> T:
        """The kept result whatever its age; computed only when there is none yet. For readers that
        must not wait for a computation, when something else (a schedule) keeps the result fresh."""
        kept = self._value
        return kept[1] if kept is not None else self.get()

    def _expired(self, kept: tuple[float, T]) -> bool:
        return time.monotonic() - kept[0] > self.max_age

    def get_fresh(self, fresh_enough: Callable[[T], bool]) -> T:
        """The kept result if it is not too old and `fresh_enough(it)`, else a new one. It waits for a
        computation in progress (to reuse it rather than compute twice): for worker threads only."""
        with self._lock:
            if self._value is None or self._expired(self._value) or not fresh_enough(self._value[1]):
                self._value = (time.monotonic(), self.compute())
            return self._value[1]

    def put(self, value: T) -> None:
        """Keep `value`, computed elsewhere just now. Takes no lock: the event loop calls it, and must
        not wait for a computation in progress (which, when it ends, keeps its own fresh result)."""
        self._value = (time.monotonic(), value)


class RecentByKey(Generic[K, T]):
    """A `Recent` answer per key (a tenant, a view and its filters), the `kept` most recently asked."""

    def __init__(self, compute: Callable[[K], T], *, max_age: float, kept: int) -> None:
        self.compute, self.max_age, self.kept = compute, max_age, kept
        self._recent: OrderedDict[K, Recent[T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> T:
        return self.recent(key).get()

    def recent(self, key: K) -> Recent[T]:
        """The key's `Recent`; beyond `kept` keys the least recently asked is dropped (and computed again if asked)."""
        with self._lock:
            recent = self._recent.pop(key, None) or Recent(lambda: self.compute(key), max_age=self.max_age)
            self._recent[key] = recent
            while len(self._recent) > self.kept:
                self._recent.popitem(last=False)
        return recent

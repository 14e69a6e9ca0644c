"""A costly answer kept for a few seconds, so a burst of requests costs one evaluation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Recent(Generic[T]):
    """The last result of `compute`, computed again once it is older than `max_age` seconds."""

    def __init__(self, compute: Callable[[], T], *, max_age: float) -> None:
        self.compute, self.max_age = compute, max_age
        self._value: tuple[float, T] | None = None
        self._lock = threading.Lock()  # concurrent callers wait for one computation rather than repeat it

    def get(self) -> T:
        with self._lock:
            if self._value is None or time.monotonic() - self._value[0] > self.max_age:
                self._value = (time.monotonic(), self.compute())
            return self._value[1]

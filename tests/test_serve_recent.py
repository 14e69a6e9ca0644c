"""The short-lived cache behind `/health`, the dashboard and `/metrics`: one caller computes, the others don't wait."""

from __future__ import annotations

import threading
import time

from healthdeck.api.recent import Recent


def test_while_one_caller_computes_the_others_answer_the_previous_result_at_once() -> None:
    computing, release = threading.Event(), threading.Event()
    results = iter(["first", "second"])

    def compute() -> str:
        value = next(results)
        if value == "second":
            computing.set()
            release.wait(timeout=30)
        return value

    recent = Recent(compute, max_age=0.5)
    assert recent.get() == "first"
    time.sleep(0.6)  # now expired
    refresher = threading.Thread(target=lambda: recent.get())
    refresher.start()
    assert computing.wait(timeout=30)
    started = time.monotonic()
    assert recent.get() == "first"  # not queued behind the computation in progress
    assert time.monotonic() - started < 1
    release.set()
    refresher.join()
    assert recent.get() == "second"  # the new result, once computed


def test_a_value_put_by_the_scheduler_is_served_until_it_expires() -> None:
    recent = Recent(lambda: 0, max_age=60)  # computing would answer 0
    recent.put(42)
    assert recent.get() == 42

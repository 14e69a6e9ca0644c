"""Ingest reads the next block in a thread while it stores the current one (store/read_ahead.py):
items keep their order, the reader's errors arrive after the items before them, and a caller that
stops early stops the reader and closes what it reads."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthdeck.store.read_ahead import read_ahead


def test_items_arrive_in_order_and_a_reader_error_after_the_items_before_it() -> None:
    def blocks() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("unreadable from row 3 on")

    seen = []
    with pytest.raises(ValueError, match="row 3"):
        for item in read_ahead(blocks()):
            seen.append(item)
    assert seen == [1, 2]


def test_the_next_item_is_read_while_the_caller_works_on_this_one() -> None:
    reading_second = threading.Event()

    def blocks() -> Iterator[str]:
        yield "first"
        reading_second.set()
        yield "second"

    ahead = read_ahead(blocks())
    assert next(ahead) == "first"
    # The caller has not asked for the second item: the thread is already reading it.
    assert reading_second.wait(timeout=10)
    assert list(ahead) == ["second"]


def test_a_caller_that_stops_early_stops_the_reader_and_closes_it() -> None:
    closed = threading.Event()
    read = []

    def blocks() -> Iterator[int]:
        try:
            for number in range(1_000):
                read.append(number)
                yield number
        finally:
            closed.set()

    ahead = read_ahead(blocks())
    assert next(ahead) == 0
    ahead.close()
    assert closed.wait(timeout=10)
    assert len(read) <= 3  # the item handed over, the one waiting, the one being read


def test_ctrl_c_while_ingest_waits_for_standard_input_exits_130_without_a_traceback(tmp_path: Path) -> None:
    # The reader thread is blocked reading standard input: the command still stops at once, and
    # wherever the interrupt lands (creating the store, a DuckDB query, the read) no traceback shows.
    store = tmp_path / "store.duckdb"
    command = [sys.executable, "-m", "healthdeck", "ingest", "-", "--kind", "requests", "--db", str(store)]
    process = subprocess.Popen(  # SIGINT handled as in a terminal, not ignored as in a background job
        command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint
    )
    try:
        deadline = time.monotonic() + 60
        while not store.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert time.monotonic() - interrupted < 10
    assert b"Traceback" not in errors


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)

"""`serve --demo`'s live feed: the simulation goes on in real time, through the server's own HTTP ingest.

A thread in the server process wakes every interval, asks the live simulation for the
records of the time that passed since the last batch, and POSTs them to
`/v1/events` with an operator token, like any client. After a pause (the server was
stopped, or the machine slept) it catches up an hour of simulated time per batch. Ids
are deterministic, so a stretch sent twice (a restart resumes from the newest stored
request) is deduplicated, not doubled.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from healthdeck.sim.config import US_PER_HOUR, to_us
from healthdeck.sim.live import LiveSimulation

log = logging.getLogger("healthdeck.serve")
CATCH_UP_US = US_PER_HOUR
# About 10 MB of JSON a request, well under the server's default 64 MiB body limit at any --demo-tenants.
ROWS_PER_POST = 25_000
_POST_TIMEOUT_SECONDS = 60


@dataclass
class DemoFeed:
    """Feeds `live` into the server at `url` every `every_s` seconds, from `cursor_us` on."""

    live: LiveSimulation
    token: str
    every_s: float
    cursor_us: int
    # What the server says once it listens: the demo token and what to try.
    intro: list[str] = field(default_factory=list)
    url: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, url: str) -> None:
        self.url = url
        self._thread = threading.Thread(target=self._run, name="healthdeck-demo-feed", daemon=True)
        self._thread.start()

    def halt(self) -> None:
        """Send nothing more after the batch in flight (the server is stopping); returns at once."""
        self._stop.set()

    def stop(self) -> None:
        """Halt and wait for the feed's thread (the server has answered or refused its last batch by now)."""
        self.halt()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        with tempfile.TemporaryDirectory(prefix="healthdeck-demo-feed-") as folder, duckdb.connect() as con:
            while not self._stop.is_set():
                now_us = to_us(datetime.now(UTC))
                until = min(now_us, self.cursor_us + CATCH_UP_US)
                try:
                    self._send(con, Path(folder), self.live.slice(self.cursor_us, until))
                    self.cursor_us = until
                except Exception as exc:  # the server is stopping, or busy: the same stretch goes again
                    if self._stop.is_set():
                        return
                    log.warning("demo feed: %s; retrying", exc)
                if until >= now_us:
                    self._stop.wait(self.every_s)

    def _send(self, con: duckdb.DuckDBPyConnection, folder: Path, tables: dict[str, pa.Table]) -> None:
        for kind, table in tables.items():
            for offset in range(0, table.num_rows, ROWS_PER_POST):
                body = _json_lines(con, folder / f"{kind}.jsonl", table.slice(offset, ROWS_PER_POST))
                self._post(kind, body)

    def _post(self, kind: str, body: bytes) -> None:
        request = urllib.request.Request(
            f"{self.url}/v1/events?kind={kind}",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/x-ndjson"},
        )
        while True:
            try:
                with urllib.request.urlopen(request, timeout=_POST_TIMEOUT_SECONDS) as answer:
                    report = json.load(answer)
                break
            except urllib.error.HTTPError as exc:
                if exc.code != 429 or self._stop.is_set():
                    raise
                time.sleep(float(exc.headers.get("Retry-After", 1)))
        if report.get("rejected"):
            log.warning("demo feed: the server rejected %s %s records: %s", report["rejected"], kind, report["rejects"])


def _json_lines(con: duckdb.DuckDBPyConnection, path: Path, table: pa.Table) -> bytes:
    """The table as JSON Lines, written by DuckDB (no per-row Python, even for an hour of catch-up)."""
    con.register("batch", table)
    try:
        con.execute(f"COPY batch TO '{path}' (FORMAT JSON)")
    finally:
        con.unregister("batch")
    return path.read_bytes()

"""Shared fixtures: a fresh store per test and helpers to write input files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from healthdeck.store.connection import Store, open_store
from tests.engine_servers import postgres_server  # noqa: F401 - the engine tests' PostgreSQL (session-wide)

if TYPE_CHECKING:
    from tests.test_serve_server import Server


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The validated-catalog cache in a folder of the test run's, not the user's ~/.cache."""
    before = os.environ.get("HEALTHDECK_CACHE_DIR")
    os.environ["HEALTHDECK_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        del os.environ["HEALTHDECK_CACHE_DIR"]
    else:
        os.environ["HEALTHDECK_CACHE_DIR"] = before


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "store.duckdb", create=True) as opened:
        yield opened


def write_jsonl(path: Path, records: list[Any]) -> Path:
    """Write records (dicts, or raw strings written as they are) as JSON Lines."""
    with open(path, "wb") as f:
        for record in records:
            f.write(record.encode() if isinstance(record, str) else orjson.dumps(record))
            f.write(b"\n")
    return path


def ingested(folder: Path, records: list[Any]) -> Path:
    """A store at folder/store.duckdb holding `records`, written by the real `healthdeck ingest`."""
    store = folder / "store.duckdb"
    result = run_cli("ingest", str(write_jsonl(folder / "data.jsonl", records)), "--db", str(store))
    assert result.returncode == 0, result.stderr
    return store


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `healthdeck` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "healthdeck", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def stopped_at_the_end() -> Iterator[list[Server]]:
    """Servers a test starts; any still running at its end (a failed test) are killed."""
    servers: list[Server] = []
    yield servers
    for server in servers:
        if server.process and server.process.poll() is None:
            server.stop(signal.SIGKILL)


def clear_of_a_utc_boundary(every: timedelta, margin: timedelta = timedelta(minutes=5)) -> None:
    """Wait out the next multiple of `every` since UTC midnight (a midnight, a noon) if it is due within
    `margin`. For a module that compares what was kept at whole days or half days with those of the clock
    as its tests run: it takes well under `margin`, so no boundary falls between its fixture and a test."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    upcoming = midnight + ((now - midnight) // every + 1) * every
    if upcoming - now < margin:
        time.sleep((upcoming - now).total_seconds() + 1)

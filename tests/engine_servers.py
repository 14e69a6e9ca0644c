"""A real PostgreSQL server for the engine tests: Debian's binaries, a temporary folder, a free loopback port.

One server per test session (each xdist worker has its own); each test module takes a fresh database
of it. Without PostgreSQL installed the tests FAIL, naming the package: .ci/run installs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "hd"


@dataclass(frozen=True)
class PostgresServer:
    """A running server: its port, and how to make a database on it."""

    port: int

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new, empty database's URL."""
        import psycopg

        name = f"hd_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as con:
            con.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(folder: Path) -> list[str]:
    """The command prefix that runs PostgreSQL's tools: they refuse to run as root, so root runs them as postgres."""
    if os.geteuid() != 0:
        return []
    shutil.chown(folder, user="postgres")
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir, folder = _bin_dir(), Path(tempfile.mkdtemp(prefix="hd-pg-"))
    as_owner, port = _as_owner(folder), _free_port()
    data = folder / "data"

    def run(*args: str) -> None:
        done = subprocess.run([*as_owner, *args], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            pytest.fail(f"{Path(args[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}")

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
        yield PostgresServer(port)
    finally:
        if (data / "postmaster.pid").exists():
            stop = [*as_owner, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(stop, capture_output=True, timeout=60, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def new_engine_url(engine: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of an empty database of `engine` (postgres or clickhouse) for one fixture's use."""
    if engine == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.new_database()
    return f"chdb://{tmp_path_factory.mktemp('chdb')}/store"

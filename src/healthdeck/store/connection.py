"""Opening the embedded store: path resolution, locking, schema upgrade."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import duckdb

from healthdeck.errors import HealthdeckError, StoreLockedError, StoreVersionError
from healthdeck.store.migrations import SCHEMA_VERSION, migrate, read_version, stored_version

DEFAULT_DB = Path(".healthdeck") / "healthdeck.duckdb"
DB_ENV = "HEALTHDECK_DB"
# DuckDB may otherwise use 80% of the machine's memory for its cache on large stores.
MEMORY_ENV = "HEALTHDECK_MEMORY_LIMIT"
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The store to use: `--db` first, then $HEALTHDECK_DB, then the default."""
    if explicit:
        return Path(explicit)
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV])
    return DEFAULT_DB


@dataclass
class Store:
    """An open store: the DuckDB connection plus where it lives."""

    path: Path
    con: duckdb.DuckDBPyConnection
    read_only: bool

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def count(self, table: str) -> int:
        row = next(iter(self.con.execute(f'SELECT count(*) FROM "{_identifier(table)}"').fetchall()), None)
        return int(row[0]) if row else 0


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a table name: {name!r}")
    return name


def open_store(path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Store:
    """Open (creating or upgrading as needed) the store at `path`.

    Readers open read-only when the store exists and is current, so several can
    share it; a writer holds DuckDB's exclusive lock, which keeps writers single.
    """
    db = resolve_db_path(path)
    if read_only and not db.exists():
        read_only = False
    if not read_only:
        db.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(db, read_only=read_only)
    try:
        version = stored_version(con) if not read_only else read_version(con)
        _check_not_newer(db, version)
        if version < SCHEMA_VERSION:
            if read_only:
                con.close()
                return open_store(db, read_only=False)
            migrate(con)
    except BaseException:
        con.close()
        raise
    return Store(path=db, con=con, read_only=read_only)


def _connect(db: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(str(db), read_only=read_only)
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            pid = re.search(r"PID (\d+)", message)
            holder = f" (process {pid.group(1)})" if pid else ""
            raise StoreLockedError(
                f"the store {db} is being written by another healthdeck process{holder}; "
                "only one writer at a time. Wait for it to finish, or use --db for another store."
            ) from exc
        raise HealthdeckError(f"cannot open the store {db}: {message}") from exc
    except duckdb.Error as exc:
        raise HealthdeckError(f"cannot open the store {db}: {exc}") from exc
    con.execute("SET TimeZone = 'UTC'")
    _limit_memory(con)
    return con


def _limit_memory(con: duckdb.DuckDBPyConnection) -> None:
    limit = os.environ.get(MEMORY_ENV, "").strip()
    if not limit:
        return
    if not _MEMORY.match(limit):
        con.close()
        raise HealthdeckError(f"{MEMORY_ENV}={limit!r} is not a size; write e.g. 4GB or 512MB")
    con.execute(f"SET memory_limit = '{limit}'")  # validated above: digits and a unit only


def _check_not_newer(db: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"the store {db} has schema version {version}, newer than this healthdeck "
            f"understands (up to {SCHEMA_VERSION}). Upgrade healthdeck, or use --db for another store."
        )

"""Opening the embedded store: path resolution, what may be opened, the sandbox, locking, schema upgrade."""

from __future__ import annotations

import errno
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb

from healthdeck.errors import (
    HealthdeckError,
    NotAStoreError,
    StoreLockedError,
    StoreMissingError,
    StoreVersionError,
)
from healthdeck.store.migrations import SCHEMA_VERSION, migrate, stored_version

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend

    from healthdeck.store.recent_ids import RecentIds

DEFAULT_DB = Path(".healthdeck") / "healthdeck.duckdb"
DB_ENV = "HEALTHDECK_DB"
# DuckDB may otherwise use 80% of the machine's memory for its cache on large stores.
MEMORY_ENV = "HEALTHDECK_MEMORY_LIMIT"
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
# DuckDB writes a commit below one row group (an HTTP body of 10,000 events) to its write-ahead log and
# copies the log into the store's file once it reaches this size (16 MB by default). Fewer, larger
# checkpoints cost less for the same rows: 400,000 requests committed 10,000 at a time, the last
# checkpoint included, took 3.3-3.4 s at 16 MB and 2.6-2.8 s at 64 MB (benchmarks/bench_serve_ingest.py:
# 95,500 -> 101,000-104,000 events/s). A crash leaves at most this much log to replay at the next open.
CHECKPOINT_AFTER = "64MB"

# Every connection healthdeck opens reads and writes its own store and nothing else: no file or
# network access from SQL, no extension fetched or loaded behind our back. `lock_configuration`
# (set last, in `_connect`) then keeps any later statement from changing these or any other setting.
SANDBOX: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,  # Python variables are not tables either
}
_DUCKDB_MAGIC = (8, b"DUCK")
_FOREIGN_MAGIC = ((0, b"SQLite format 3\x00", "a SQLite database"), (0, b"PAR1", "a Parquet file"))


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
    # The hashes of the ids stored around now, kept by a long-lived writer (the server's) to spare
    # its small batches a look through the day's stored ids (recent_ids.py); None: looked up each time.
    recent_ids: RecentIds | None = None

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

    def batch_stored(self, kind: Any, batch: Any, *, source: str, sink: Any, report: Any, raw_of: Any = None) -> None:
        """Told by ingest of each committed batch; a staging store (engines/ingest.py) passes it on."""

    # What the engine asks of any store; engines/store.py answers the same for PostgreSQL and ClickHouse.
    @property
    def dialect(self) -> str:
        """The SQL dialect of the store's engine: what the engine compiles its queries to."""
        return "duckdb"

    def run_compiled(self, sql: str, params: dict[str, Any]) -> Any:
        """Run SQL compiled for this store's dialect (`con.execute` takes the engine's DuckDB SQL)."""
        return self.con.execute(sql, params) if params else self.con.execute(sql)

    def columns(self, table: str) -> list[tuple[str, str, bool]]:
        """(name, DuckDB type, nullable) of each column of a table."""
        quoted = '"' + table.replace('"', '""') + '"'
        return [
            (name, kind, null == "YES") for name, kind, null, *_ in self.con.execute(f"DESCRIBE {quoted}").fetchall()
        ]

    def sql_compiler(self) -> Backend:
        """Ibis over the store: what compiles the measures' expressions to this store's SQL."""
        return ibis_backend(self.con)


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a table name: {name!r}")
    return name


def open_store(path: str | os.PathLike[str] | None = None, *, read_only: bool = False, create: bool = False) -> Store:
    """Open the healthdeck store at `path`; only `create=True` (the commands that add data) makes a new one.

    A new store is made only where nothing is, or an empty file is; any other file that is not a
    healthdeck store is refused and left untouched. A writable open upgrades an older store; a
    read-only one never writes, so it refuses an older store and names the command that upgrades it.
    Readers share a store; a writer holds DuckDB's exclusive lock, which keeps writers single.
    """
    if create and read_only:
        raise ValueError("a store is created by a writable open")
    db = resolve_db_path(path)
    kind = file_kind(db)
    if kind in ("missing", "empty"):
        if not create:
            raise StoreMissingError(_missing_message(db, kind))
        _create(db)
    elif kind != "duckdb":
        raise NotAStoreError(_foreign_message(db, kind))
    elif not read_only:
        _probe(db)  # a read-only look first: a foreign DuckDB file opened for writing could be changed
        _check_writable(db)
    con = _connect(db, read_only=read_only)
    try:
        _check_version(db, con, read_only=read_only)
    except BaseException:
        con.close()
        raise
    return Store(path=db, con=con, read_only=read_only)


def file_kind(db: Path) -> str:
    """What is at `db`, from its first bytes: "missing", "empty", "duckdb", or what else it is."""
    if db.is_dir():
        return "a directory"
    try:
        with open(db, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        raise HealthdeckError(f"cannot read {db}: {exc.strerror}; check the path and its permissions") from exc
    if not head:
        return "empty"
    offset, magic = _DUCKDB_MAGIC
    if head[offset : offset + len(magic)] == magic:
        return "duckdb"
    for offset, magic, name in _FOREIGN_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    return "not a DuckDB database (text, CSV, JSON or another format)"


def _missing_message(db: Path, kind: str) -> str:
    what = "the file is empty" if kind == "empty" else "no such file"
    return (
        f"no store at {db} ({what}): create one with `healthdeck ingest FILE --db {db}` or "
        f"`healthdeck simulate --db {db}`, or check --db and ${DB_ENV}"
    )


def _foreign_message(db: Path, kind: str) -> str:
    return (
        f"{db} is {kind}, not a healthdeck store; healthdeck leaves it untouched. "
        "Give --db a new path (e.g. store.duckdb) or an existing healthdeck store."
    )


def _create(db: Path) -> None:
    """Make a fully set-up store at `db` in one step: build it beside, then move it in place.

    A crash part-way leaves at most a hidden file beside `db`, never a half-made store at `db`.
    """
    draft = db.with_name(f".{db.name}.creating-{os.getpid()}")
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(db.parent.absolute(), os.W_OK):
            raise PermissionError(errno.EACCES, f"no write permission on {db.parent.absolute()}")
        draft.unlink(missing_ok=True)
        con = _connect(draft, read_only=False)
        try:
            migrate(con)
        finally:
            con.close()
        _move_into_place(draft, db)
    except OSError as exc:
        raise HealthdeckError(
            f"cannot create the store {db}: {exc.strerror}; choose a writable place with --db"
        ) from exc
    finally:
        draft.unlink(missing_ok=True)


def _move_into_place(draft: Path, db: Path) -> None:
    if db.exists() and db.stat().st_size == 0:
        os.replace(draft, db)
        return
    try:
        os.link(draft, db)  # unlike a rename, fails if another process made a store here meanwhile
    except FileExistsError:
        return  # then that store is the one to use
    except OSError:
        os.replace(draft, db)  # a file system without hard links


def _probe(db: Path) -> None:
    con = _connect(db, read_only=True)
    try:
        _version(db, con)
    finally:
        con.close()


def _version(db: Path, con: duckdb.DuckDBPyConnection) -> int:
    """The store's schema version; a clear error when it is not a healthdeck store or not a number."""
    try:
        version = stored_version(con)
    except ValueError as exc:
        raise StoreVersionError(
            f"the store {db} has a schema version that is not a number ({exc}); "
            "restore the store from a backup, or use --db for another store"
        ) from exc
    if version is None:
        raise NotAStoreError(_foreign_message(db, "a DuckDB database that healthdeck did not create"))
    return version


def _check_writable(db: Path) -> None:
    # DuckDB writes a journal (.wal) beside the store: a writer needs the directory too.
    for place in (db, db.parent.absolute()):
        if not os.access(place, os.W_OK):
            raise HealthdeckError(
                f"the store {db} cannot be written: no write permission on {place}. Read commands still work; "
                "to add data, make the store and its directory writable, or use --db for another store."
            )


def _check_version(db: Path, con: duckdb.DuckDBPyConnection, *, read_only: bool) -> None:
    version = _version(db, con)
    if version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"the store {db} has schema version {version}, newer than this healthdeck "
            f"understands (up to {SCHEMA_VERSION}). Upgrade healthdeck, or use --db for another store."
        )
    if version < SCHEMA_VERSION:
        if read_only:
            raise StoreVersionError(
                f"the store {db} has schema version {version}, older than this healthdeck's {SCHEMA_VERSION}; "
                f"upgrade it with `healthdeck store upgrade --db {db}` (any ingest also does), then retry"
            )
        migrate(con)


def _connect(db: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        config = {**SANDBOX, "checkpoint_threshold": CHECKPOINT_AFTER, **_memory_limit()}
        con = duckdb.connect(str(db), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            raise StoreLockedError(_locked_message(db, message, read_only=read_only)) from exc
        raise HealthdeckError(f"cannot open the store {db}: {message}") from exc
    except duckdb.Error as exc:
        raise HealthdeckError(f"cannot open the store {db}: {exc}") from exc
    # ICU's setting is not known yet when `config` is read. GLOBAL: cursors of this connection (the
    # server's readers) start from it too, and cannot set it themselves once the configuration is locked.
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    con.execute("SET lock_configuration = true")
    return con


def connect_memory() -> duckdb.DuckDBPyConnection:
    """A sandboxed in-memory DuckDB: where ingest validates batches bound for another engine."""
    return _connect(Path(":memory:"), read_only=False)


def _locked_message(db: Path, message: str, *, read_only: bool) -> str:
    """Who holds the store, as far as DuckDB tells: a reader's lock is shared, a writer's exclusive."""
    pid = re.search(r"PID (\d+)", message)
    holder = f"another process{f' (process {pid.group(1)})' if pid else ''}"
    # DuckDB adds this hint only when the lock in the way is a reader's (shared) one.
    if not read_only and "read-only mode" in message:
        return (
            f"the store {db} is being read by {holder}; a writer needs the store to itself. "
            "Wait for the reader to finish (or stop it), or use --db for another store."
        )
    return (
        f"the store {db} is being written by {holder}; only one writer at a time. "
        "Wait for it to finish, or use --db for another store."
    )


def _memory_limit() -> dict[str, str]:
    limit = os.environ.get(MEMORY_ENV, "").strip()
    if not limit:
        return {}
    if not _MEMORY.match(limit):
        raise HealthdeckError(f"{MEMORY_ENV}={limit!r} is not a size; write e.g. 4GB or 512MB")
    return {"memory_limit": limit}


def ibis_backend(con: duckdb.DuckDBPyConnection) -> Backend:
    """Ibis over a store's connection, without the settings Ibis would change on it.

    `from_connection` sets the time zone and turns off Python replacement scans, which `_connect`
    has already done; the configuration is locked, so setting them again would be refused.
    """
    return _ibis_on_locked_connection().from_connection(con)


@functools.cache
def _ibis_on_locked_connection() -> type[Backend]:
    from ibis.backends.duckdb import Backend  # Ibis is slow to import: only the engine needs it

    class OnLockedConnection(Backend):
        def _post_connect(self, extensions: Any = None) -> None:
            self._record_batch_readers_consumed: dict[str, bool] = {}

    return OnLockedConnection

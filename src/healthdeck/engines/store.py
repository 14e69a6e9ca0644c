"""A store on PostgreSQL or ClickHouse: the same interface the engine uses on DuckDB's.

`con.execute(sql, params)` takes the engine's hand-written DuckDB SQL and runs it transpiled
(engines/dialects.py); `run_compiled` runs what Ibis compiled for the engine itself. Both bind
their parameters through the driver, never into the SQL text, and read every instant in UTC.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from healthdeck.catalog.cache import cache_file
from healthdeck.engines.ddl import schema_statements, table_columns
from healthdeck.engines.dialects import COMPILERS, DIALECTS, parameter_types, transpile
from healthdeck.engines.url import EngineUrl
from healthdeck.errors import HealthdeckError, StoreMissingError, StoreVersionError
from healthdeck.store import rollups
from healthdeck.store.connection import Store
from healthdeck.store.migrations import META_TABLE, SCHEMA_VERSION

CH_DATABASE = "healthdeck"
# The schema version of the request rollups' layout (store/migrations.py: 7 brought them, 8 their one table).
ROLLUPS_VERSION = 8
# join_use_nulls: an outer join's missing side is NULL, as in SQL (not 0 or ''); aggregate_functions_
# null_for_empty: max() of no rows is NULL (not 1970); final: a re-sent record is one row before a merge.
CH_SETTINGS = ("join_use_nulls = 1", "aggregate_functions_null_for_empty = 1", "final = 1")


@dataclass
class Rows:
    """A query's answer, shaped like a DB-API cursor's: `description` and `fetchall()`."""

    description: list[tuple[str]]
    rows: list[tuple[Any, ...]]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


def _plain(value: Any) -> Any:
    # PostgreSQL's numeric (an average of integers) arrives as Decimal; the engine computes in floats.
    return float(value) if isinstance(value, Decimal) else value


class PostgresConnection:
    """psycopg with autocommit and the session in UTC."""

    kind = "postgres"

    def __init__(self, url: EngineUrl, *, create: bool = False) -> None:
        import psycopg

        try:
            self.raw = psycopg.connect(url.target, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HealthdeckError(
                f"cannot connect to PostgreSQL at {url.shown}: {first}; check $HEALTHDECK_ENGINE_URL or --engine"
            ) from exc
        self.raw.execute("SET TIME ZONE 'UTC'")

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> Rows:
        """Run the engine's DuckDB SQL here."""
        params = params or {}
        return self.run(transpile(sql, "postgres", parameter_types(params)), params)

    def run(self, sql: str, params: dict[str, Any] | None = None) -> Rows:
        # Always with a mapping, even empty: psycopg then reads the %% that dialects.py writes for a literal %.
        cursor = self.raw.execute(sql, params or {})
        if cursor.description is None:
            return Rows([], [])
        names = [(column.name,) for column in cursor.description]
        return Rows(names, [tuple(_plain(v) for v in row) for row in cursor.fetchall()])

    def close(self) -> None:
        self.raw.close()


class ChdbConnection:
    """ClickHouse's engine inside this process (chdb), on a folder of its own."""

    kind = "clickhouse"

    def __init__(self, url: EngineUrl, *, create: bool = False) -> None:
        import chdb.session

        if not create and not Path(url.target).is_dir():
            raise StoreMissingError(
                f"no ClickHouse data at {url.target} (no such folder): fill it with "
                f"`healthdeck ingest FILE --engine {url.shown}`, or check the URL"
            )
        Path(url.target).mkdir(parents=True, exist_ok=True)
        self.raw = chdb.session.Session(url.target)
        self.raw.query(f"CREATE DATABASE IF NOT EXISTS {CH_DATABASE}")
        self.raw.query(f"USE {CH_DATABASE}")  # the engine's SQL names its tables without a database
        for setting in CH_SETTINGS:  # for the session: every query and insert of this connection
            self.raw.query(f"SET {setting}")

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> Rows:
        """Run the engine's DuckDB SQL here."""
        params = params or {}
        return self.run(transpile(sql, "clickhouse", parameter_types(params)), params)

    def run(self, sql: str, params: dict[str, Any] | None = None) -> Rows:
        try:
            answer = self.raw.query(sql, "ArrowTable", params=_ch_params(params))
        except Exception as exc:  # chdb raises plain RuntimeErrors that name the ClickHouse error
            raise HealthdeckError(f"ClickHouse (chdb) refused a query: {str(exc).splitlines()[0]}") from exc
        if answer is None or not hasattr(answer, "column_names"):
            return Rows([], [])
        names = [(name,) for name in answer.column_names]
        return Rows(names, [tuple(row.values()) for row in answer.to_pylist()])

    def close(self) -> None:
        self.raw.close()


def _ch_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """ClickHouse takes parameter values as text: instants in UTC with microseconds, NULL as \\N."""
    out: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if isinstance(value, datetime):
            value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        out[name] = "\\N" if value is None else value
    return out


CONNECTIONS: dict[str, type[PostgresConnection] | type[ChdbConnection]] = {
    "postgres": PostgresConnection,
    "clickhouse": ChdbConnection,
}


class CompileOnly:
    """Ibis's compiler for the engine, with the dialect healthdeck renders its SQL in."""

    def __init__(self, kind: str) -> None:
        self.compiler = COMPILERS[kind]()
        self.dialect = DIALECTS[kind]

    def compile(self, expr: Any) -> str:
        import sqlglot

        tree = self.compiler.to_sqlglot(expr)
        return tree.sql(dialect=self.dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)


class EngineStore(Store):
    """The store's tables on another engine, read and written through `con` as DuckDB's are."""

    def __init__(self, url: EngineUrl, con: PostgresConnection | ChdbConnection, *, read_only: bool) -> None:
        super().__init__(path=_cache_anchor(url), con=cast(Any, con), read_only=read_only)
        self.url, self.engine = url, con

    @property
    def dialect(self) -> str:
        return self.engine.kind

    def run_compiled(self, sql: str, params: dict[str, Any]) -> Any:
        return self.engine.run(sql, params)

    def columns(self, table: str) -> list[tuple[str, str, bool]]:
        return table_columns(table)

    def sql_compiler(self) -> Any:
        return CompileOnly(self.engine.kind)

    def count(self, table: str) -> int:
        row = self.con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0]) if row else 0


def _cache_anchor(url: EngineUrl) -> Path:
    """A path whose folder keeps this engine's compiled SQL templates (the store itself is elsewhere)."""
    digest = hashlib.sha256(url.shown.encode()).hexdigest()[:16]
    home = cache_file()
    base = home.parent if home is not None else Path(".healthdeck")
    return base / "engines" / f"{url.kind}-{digest}" / "store"


def open_engine_store(url: EngineUrl, *, create: bool = False, read_only: bool = True) -> EngineStore:
    """Connect to the engine; `create` sets its tables up (idempotently), else they must be there."""
    con = CONNECTIONS[url.kind](url, create=create)
    try:
        if create:
            _set_up(con, url)
        _check_version(url, con)
    except BaseException:
        con.close()
        raise
    return EngineStore(url, con, read_only=read_only)


def _set_up(con: PostgresConnection | ChdbConnection, url: EngineUrl) -> None:
    """Create what is missing; a database from an older healthdeck gets its rollups built from its requests
    (healthdeck expires no rows on an engine, so they are all there)."""
    before = _stored_version(con)
    outdated = before is not None and before < ROLLUPS_VERSION
    if outdated:
        for table in (rollups.ROLLUPS, rollups.SCHEMA_7_SKETCH):
            con.run(f"DROP TABLE IF EXISTS {table}")
    *tables, version = schema_statements(url.kind, CH_DATABASE)
    for statement in tables:
        con.run(statement)
    if outdated:
        rollups.roll_up(con, fresh_requests("TRUE"))
    con.run(version)  # last: a set-up cut short before it is redone by the next ingest


def fresh_requests(where: str) -> str:
    """Requests with their minute, as store/rollups.py rolls them up (date_trunc: every engine has it)."""
    selected = rollups.requests_by_minute(where=where, minute="date_trunc('minute', ts)")
    return f"({selected}) AS fresh"


def _stored_version(con: PostgresConnection | ChdbConnection) -> int | None:
    """The healthdeck schema version the database holds, or None when it holds no healthdeck tables."""
    try:
        rows = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'").fetchall()
    except Exception:  # psycopg's UndefinedTable, chdb's "Unknown table": no healthdeck here
        return None
    return int(rows[0][0]) if rows else 0


def _check_version(url: EngineUrl, con: PostgresConnection | ChdbConnection) -> None:
    version = _stored_version(con)
    if version is None:
        raise StoreVersionError(
            f"{url.shown} holds no healthdeck tables; set them up with `healthdeck ingest FILE --engine URL`"
        )
    if version != SCHEMA_VERSION:
        raise StoreVersionError(
            f"{url.shown} has healthdeck schema version {version}; this healthdeck uses {SCHEMA_VERSION}. "
            "Run `healthdeck ingest` with this healthdeck against it to bring it up to date."
        )

"""The store's tables on PostgreSQL and ClickHouse, generated from store/schema.py like DuckDB's.

PostgreSQL gets the same schema with its rules as constraints: NOT NULL for required fields, the
key as PRIMARY KEY, CHECKs for choices, bounds and ids. ClickHouse gets ReplacingMergeTree tables
ordered by tenant and time (then the key, so a re-sent event or entity version is one row after a
merge, and one row to every query, which reads with `final = 1`); ingest checks every rule first.
"""

from __future__ import annotations

import functools

import sqlglot
import sqlglot.expressions as sge

from healthdeck.engines.url import EngineKind
from healthdeck.store import rollups
from healthdeck.store.migrations import META_TABLE, SCHEMA_VERSION
from healthdeck.store.schema import KINDS, Field, Kind
from healthdeck.store.validate import literal, quote

PG_TYPES = {
    "VARCHAR": "TEXT",
    "TIMESTAMPTZ": "TIMESTAMPTZ",
    "DOUBLE": "DOUBLE PRECISION",
    "BIGINT": "BIGINT",
    "INTEGER": "INTEGER",
    "BOOLEAN": "BOOLEAN",
    "JSON": "JSON",
}
CH_TYPES = {
    "VARCHAR": "String",
    "TIMESTAMPTZ": "DateTime64(6, 'UTC')",
    "DOUBLE": "Float64",
    "BIGINT": "Int64",
    "INTEGER": "Int32",
    "BOOLEAN": "Bool",
    "JSON": "String",  # canonical JSON text (sorted keys), read with JSONExtract*
}
# The columns ingest adds to every row besides the kind's own fields.
EXTRA_COLUMNS = (("_record_hash", "VARCHAR"), ("_ingested_at", "TIMESTAMPTZ"))


def stored_columns(kind: Kind) -> list[tuple[str, str, bool]]:
    """(name, DuckDB type, nullable) of each column of the kind's table, as DuckDB's DESCRIBE lists them."""
    columns = [(f.name, f.type, not (f.name == "event_id" and kind.key == "event_id")) for f in kind.fields]
    return columns + [(name, kind_, False) for name, kind_ in EXTRA_COLUMNS if name != "_record_hash" or kind.entity]


# The request rollups (store/rollups.py): their DuckDB DDL is where their columns are declared.
ROLLUP_TABLES = {rollups.ROLLUPS: rollups.CREATE_ROLLUPS}
_DUCKDB_NAMES = {"TEXT": "VARCHAR", "INT": "INTEGER"}  # SQLGlot's spelling -> store/schema.py's


@functools.cache
def rollup_columns(table: str) -> tuple[tuple[str, str, bool], ...]:
    """(name, DuckDB type, nullable) of a rollup table's columns, read from its CREATE statement."""
    create = sqlglot.parse_one(ROLLUP_TABLES[table], read="duckdb")
    columns = []
    for column in create.this.expressions:
        type_ = column.args["kind"].sql("duckdb")
        not_null = any(isinstance(c.kind, sge.NotNullColumnConstraint) for c in column.constraints)
        columns.append((column.name, _DUCKDB_NAMES.get(type_, type_), not not_null))
    return tuple(columns)


def table_columns(table: str) -> list[tuple[str, str, bool]]:
    """(name, DuckDB type, nullable) of any table healthdeck keeps on an engine."""
    return stored_columns(KINDS[table]) if table in KINDS else list(rollup_columns(table))


def postgres_rollup(table: str) -> list[str]:
    columns = [f"{quote(n)} {PG_TYPES[t]}{'' if nullable else ' NOT NULL'}" for n, t, nullable in rollup_columns(table)]
    return [
        f"CREATE TABLE IF NOT EXISTS {quote(table)} ({', '.join(columns)})",
        f"CREATE INDEX IF NOT EXISTS {table}_by_tenant_id_minute ON {quote(table)} (tenant_id, minute)",
        f"CREATE INDEX IF NOT EXISTS {table}_by_minute ON {quote(table)} (minute)",
    ]


def clickhouse_rollup(table: str, database: str) -> str:
    """Append-only partial aggregates that every reader sums: a plain MergeTree (a merge must not replace)."""
    columns = [
        f"{quote(n)} {CH_TYPES[t] if not nullable else f'Nullable({CH_TYPES[t]})'}"
        for n, t, nullable in rollup_columns(table)
    ]
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.{quote(table)} ({', '.join(columns)}) "
        "ENGINE = MergeTree ORDER BY (tenant_id, minute) SETTINGS allow_nullable_key = 1"
    )


def _pg_checks(f: Field) -> list[str]:
    name = quote(f.name)
    checks = []
    if f.choices:
        checks.append(f"{name} IN ({', '.join(literal(c) for c in f.choices)})")
    if f.minimum is not None:
        checks.append(f"{name} >= {f.minimum!r}")
    if f.maximum is not None:
        checks.append(f"{name} <= {f.maximum!r}")
    if f.identifier:
        checks.append(f"{name} <> '' AND {name} = btrim({name})")
    return [f"CHECK ({c})" for c in checks]


def postgres_table(kind: Kind) -> str:
    lines = []
    for name, type_, nullable in stored_columns(kind):
        f = kind.field(name) if name in kind.columns else None
        required = not nullable or (f is not None and f.required)
        parts = [quote(name), PG_TYPES[type_], *([] if not required else ["NOT NULL"])]
        lines.append(" ".join(parts + (_pg_checks(f) if f is not None else [])))
    lines.append(f"PRIMARY KEY ({quote(kind.key)})")
    return f"CREATE TABLE IF NOT EXISTS {quote(kind.name)} (\n  " + ",\n  ".join(lines) + "\n)"


def postgres_indexes(kind: Kind) -> list[str]:
    """Indexes for the engine's queries, which read a window of time, of one tenant or one metric.

    (ClickHouse needs none: its tables are sorted by tenant and time.)
    """
    time = kind.time_field
    leading = [c for c in ("tenant_id", "metric") if c in kind.columns]
    return [
        f"CREATE INDEX IF NOT EXISTS {kind.name}_by_{'_'.join([*columns])} ON {quote(kind.name)} "
        f"({', '.join(quote(c) for c in columns)})"
        for columns in ([time], *([c, time] for c in leading))
    ]


def clickhouse_table(kind: Kind, database: str) -> str:
    columns = []
    for name, type_, nullable in stored_columns(kind):
        f = kind.field(name) if name in kind.columns else None
        required = not nullable or (f is not None and f.required) or name == kind.key
        ch = CH_TYPES[type_]
        columns.append(f"{quote(name)} {ch if required else f'Nullable({ch})'}")
    order = ", ".join(quote(c) for c in _order_by(kind))
    # The newest version of an entity (by when it was ingested) is the one a merge keeps.
    version = "_ingested_at" if kind.entity else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.{quote(kind.name)} (\n  "
        + ",\n  ".join(columns)
        + f"\n) ENGINE = ReplacingMergeTree({version}) ORDER BY ({order})"
    )


def _order_by(kind: Kind) -> list[str]:
    """Tenant, then time (queries filter on both), then the key that makes a row one record."""
    if kind.entity:
        return [kind.key]  # entities are replaced by key: their time may change with a new version
    time = kind.time_field
    tenant = ["tenant_id"] if "tenant_id" in kind.columns and kind.field("tenant_id").required else []
    return [*tenant, time, kind.key]


def meta_table(engine: EngineKind, database: str = "") -> list[str]:
    """The version table that marks a database as healthdeck's, and its version."""
    version = literal(str(SCHEMA_VERSION))
    if engine == "postgres":
        return [
            f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            f"INSERT INTO {META_TABLE} VALUES ('schema_version', {version}) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        ]
    return [
        f"CREATE TABLE IF NOT EXISTS {database}.{META_TABLE} (key String, value String) "
        "ENGINE = ReplacingMergeTree ORDER BY key",
        f"INSERT INTO {database}.{META_TABLE} VALUES ('schema_version', {version})",
    ]


def schema_statements(engine: EngineKind, database: str = "") -> list[str]:
    """Every statement that sets a database up for healthdeck; each may run again harmlessly. The last
    one records the schema version (engines/store.py runs it after whatever an upgrade rebuilds)."""
    if engine == "postgres":
        tables = [postgres_table(kind) for kind in KINDS.values()]
        indexes = [index for kind in KINDS.values() for index in postgres_indexes(kind)]
        rolled = [statement for table in ROLLUP_TABLES for statement in postgres_rollup(table)]
        return tables + indexes + rolled + meta_table(engine)
    return (
        [f"CREATE DATABASE IF NOT EXISTS {database}"]
        + [clickhouse_table(kind, database) for kind in KINDS.values()]
        + [clickhouse_rollup(table, database) for table in ROLLUP_TABLES]
        + meta_table(engine, database)
    )

"""Versioned schema migrations: opening an older store upgrades it in place.

Each migration is a plain function run inside one transaction together with
the version bump, so a store is never left half-migrated.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from healthdeck.store.schema import KINDS, create_table_sql
from healthdeck.store.views import VIEWS

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def _create_event_tables(con: duckdb.DuckDBPyConnection) -> None:
    for kind in KINDS.values():
        con.execute(create_table_sql(kind))


def _create_views(con: duckdb.DuckDBPyConnection) -> None:
    for sql in VIEWS.values():
        con.execute(sql)


def _create_api_tokens(con: duckdb.DuckDBPyConnection) -> None:
    """The bearer tokens of `healthdeck serve` (api/tokens.py): only a hash of each secret is kept."""
    con.execute(
        "CREATE TABLE api_tokens (token_id VARCHAR PRIMARY KEY, name VARCHAR, role VARCHAR NOT NULL, "
        "project VARCHAR, token_hash VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ)"
    )


def _create_health_history(con: duckdb.DuckDBPyConnection) -> None:
    """What `healthdeck serve` evaluated on its schedule (api/history.py): the score, each area, each KPI."""
    con.execute(
        "CREATE TABLE health_history (evaluated_at TIMESTAMPTZ NOT NULL, level VARCHAR NOT NULL, "
        "name VARCHAR NOT NULL, area VARCHAR, value DOUBLE, status VARCHAR, score DOUBLE)"
    )


# Index i holds the migration that brings a store from version i to i + 1.
MIGRATIONS: tuple[Migration, ...] = (_create_event_tables, _create_views, _create_api_tokens, _create_health_history)
SCHEMA_VERSION = len(MIGRATIONS)


def read_version(con: duckdb.DuckDBPyConnection) -> int:
    """The store's schema version without changing anything (0 for a store healthdeck never set up)."""
    try:
        rows = con.execute("SELECT value FROM _healthdeck_meta WHERE key = 'schema_version'").fetchall()
    except duckdb.CatalogException:
        return 0
    return int(rows[0][0]) if rows else 0


def stored_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version, creating the bookkeeping table on a new store (needs a writable store)."""
    con.execute("CREATE TABLE IF NOT EXISTS _healthdeck_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    return read_version(con)


def migrate(con: duckdb.DuckDBPyConnection, *, target: int = SCHEMA_VERSION) -> int:
    """Apply every migration between the stored version and `target`; return the new version."""
    version = stored_version(con)
    while version < target:
        con.execute("BEGIN TRANSACTION")
        try:
            MIGRATIONS[version](con)
            version += 1
            con.execute("INSERT OR REPLACE INTO _healthdeck_meta VALUES ('schema_version', ?)", [str(version)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return version

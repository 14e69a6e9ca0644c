"""Versioned schema migrations: a writable open upgrades an older store in place.

Each migration is a plain function run inside one transaction together with
the version bump, so a store is never left half-migrated.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from healthdeck.store import rollups
from healthdeck.store.schema import KINDS, create_table_sql
from healthdeck.store.transaction import transaction
from healthdeck.store.views import CHURN_SIGNALS, VIEWS

Migration = Callable[[duckdb.DuckDBPyConnection], None]
META_TABLE = "_healthdeck_meta"


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


def _create_churn_signals(con: duckdb.DuckDBPyConnection) -> None:
    """The view the churn-risk indicators of seed 000 §2.4 read verbatim (store/views.py)."""
    con.execute(CHURN_SIGNALS)


def _add_discount_duration(con: duckdb.DuckDBPyConnection) -> None:
    """Whether a subscription's discount is forever (it lowers MRR) or one-off (engine/mrr.py)."""
    # A store created at this version already has the column (step 1 creates every table as declared).
    con.execute("ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS discount_duration VARCHAR")


def _create_rollups(con: duckdb.DuckDBPyConnection) -> None:
    """Per-minute rollups and latency sketches of requests (store/rollups.py), built from those stored.

    Made anew (CREATE OR REPLACE) from the requests, so running it again gives the same tables.
    """
    con.execute(rollups.CREATE_ROLLUPS)
    con.execute(rollups.CREATE_SKETCH)
    rollups.roll_up_all(con)


# Index i holds the migration that brings a store from version i to i + 1.
MIGRATIONS: tuple[Migration, ...] = (
    _create_event_tables,
    _create_views,
    _create_api_tokens,
    _create_health_history,
    _create_churn_signals,
    _add_discount_duration,
    _create_rollups,
)
SCHEMA_VERSION = len(MIGRATIONS)


def stored_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The schema version, or None when healthdeck did not set this database up (only it makes the table).

    0 means set up but before the first migration. Raises ValueError when the stored version is
    not a whole number (the table was edited).
    """
    try:
        rows = con.execute(f"SELECT value FROM main.{META_TABLE} WHERE key = 'schema_version'").fetchall()
    except duckdb.CatalogException:
        return None
    if not rows:
        return 0
    value = rows[0][0]
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        raise ValueError(repr(value))
    return int(value)


def read_version(con: duckdb.DuckDBPyConnection) -> int:
    """The store's schema version without changing anything (0 for a database healthdeck never set up)."""
    return stored_version(con) or 0


def migrate(con: duckdb.DuckDBPyConnection, *, target: int = SCHEMA_VERSION) -> int:
    """Apply every migration between the stored version and `target`; return the new version."""
    version = read_version(con)
    while version < target:
        with transaction(con):
            con.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)")
            MIGRATIONS[version](con)
            con.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('schema_version', ?)", [str(version + 1)])
        version += 1
    return version

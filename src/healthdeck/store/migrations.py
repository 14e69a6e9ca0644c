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
    """Per-minute rollups of requests (store/rollups.py), built from those stored, in today's layout.

    Made anew (CREATE OR REPLACE) from the requests, so running it again gives the same table.
    """
    con.execute(rollups.CREATE_ROLLUPS)
    rollups.roll_up_all(con)


# Schema 7's sketch of latency buckets, kept beside the rollups' sums; schema 8 holds both in one table.
_OLD_SKETCH = rollups.SCHEMA_7_SKETCH
_OLD_KEYS = ("minute", *rollups.KEYS)
_SUMS = ("errors_5xx", "latency_sum", "request_bytes", "response_bytes")


def _fold_sketch_into_rollups(con: duckdb.DuckDBPyConnection) -> None:
    """Move schema 7's two tables into today's one, from their rows, not from raw requests (which may
    have expired since). A store that reached schema 7 with this healthdeck has no sketch table: its
    rollups are in today's layout already.

    Each (key, bucket) of the sketch becomes a row of its count; each key's sums go onto the row of its
    lowest bucket, so a key has no more rows than it had buckets, and every count, sum and quantile
    stays what it was. A key with sums but no buckets (never written so) keeps its sums and requests in
    a row of bucket NULL. A key with buckets but no sums is left out: schema 7's expiry deleted the sums
    of a day first, so an expiry cut short between the two tables left such keys, past the rollups'
    retention, whose counts were already gone.

    A day at a time, in time order, as ingest writes them: in a join's order every row group would span
    every minute, and a window's query would read them all (twice the time, benchmarks/bench_rollups.py);
    and a day's join and sort need a day's memory, where the whole store's took 20 GB at 100 M requests.
    """
    if not con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = ?", [_OLD_SKETCH]).fetchall():
        return
    old = "_request_rollups_7"
    con.execute(f"ALTER TABLE {rollups.ROLLUPS} RENAME TO {old}")
    con.execute(rollups.CREATE_ROLLUPS)
    fold = _FOLD.format(new=rollups.ROLLUPS, sketch=_OLD_SKETCH, old=old)
    for (day,) in con.execute(_DAYS.format(sketch=_OLD_SKETCH, old=old)).fetchall():
        con.execute(fold, {"day": day})
    con.execute(f"DROP TABLE {old}")
    con.execute(f"DROP TABLE {_OLD_SKETCH}")


_DAY = "time_bucket(INTERVAL 1 day, minute)"  # UTC, the store's time zone
_DAYS = f"SELECT DISTINCT {_DAY} FROM (SELECT minute FROM {{old}} UNION ALL SELECT minute FROM {{sketch}}) ORDER BY 1"
_OF_THE_DAY = "minute >= $day AND minute < $day + INTERVAL 1 day"


_SAME_KEY = " AND ".join(f"b.{k} IS NOT DISTINCT FROM s.{k}" for k in _OLD_KEYS)  # tier, endpoint may be NULL
_FOLD = f"""
INSERT INTO {{new}}
WITH summed AS (
    SELECT {", ".join(_OLD_KEYS)}, bucket, sum("count") AS n FROM {{sketch}} WHERE {_OF_THE_DAY} GROUP BY ALL
), buckets AS (
    SELECT *, row_number() OVER (PARTITION BY {", ".join(_OLD_KEYS)} ORDER BY bucket) = 1 AS lowest FROM summed
), sums AS (
    SELECT {", ".join(_OLD_KEYS)}, sum(requests) AS requests, {", ".join(f"sum({c}) AS {c}" for c in _SUMS)}
    FROM {{old}} WHERE {_OF_THE_DAY} GROUP BY ALL
)
SELECT {", ".join(f"s.{k}" for k in _OLD_KEYS)}, b.bucket, coalesce(b.n, s.requests),
       {", ".join(f"CASE WHEN b.bucket IS NULL OR b.lowest THEN s.{c} ELSE 0 END" for c in _SUMS[:2])},
       {", ".join(f"CASE WHEN b.bucket IS NULL OR b.lowest THEN s.{c} END" for c in _SUMS[2:])}
FROM sums AS s LEFT JOIN buckets AS b ON {_SAME_KEY}
ORDER BY 1
"""


# Index i holds the migration that brings a store from version i to i + 1.
MIGRATIONS: tuple[Migration, ...] = (
    _create_event_tables,
    _create_views,
    _create_api_tokens,
    _create_health_history,
    _create_churn_signals,
    _add_discount_duration,
    _create_rollups,
    _fold_sketch_into_rollups,
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

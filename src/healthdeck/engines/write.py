"""Writing validated records to PostgreSQL or ClickHouse, idempotently.

Ingest validates every batch in an in-memory DuckDB exactly as for a DuckDB store (store/ingest.py);
what it accepted arrives here as an Arrow table of the kind's stored columns. Here the target
decides what is new: an event whose id is stored with the same content is a duplicate, with other
content a conflict (rejected, the stored record kept); an entity re-sent with new content replaces
the stored one. Re-running a batch changes nothing, so a retry after a crash is safe.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pacsv

from healthdeck.engines.ddl import CH_TYPES, stored_columns
from healthdeck.engines.store import PostgresConnection, fresh_requests
from healthdeck.store import rollups
from healthdeck.store.schema import Kind
from healthdeck.store.validate import literal, quote

if TYPE_CHECKING:
    from healthdeck.engines.store import ChdbConnection, EngineStore


@dataclass
class Written:
    """What one batch did to the target: rows stored (new or changed), and the conflicting events."""

    stored: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (event_id, reason)


def write_batch(store: EngineStore, kind: Kind, batch: pa.Table) -> Written:
    """Store a batch of validated rows (the kind's stored columns) in the engine; roll up its new requests."""
    if batch.num_rows == 0:
        return Written()
    con = store.engine
    if isinstance(con, PostgresConnection):
        with con.raw.transaction():  # the rows and their rollups together, or neither
            written = _postgres(con, kind, batch)
            _roll_up_new(store, kind, batch, written)
        return written
    # ClickHouse has no transaction: a crash between the two leaves the batch's minutes short until
    # the batch is ingested again (its rows are then duplicates, so that cannot repair them).
    written = _clickhouse(con, kind, batch)
    _roll_up_new(store, kind, batch, written)
    return written


def _roll_up_new(store: EngineStore, kind: Kind, batch: pa.Table, written: Written) -> None:
    """Add the batch's newly stored requests to the rollups, with store/rollups.py's own INSERT … SELECT.

    The new rows are those carrying the batch's `_ingested_at` (one instant per batch, from the
    DuckDB transaction that validated it): a re-sent request keeps its first one and is not counted twice.
    """
    if kind.name != "requests" or not written.stored:
        return
    at = batch.column("_ingested_at")[0].as_py()
    rollups.roll_up(_Bound(store, {"at": at}), fresh_requests("_ingested_at = $at"))


class _Bound:
    """The store's connection with parameters bound: store/rollups.py's statements take none."""

    def __init__(self, store: EngineStore, params: dict[str, Any]) -> None:
        self.store, self.params = store, params

    def execute(self, sql: str) -> Any:
        return self.store.con.execute(sql, self.params)


def _differences(kind: Kind, fresh: str, kept: str, *, text: Any, otherwise: str = "NULL") -> tuple[str, str]:
    """SQL for whether two rows' contents differ, and the name of each field that does (else `otherwise`)."""
    content = [f for f in kind.fields if f.name != "event_id"]
    tests = {f.name: f"{text(f'{fresh}.{quote(f.name)}')} <> {text(f'{kept}.{quote(f.name)}')}" for f in content}
    differs = " OR ".join(f"({t})" for t in tests.values())
    names = ", ".join(f"CASE WHEN {t} THEN {literal(name)} ELSE {otherwise} END" for name, t in tests.items())
    return differs, names


def _conflict_reason(event_id: str, fields: str) -> str:
    return f'conflicts with the stored record (same event_id "{event_id[:80]}", different {fields})'


# -- PostgreSQL: COPY into a temporary table, then one INSERT … ON CONFLICT -----------------------


def _postgres(con: PostgresConnection, kind: Kind, batch: pa.Table) -> Written:
    names = [name for name, _, _ in stored_columns(kind)]
    columns = ", ".join(quote(n) for n in names)
    table = quote(kind.name)
    con.raw.execute(f"CREATE TEMP TABLE _incoming (LIKE {table}) ON COMMIT DROP")  # in write_batch's transaction
    with con.raw.cursor().copy(f"COPY _incoming ({columns}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(_csv(batch.select(names)))
    conflicts = [] if kind.entity else _postgres_conflicts(con, kind)
    stored = con.raw.execute(_postgres_insert(kind, columns)).rowcount
    return Written(stored, conflicts)


def _csv(batch: pa.Table) -> bytes:
    # Every value quoted, a NULL left empty: COPY tells an empty text from a missing value by that.
    sink = io.BytesIO()
    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
    pacsv.write_csv(batch, sink, write_options=options)
    return sink.getvalue()


def _postgres_insert(kind: Kind, columns: str) -> str:
    insert = f"INSERT INTO {quote(kind.name)} ({columns}) SELECT {columns} FROM _incoming"
    if not kind.entity:
        return f"{insert} ON CONFLICT ({quote(kind.key)}) DO NOTHING"
    updates = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n, _, _ in stored_columns(kind) if n != kind.key)
    return (
        f"{insert} ON CONFLICT ({quote(kind.key)}) DO UPDATE SET {updates} "
        f"WHERE {quote(kind.name)}._record_hash <> excluded._record_hash"
    )


def _postgres_conflicts(con: PostgresConnection, kind: Kind) -> list[tuple[str, str]]:
    def text(column: str) -> str:  # JSON has no equality in PostgreSQL; its canonical text does
        return f"coalesce(CAST({column} AS TEXT), chr(1))"

    differs, names = _differences(kind, "fresh", "kept", text=text)
    rows = con.raw.execute(
        f"SELECT fresh.event_id, concat_ws(', ', {names}) FROM _incoming AS fresh "
        f"JOIN {quote(kind.name)} AS kept ON kept.event_id = fresh.event_id WHERE {differs}"
    ).fetchall()
    return [(event_id, _conflict_reason(event_id, fields)) for event_id, fields in rows]


# -- ClickHouse: only the new rows are inserted; ReplacingMergeTree makes a racing retry one row ----


def _clickhouse(con: ChdbConnection, kind: Kind, batch: pa.Table) -> Written:
    names = [name for name, _, _ in stored_columns(kind)]
    typed = ", ".join(_ch_cast(kind, name, kind_, nullable) for name, kind_, nullable in stored_columns(kind))
    table, key = quote(kind.name), quote(kind.key)
    _incoming = batch.select(names)  # chdb's Python() table function reads it by its name
    con.raw.query("DROP TABLE IF EXISTS _incoming")
    con.raw.query(f"CREATE TABLE _incoming ENGINE = Memory AS SELECT {typed} FROM Python(_incoming)")
    try:
        conflicts = [] if kind.entity else _clickhouse_conflicts(con, kind)
        if kind.entity:
            new = f"({key}, _record_hash) NOT IN (SELECT {key}, _record_hash FROM {table})"
        else:
            new = f"{key} NOT IN (SELECT {key} FROM {table} WHERE {key} IN (SELECT {key} FROM _incoming))"
        stored = int(con.run(f"SELECT count() FROM _incoming WHERE {new}").rows[0][0])
        con.raw.query(f"INSERT INTO {table} SELECT * FROM _incoming WHERE {new}")
    finally:
        con.raw.query("DROP TABLE IF EXISTS _incoming")
    return Written(stored, conflicts)


def _ch_cast(kind: Kind, name: str, type_: str, nullable: bool) -> str:
    ch = CH_TYPES[type_]
    field_ = kind.field(name) if name in kind.columns else None
    required = not nullable or (field_ is not None and field_.required) or name == kind.key
    return f"CAST({quote(name)} AS {ch if required else f'Nullable({ch})'}) AS {quote(name)}"


def _clickhouse_conflicts(con: ChdbConnection, kind: Kind) -> list[tuple[str, str]]:
    def text(column: str) -> str:
        return f"coalesce(toString({column}), char(1))"

    differs, names = _differences(kind, "fresh", "kept", text=text, otherwise="''")
    rows = con.run(
        f"SELECT fresh.event_id, arrayStringConcat(arrayFilter(x -> x != '', [{names}]), ', ') "
        f"FROM _incoming AS fresh INNER JOIN {quote(kind.name)} AS kept ON kept.event_id = fresh.event_id "
        f"WHERE {differs}"
    ).rows
    return [(event_id, _conflict_reason(event_id, fields)) for event_id, fields in rows]

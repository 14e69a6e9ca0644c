"""Running a user's own SQL on a store: one read-only SELECT, with a time limit and Ctrl-C.

The connection's sandbox (see `connection.SANDBOX`) already keeps SQL away from files, the
network, extensions and settings, and a read-only connection cannot write; this module adds
that the text is a single SELECT, and that a runaway query can be stopped.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from healthdeck.errors import HealthdeckError, QueryInterruptedError, QueryStoppedError
from healthdeck.store.connection import Store


@dataclass
class QueryResult:
    """Column names and rows of a query, or the error DuckDB raised."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    error: Exception | None = None


def check_query(con: duckdb.DuckDBPyConnection, text: str) -> str:
    """The text if DuckDB's own parser reads it as exactly one SELECT; a clear error otherwise."""
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise HealthdeckError(f"the query is not valid SQL: {exc}") from exc
    if not statements:
        raise HealthdeckError("the query is empty: write one SELECT over the store's tables and views")
    if len(statements) != 1:
        raise HealthdeckError(
            f"`healthdeck sql` runs one statement, and the query holds {len(statements)}; run them one at a time"
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise HealthdeckError(
            f"`healthdeck sql` only reads, and this query is not a SELECT (DuckDB parses it as {kind.name}); "
            "write one SELECT (or WITH … SELECT) over the store's tables and views"
        )
    return text


def run_query(store: Store, text: str, *, timeout: float) -> QueryResult:
    """Run one SELECT on a read-only store; stop it after `timeout` seconds or on Ctrl-C."""
    if not store.read_only:
        raise ValueError("user SQL runs on read-only connections only")
    query = check_query(store.con, text)
    result = QueryResult()
    # DuckDB does not look at signals while it computes, so the query runs in a worker thread
    # and this thread waits, free to react to the time limit or to Ctrl-C by interrupting it.
    # It waits on an event, not on join(): a join broken by Ctrl-C forgets the thread is alive.
    done = threading.Event()
    threading.Thread(target=_execute, args=(store.con, query, result, done), daemon=True).start()
    try:
        finished = done.wait(timeout)
    except KeyboardInterrupt:
        _stop(store.con, done)
        raise QueryInterruptedError("the query was interrupted (Ctrl-C); the store is unchanged") from None
    if not finished:
        _stop(store.con, done)
        raise QueryStoppedError(
            f"the query was stopped after {timeout:g} s (--timeout); narrow it with WHERE or LIMIT, "
            "or give it more time with --timeout"
        )
    if result.error is not None:
        raise HealthdeckError(f"the query failed: {result.error}")
    return result


def _execute(con: duckdb.DuckDBPyConnection, query: str, result: QueryResult, done: threading.Event) -> None:
    try:
        cursor = con.execute(query)
        result.columns = [d[0] for d in cursor.description or []]
        result.rows = cursor.fetchall()
    except Exception as exc:  # reported by the waiting thread, which raises it as a user error
        result.error = exc
    finally:
        done.set()


def _stop(con: duckdb.DuckDBPyConnection, done: threading.Event) -> None:
    # An interrupt that comes while DuckDB is still starting the query is lost: repeat until it ends.
    while not done.is_set():
        con.interrupt()
        done.wait(0.05)


def json_value(value: Any) -> Any:
    """A DuckDB value as JSON: exact integers (HUGEINT too), ISO 8601 times, base64 blobs."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON has no NaN or infinity
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def _iso_duration(value: dt.timedelta) -> str:
    """An INTERVAL as ISO 8601, e.g. P1DT2H3M4.5S (DuckDB hands months over as 30 days)."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    second_text = f"{seconds + value.microseconds / 1e6:g}"
    return f"{sign}P{value.days}DT{hours}H{minutes}M{second_text}S"

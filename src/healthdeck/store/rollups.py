"""Per-minute rollups of requests with a mergeable latency sketch, kept up to date at ingest.

`request_rollups` holds, per minute (UTC), key (tenant, tier, endpoint, method, exact HTTP status)
and latency bucket, the number of requests, of 5xx, and the sums of latency and bytes. The buckets
are a DDSketch-style histogram of latency_ms: log-spaced, of relative accuracy ALPHA, so an
estimated quantile is within 1% of the exact one. A count or sum adds up a key's buckets.

One table rather than a table of sums beside a table of buckets: ingest writes each batch's
aggregates once, for 0.84 s of CPU a million requests where two tables took 1.09 s (the ingest
rows of benchmarks/bench_rollups.py, with rollups against without), and a key has fewer rows in all.
A store rolled up before (schema 7) kept its sums apart from its buckets; its
sums moved onto each key's lowest bucket (store/migrations.py, migration 8).

Rows are append-only partial aggregates: a reader always sums per key, so a late event simply adds
a partial row to its (earlier) minute, and merging partials (`compact`) changes no answer. This is
how ClickHouse's SummingMergeTree works, and the SQL here is plain INSERT … SELECT … GROUP BY.
The engine reads these tables in engine/measures/rollup.py.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ROLLUPS = "request_rollups"
# Schema 7 kept the latency buckets in a table of their own; upgrades remove it (store/migrations.py, engines/store.py).
SCHEMA_7_SKETCH = "request_latency_sketch"
KEYS = ("tenant_id", "tier", "endpoint", "method", "status")

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LN_GAMMA = math.log(GAMMA)
# The bucket of a zero latency (ln is undefined there): below any positive double's bucket (>= -37,300).
ZERO_BUCKET = -(2**31)
# Partial rows per key a batch's minutes may hold before ingest merges them.
PILE_UP = 2

CREATE_ROLLUPS = (
    f"CREATE OR REPLACE TABLE {ROLLUPS} (minute TIMESTAMPTZ NOT NULL, tenant_id VARCHAR, tier VARCHAR, "
    "endpoint VARCHAR, method VARCHAR, status INTEGER, bucket INTEGER, requests BIGINT NOT NULL, "
    "errors_5xx BIGINT NOT NULL, latency_sum DOUBLE NOT NULL, request_bytes BIGINT, response_bytes BIGINT)"
)

# ts truncated to the minute in UTC (the store's time zone, store/connection.py); DuckDB's time_bucket
# does it in half the time of date_trunc('minute', ts), which other engines spell portably.
_MINUTE = "time_bucket(INTERVAL 1 minute, ts)"
_KEYS = ", ".join(KEYS)
# What a rollup row is the partial aggregate of: its minute, key and latency bucket.
_GROUP = f"minute, {_KEYS}, bucket"
# The minutes of a batch's new requests.
_MINUTES = "_rolled_up_minutes"


def bucket_sql(column: str) -> str:
    """The sketch bucket of a latency: ceil(log_gamma(x)), or ZERO_BUCKET for 0 (latency is never negative)."""
    return f"CASE WHEN {column} > 0 THEN CAST(ceil(ln({column}) / {LN_GAMMA!r}) AS INTEGER) ELSE {ZERO_BUCKET} END"


def bucket_value(bucket: int) -> float:
    """The estimate of every value in a bucket, within ALPHA of each: 2·gamma^i / (gamma + 1)."""
    return 0.0 if bucket == ZERO_BUCKET else 2 * GAMMA**bucket / (GAMMA + 1)


def requests_by_minute(*, where: str = "true", minute: str = _MINUTE) -> str:
    """The SELECT of the stored requests `where` holds, with their minute, latency bucket and what the rollups sum."""
    return (
        f"SELECT {minute} AS minute, {_KEYS}, {bucket_sql('latency_ms')} AS bucket, latency_ms, request_bytes, "
        f"response_bytes FROM requests WHERE {where}"
    )


def roll_up(con: Any, source: str) -> None:
    """Append the partial aggregates of the requests of `source`, a relation of `requests_by_minute`."""
    con.execute(_insert(source))


def _insert(source: str) -> str:
    """The INSERT … SELECT … GROUP BY adding `source`'s partial aggregates to ROLLUPS."""
    return (
        f"INSERT INTO {ROLLUPS} SELECT {_GROUP}, count(*), sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END), "
        f"sum(latency_ms), sum(request_bytes), sum(response_bytes) FROM {source} GROUP BY {_GROUP}"
    )


def roll_up_all(con: Any) -> None:
    """Build the rollups from every stored request (migration 7)."""
    roll_up(con, f"({requests_by_minute()})")


def roll_up_fresh(con: Any) -> None:
    """Roll up the requests this transaction inserted, then merge partials if they piled up.

    Rows inserted in this transaction carry its `now()` in `_ingested_at` (store/ingest.py relies on
    it too); given as a constant, the filter skips every older row group by its min/max.
    """
    now = con.execute("SELECT now()").fetchall()[0][0]
    fresh = f"({requests_by_minute(where='_ingested_at = ?')})"
    added = con.execute(_insert(fresh), [now]).fetchall()[0][0]  # DuckDB answers an INSERT with its row count
    _merge_if_piled_up(con, fresh=fresh, now=now, added=added)


def _merge_if_piled_up(con: Any, *, fresh: str, now: datetime, added: int) -> None:
    """Merge the rollups of the batch's own minutes, of its tenants, if partial rows piled up there.

    The rows between the bounds of its minutes and tenants are counted first: when they are few
    enough (see `_piled_up`), so are those of its own minutes, and no table of them is made (the
    usual case; making one costs a twelfth of the roll-up). Only a batch whose bounds hold many rows
    looks at its own minutes, which leaves out the month between a late request and the rest.
    """
    bounds = f"SELECT min(minute), max(minute), min(tenant_id), max(tenant_id) FROM {fresh}"
    span = Span(*con.execute(bounds, [now]).fetchall()[0])
    if _rows(con, span) <= PILE_UP * added:
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_MINUTES} AS SELECT DISTINCT minute FROM {fresh}", [now])
    own_minutes = dataclasses.replace(span, minutes=_MINUTES)
    if _piled_up(con, own_minutes, added=added):
        compact(con, own_minutes)
    con.execute(f"DROP TABLE {_MINUTES}")


@dataclass(frozen=True)
class Span:
    """The part of the rollups a batch added rows to: the minutes from its first to its last, of
    the tenants from its lowest to its highest id (a request always has one); all None for an empty
    batch. With `minutes`, the name of a table of the batch's own minutes, only those.

    The tenants' bounds keep each batch of a file ordered by tenant rather than time (each spanning
    all the file's minutes) from looking at every batch before it; `minutes` keeps a late request
    from having every minute between it and the rest of its batch looked at. The bounds let zone
    maps skip whole row groups.
    """

    first: datetime | None
    last: datetime | None
    low_tenant: str | None
    high_tenant: str | None
    minutes: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The condition on a rollup table's rows, and its parameters."""
        condition = "minute BETWEEN ? AND ? AND tenant_id BETWEEN ? AND ?"
        if self.minutes:
            condition += f" AND minute IN (SELECT minute FROM {self.minutes})"
        return condition, [self.first, self.last, self.low_tenant, self.high_tenant]


def _piled_up(con: Any, span: Span, *, added: int) -> bool:
    """Whether the rollups of `span` hold more than PILE_UP rows per key, just after a batch added
    `added` rows there, one per key (and latency bucket) it has.

    Counting their distinct keys hashes every row of the span, so it is skipped when the row count
    alone answers. With E rows there before the batch, rows = E + added, and the batch's rows being
    of distinct keys, distinct >= added. So rows <= PILE_UP·added gives rows <= PILE_UP·distinct:
    not piled up. That is every batch of minutes new to the store (E = 0), the usual case; only a
    batch into a span already holding more than (PILE_UP - 1)·added rows counts its keys, and the
    answer is the same as counting them always. An empty batch (no span) has 0 rows there.
    """
    rows = _rows(con, span)
    if rows <= PILE_UP * added:
        return False
    condition, params = span.where()
    distinct_keys = f"SELECT count(DISTINCT ({_GROUP})) FROM {ROLLUPS} WHERE {condition}"
    return bool(rows > PILE_UP * con.execute(distinct_keys, params).fetchall()[0][0])


def _rows(con: Any, span: Span) -> int:
    condition, params = span.where()
    return int(con.execute(f"SELECT count(*) FROM {ROLLUPS} WHERE {condition}", params).fetchall()[0][0])


def compact(con: Any, span: Span) -> None:
    """Merge the partial rows of each key of `span` into one.

    Sums of sums: every answer stays the same. Run inside the caller's transaction.
    """
    condition, params = span.where()
    merged = (
        f"SELECT {_GROUP}, sum(requests), sum(errors_5xx), sum(latency_sum), sum(request_bytes), "
        f"sum(response_bytes) FROM {ROLLUPS} WHERE {condition} GROUP BY {_GROUP}"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _merged AS {merged}", params)
    con.execute(f"DELETE FROM {ROLLUPS} WHERE {condition}", params)
    con.execute(f"INSERT INTO {ROLLUPS} SELECT * FROM _merged")
    con.execute("DROP TABLE _merged")

"""Retention: how long the store keeps raw events and rollups, and expiry, which deletes what is older.

The settings live in the store (its `_healthdeck_meta` table), so `serve`, `ingest`, `store expire`
and a cron job all read the same ones. Unset, a class of tables is kept for ever: expiry deletes
data for good, so it happens only once someone has asked for it.

Which tables expire is declared once, in `EXPIRING`: the high-volume event tables follow the raw
setting, the rollup tables (store/rollups.py) the rollups one. Entities (tenants, users,
tickets, jobs, incidents) are state, not events, and are never expired; nor are subscriptions (MRR
is read from each one's latest state), payments and spend (the money records the business KPIs
read over months and years).

Expiry deletes oldest first, one UTC day of one table per transaction, so that each transaction is
short: readers never wait (DuckDB readers see the last committed state), and a server's writer
serves ingest batches between chunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from healthdeck.catalog.durations import format_duration, parse_duration
from healthdeck.errors import HealthdeckError
from healthdeck.store import rollups
from healthdeck.store.connection import Store
from healthdeck.store.migrations import META_TABLE
from healthdeck.store.schema import KINDS
from healthdeck.store.transaction import transaction

RAW, ROLLUPS = "raw", "rollups"
SETTINGS = (RAW, ROLLUPS)
KEEP = "keep"
# A year of retention is 365 days (a retention is a length, not a calendar date).
YEAR = timedelta(days=365)
# Shorter than this is far more likely a typo (90m for 90 days) than a wish to delete nearly everything.
SHORTEST = timedelta(days=1)
DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEARS = re.compile(r"^\s*(\d+)\s*y\s*$")


@dataclass(frozen=True)
class ExpiringTable:
    """A table whose rows expire: the setting that governs it and the column that places a row in time."""

    table: str
    time_column: str
    setting: str


RAW_EVENTS = ("requests", "activity", "samples", "tier_events", "webhook_deliveries", "security_events")
EXPIRING: tuple[ExpiringTable, ...] = (
    *(ExpiringTable(name, KINDS[name].time_field, RAW) for name in RAW_EVENTS),
    ExpiringTable(rollups.ROLLUPS, "minute", ROLLUPS),
)
# The record kinds that are never expired, and why (tests check every kind is in one list or the other).
NEVER_EXPIRED = {
    "tenants": "an entity",
    "users": "an entity",
    "tickets": "an entity",
    "jobs": "an entity",
    "incidents": "an entity",
    "subscriptions": "each subscription's latest state makes MRR",
    "payments": "money records read over months",
    "spend": "money records read over months",
}


@dataclass(frozen=True)
class Retention:
    """How long each class of tables is kept (None: for ever)."""

    raw: timedelta | None = None
    rollups: timedelta | None = None

    def of(self, setting: str) -> timedelta | None:
        return self.raw if setting == RAW else self.rollups

    def as_json(self) -> dict[str, str | None]:
        return {name: _shown(self.of(name)) for name in SETTINGS}


def _shown(kept: timedelta | None) -> str | None:
    if kept is None:
        return None
    return f"{kept // YEAR}y" if kept % YEAR == timedelta(0) else format_duration(kept)


def parse_retention(option: str, text: str) -> timedelta | None:
    """A retention as written after `option`: `keep` (None), a duration such as 90d, or years (2y)."""
    if text.strip().lower() == KEEP:
        return None
    years = _YEARS.match(text)
    try:
        kept = int(years.group(1)) * YEAR if years else parse_duration(text)
    except ValueError as exc:
        raise HealthdeckError(f"{option}: {exc}, 2y, or keep (never expire)") from exc
    if kept < SHORTEST:
        raise HealthdeckError(
            f"{option} {text}: a retention is at least 1d (write 90d for 90 days); keep never expires"
        )
    return kept


def read_retention(store: Store) -> Retention:
    """The store's retention settings (unset: keep for ever)."""
    rows = store.con.execute(
        f"SELECT key, value FROM {META_TABLE} WHERE key IN ('retention_raw', 'retention_rollups')"
    ).fetchall()
    values = {key.removeprefix("retention_"): parse_duration(value) for key, value in rows}
    return Retention(raw=values.get(RAW), rollups=values.get(ROLLUPS))


def raw_cutoff(store: Store, table: str, *, now: datetime) -> tuple[str, datetime, str] | None:
    """For a raw event table under a raw retention: its time column, the instant before which its
    records are past the retention, and the retention as written (90d); None when it keeps everything."""
    spec = next((spec for spec in EXPIRING if spec.table == table and spec.setting == RAW), None)
    kept = read_retention(store).raw if spec is not None else None
    return None if spec is None or kept is None else (spec.time_column, now - kept, _shown(kept) or KEEP)


def write_retention(store: Store, *, changes: dict[str, timedelta | None]) -> Retention:
    """Change the named settings (None: keep for ever) and answer them all; rollups never expire before raw events."""
    wanted = replace(read_retention(store), **changes)
    if wanted.raw is not None and wanted.rollups is not None and wanted.rollups < wanted.raw:
        raise HealthdeckError(
            f"--rollups {_shown(wanted.rollups)} is shorter than --raw {_shown(wanted.raw)}: rollups summarise "
            "the raw events and must be kept at least as long; raise --rollups or lower --raw"
        )
    if wanted.raw is None and wanted.rollups is not None:
        raise HealthdeckError(
            f"--rollups {_shown(wanted.rollups)} with raw events kept for ever would expire summaries of "
            "events still kept; set --raw too (e.g. --raw 90d) or keep the rollups"
        )
    con = store.con
    with transaction(con):
        for name, kept in changes.items():
            con.execute(f"DELETE FROM {META_TABLE} WHERE key = ?", [f"retention_{name}"])
            if kept is not None:
                con.execute(f"INSERT INTO {META_TABLE} VALUES (?, ?)", [f"retention_{name}", format_duration(kept)])
    return wanted


@dataclass(frozen=True)
class Chunk:
    """One delete of expiry: the rows of `table` older than `before` (at most a day of them)."""

    table: ExpiringTable
    before: datetime


@dataclass(frozen=True)
class TableExpiry:
    """What expiry does to one table: rows older than `cutoff` go, `expired` of them."""

    table: str
    kept_for: str
    cutoff: datetime
    expired: int

    def as_json(self) -> dict[str, object]:
        return {
            "table": self.table,
            "kept_for": self.kept_for,
            "cutoff": self.cutoff.isoformat(),
            "expired": self.expired,
        }


@dataclass(frozen=True)
class ExpiryPlan:
    """What expiry at one moment will delete (`tables`, with counts) and the deletes that do it, oldest first."""

    tables: list[TableExpiry]
    chunks: list[Chunk]


def plan_expiry(store: Store, *, now: datetime) -> ExpiryPlan:
    """For each expiring table a retention covers: its cutoff, its expired rows, their days."""
    retention = read_retention(store)
    tables, deletes = [], []
    for spec in EXPIRING:
        kept = retention.of(spec.setting)
        if kept is None:
            continue
        cutoff = now - kept
        days = _expired_days(store, spec, cutoff=cutoff)
        tables.append(TableExpiry(spec.table, _shown(kept) or KEEP, cutoff, sum(count for _, count in days)))
        ends = [min(day_end, cutoff) for day_end, _ in days]
        if ends:  # the last up to the cutoff itself (no row lies between its day's end and the cutoff),
            ends[-1] = cutoff  # so the mark it leaves says truly that everything before the cutoff is gone
        deletes += [Chunk(spec, end) for end in ends]
    return ExpiryPlan(tables, deletes)


def _expired_days(store: Store, spec: ExpiringTable, *, cutoff: datetime) -> list[tuple[datetime, int]]:
    """The end of each UTC day holding rows older than `cutoff`, and how many, oldest first (days by epoch:
    no time zone setting involved)."""
    rows = store.con.execute(
        f'SELECT floor(epoch("{spec.time_column}") / 86400)::BIGINT AS day, count(*) FROM "{spec.table}" '
        f'WHERE "{spec.time_column}" < ? GROUP BY day ORDER BY day',
        [cutoff],
    ).fetchall()
    return [(EPOCH + (day + 1) * DAY, int(count)) for day, count in rows]


# `_healthdeck_meta` keys: before which instant a table's rows were ever expired (the engine's explanations).
EXPIRED_BEFORE = "expired_before:"


def delete_chunk(store: Store, chunk: Chunk) -> int:
    """Delete one chunk in its own short transaction, and keep the mark of how far its table was expired;
    answers how many rows went."""
    spec = chunk.table
    with transaction(store.con):
        # DuckDB answers a DELETE with the count of the rows it deleted.
        row = store.con.execute(f'DELETE FROM "{spec.table}" WHERE "{spec.time_column}" < ?', [chunk.before]).fetchone()
        deleted = int(row[0]) if row else 0
        if deleted:
            _mark_expired(store, spec.table, chunk.before)
    return deleted


def _mark_expired(store: Store, table: str, before: datetime) -> None:
    """Raise the table's mark to `before` (never lower it: what was deleted stays deleted)."""
    # One fixed format, so that the text order of two marks is their time order.
    value = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    store.con.execute(
        f"INSERT INTO {META_TABLE} VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = greatest(value, excluded.value)",
        [EXPIRED_BEFORE + table, value],
    )


def expiry_marks(con: Any) -> dict[str, datetime]:
    """{table: before which instant its rows were expired}, for each table expiry ever deleted from."""
    rows = con.execute(f"SELECT key, value FROM {META_TABLE} WHERE key LIKE '{EXPIRED_BEFORE}%'").fetchall()
    return {key.removeprefix(EXPIRED_BEFORE): datetime.fromisoformat(value) for key, value in rows}


def expired(plan: ExpiryPlan, deleted: list[int]) -> list[TableExpiry]:
    """The plan's tables with the rows each chunk actually deleted (`deleted`, in the plan's chunk order)."""
    by_table: dict[str, int] = {}
    for chunk, count in zip(plan.chunks, deleted, strict=True):
        by_table[chunk.table.table] = by_table.get(chunk.table.table, 0) + count
    return [replace(table, expired=by_table.get(table.table, 0)) for table in plan.tables]


def expire(store: Store, *, now: datetime) -> list[TableExpiry]:
    """Delete every row past its table's retention at `now`, chunk by chunk; answers what went, per table."""
    plan = plan_expiry(store, now=now)
    return expired(plan, [delete_chunk(store, chunk) for chunk in plan.chunks])

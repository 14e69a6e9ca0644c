"""Ingest: validated, deduplicated, all-or-nothing batches into the store.

Every writer (files, the simulator, later the HTTP API) goes through
`ingest_table`: validate (validate.py), drop what is already stored, insert,
commit. A batch is one transaction, so a crash loses at most the batch in
flight, and re-running the same input converges to the same store.
"""

from __future__ import annotations

import os
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from healthdeck.errors import HealthdeckError
from healthdeck.store.blocks import BLOCK_BYTES, FIRST_BLOCK_BYTES, LineBlock, whole_line_blocks
from healthdeck.store.connection import Store
from healthdeck.store.read_ahead import read_ahead
from healthdeck.store.readers import (
    RawRecord,
    csv_header,
    csv_pieces,
    csv_records,
    file_format,
    jsonl_pieces,
    jsonl_record,
    line_numbers,
    open_binary,
    raw_text,
    read_parquet,
)
from healthdeck.store.recent_ids import BatchIds
from healthdeck.store.retention import raw_cutoff
from healthdeck.store.rollups import roll_up_fresh
from healthdeck.store.schema import KINDS, Field, Kind
from healthdeck.store.transaction import transaction
from healthdeck.store.validate import literal, missing_columns, quote, validation_query

# At least DuckDB's row group (122,880 rows): a batch that large is written straight to the store's
# file at commit, not to its write-ahead log and then again at the checkpoint (twice the CPU time).
# And at least four: DuckDB splits a statement's work by row group, so each of its threads gets whole
# shares (200,000 rows made one of 122,880 and one of 77,120, and a Parquet file's batches ran on 1.3
# of this machine's 2 cores; 500,000 run on 1.8). Text files' blocks also end at BLOCK_BYTES.
BATCH_ROWS = 500_000
# A text file's batch also ends after about this many bytes of it, whatever --batch-rows says: three of
# its blocks (BLOCK_BYTES), which hold the default batch of request records (316 bytes a line).
BATCH_BYTES = 3 * BLOCK_BYTES
SHOWN_REJECTS = 20
# A re-sent event_id is recognised (a duplicate, or a conflict) when the stored event's time is
# within this of the record's: a duplicate has the same time, and so has a corrected record unless
# its time itself moved by more. Farther apart, it is another event. Looking only there keeps a
# batch's cost from growing with the store (see `_batch_facts`). Lines of one batch with one id are
# one event whatever their times (the first is kept).
REPEAT = timedelta(days=1)
REPEAT_WINDOW = f"INTERVAL {REPEAT.days} DAY"
# Field names a record cannot use: "kind" routes it, the others are the staging table's own columns.
RESERVED = ("kind", "_line", "_pre_error", "_raw")


@dataclass(frozen=True)
class Reject:
    """A record that was not stored, where it came from, and why."""

    source: str
    line: int | None
    error: str
    record: Any = None

    def describe(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.error}"


@dataclass
class RejectSink:
    """Writes rejects as JSON Lines to `path` (created on the first reject) and keeps the first few."""

    path: Path
    count: int = 0
    first: list[Reject] = field(default_factory=list)
    _file: Any = None

    def add(self, reject: Reject) -> None:
        self.count += 1
        if len(self.first) < SHOWN_REJECTS:
            self.first.append(reject)
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        entry = {"source": reject.source, "line": reject.line, "error": reject.error, "record": reject.record}
        self._file.write(orjson.dumps(entry, default=str) + b"\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclass
class IngestReport:
    """Totals of one ingest run; `as_json()` is the documented `--output json` shape."""

    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    rejects_file: str | None = None
    by_kind: dict[str, int] = field(default_factory=dict)
    first_rejects: list[Reject] = field(default_factory=list)
    seconds: float = 0.0
    bytes_read: int = 0
    # With `ingest_files(..., parts=...)`: each part's stored and duplicate records (its rejects are
    # those of the rejects file on its lines).
    parts: list[IngestReport] = field(default_factory=list)

    def add_batch(self, kind: str, accepted: int, duplicates: int) -> None:
        self.accepted += accepted
        self.duplicates += duplicates
        self.by_kind[kind] = self.by_kind.get(kind, 0) + accepted

    def add(self, other: IngestReport) -> None:
        """Count another report's records in this one (a batch stored part by part)."""
        self.rejected += other.rejected
        self.first_rejects.extend(other.first_rejects[: SHOWN_REJECTS - len(self.first_rejects)])
        for kind, accepted in other.by_kind.items():
            self.add_batch(kind, accepted, 0)
        self.duplicates += other.duplicates

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "rejects_file": self.rejects_file,
            "records_per_s": self.records_per_s,
            "bytes_per_s": self.bytes_per_s,
            "by_kind": self.by_kind,
        }

    @property
    def records_per_s(self) -> int:
        """Records read per second of the run: stored, duplicates and rejected alike."""
        records = self.accepted + self.duplicates + self.rejected
        return round(records / self.seconds) if self.seconds > 0 else 0

    @property
    def bytes_per_s(self) -> int:
        """Bytes of the files read per second of the run (a Parquet file's bytes on disk)."""
        return round(self.bytes_read / self.seconds) if self.seconds > 0 else 0


RawOf = Callable[[int], str]


def ingest_table(
    store: Store,
    kind: Kind,
    table: pa.Table,
    *,
    source: str,
    sink: RejectSink | None,
    report: IngestReport,
    raw_of: RawOf | None = None,
    parts: list[int] | None = None,
    part_start: int = 1,
) -> None:
    """Validate one batch and store its new records in a single transaction.

    `raw_of` gives a rejected record's text by its line, for a batch read from a text file. `parts`
    (the first line of each, ascending) splits the batch into parts sent apart, HTTP bodies stored
    together (api/group_commit.py): each part's stored and duplicate records are counted in
    `report.parts`. A part's answer must be what it would have got alone, after the parts before it:
    when a record's id is repeated in the batch, the parts are stored one after the other instead,
    each with its `part_start`: the line its messages count lines from ("conflicts with line 2").
    """
    if store.read_only:  # a reader's view (the server's readers): only the writer stores, and keeps count
        raise HealthdeckError("the store is open read-only: nothing can be ingested through it")
    if "_line" not in table.column_names:
        table = table.append_column("_line", pa.array(range(1, table.num_rows + 1), pa.int64()))
    shown_types = {f.name: str(f.type) for f in table.schema}
    con = store.con
    try:
        with transaction(con):
            con.register("_staged", table)  # after BEGIN, which ends any result still open
            try:
                staged_types = {row[0]: str(row[1]) for row in con.execute("DESCRIBE _staged").fetchall()}
                relation = _with_missing_columns(kind, staged_types)
                query = validation_query(kind, staged_types, relation, shown_types=shown_types)
                con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {query}")
                _refuse_past_retention(store, kind)
                rejected = con.execute(
                    "SELECT _line, _errors FROM _checked WHERE _errors IS NOT NULL ORDER BY _line"
                ).fetchall()
                valid = table.num_rows - len(rejected)  # `_checked` has a row for each staged one
                if parts is not None and _repeated_keys(con, kind):
                    raise _OneAfterAnother
                lines = _lines(con) if parts is not None else None
                if kind.entity:
                    stored, conflicts, stored_lines = _store_entities(store, kind, valid_lines=lines)
                else:
                    stored, conflicts, stored_lines = _store_events(
                        store, kind, valid, valid_lines=lines, part_start=part_start
                    )
                con.execute("DROP TABLE _checked")
            finally:
                con.unregister("_staged")
    except _OneAfterAnother:
        _store_parts_in_turn(store, kind, table, parts or [], source=source, sink=sink, report=report, raw_of=raw_of)
        return
    report.add_batch(kind.name, stored, valid - stored - len(conflicts))
    if parts is not None and lines is not None and stored_lines is not None:
        refused = [line for line, _ in rejected]
        _count_parts(
            report,
            kind,
            parts,
            valid=lines,
            stored=stored_lines,
            conflicts=[line for line, _ in conflicts],
            refused=refused,
        )
    if rejected or conflicts:
        _record_rejects(table, sorted(rejected + conflicts), source=source, sink=sink, report=report, raw_of=raw_of)
    store.batch_stored(kind, table, source=source, sink=sink, report=report, raw_of=raw_of)


class _OneAfterAnother(Exception):
    """Raised inside a batch's transaction (rolling it back) when its parts must be stored in turn."""


def _repeated_keys(con: Any, kind: Kind) -> bool:
    """Whether a key (an event's id, an entity's) is on more than one valid line of the batch. Events
    without an id are keyed by their content, computed here as `_identify_by_content` will."""
    key = quote(kind.key) if kind.entity else f"coalesce(event_id, {_content_hash(kind)})"
    return _count(con, f"SELECT count(*) - count(DISTINCT {key}) FROM _checked WHERE _errors IS NULL") > 0


def _store_parts_in_turn(
    store: Store,
    kind: Kind,
    table: pa.Table,
    parts: list[int],
    *,
    source: str,
    sink: RejectSink | None,
    report: IngestReport,
    raw_of: RawOf | None,
) -> None:
    """Store each part's rows as a batch of its own, in order, each counted in its own report."""
    lines = table.column("_line")
    for index, (first, end) in enumerate(zip(parts, [*parts[1:], None], strict=True)):
        inside = pc.greater_equal(lines, first)
        rows = table.filter(inside if end is None else pc.and_(inside, pc.less(lines, end)))
        if rows.num_rows:
            part = IngestReport()
            ingest_table(store, kind, rows, source=source, sink=sink, report=part, raw_of=raw_of, part_start=first)
            report.add(part)
            report.parts[index].add(part)


def _count_parts(
    report: IngestReport,
    kind: Kind,
    parts: list[int],
    *,
    valid: np.ndarray,
    stored: np.ndarray,
    conflicts: list[int],
    refused: list[int],
) -> None:
    """Count each part's stored and duplicate records (a conflict is a reject) from their lines; a part
    with any record of the kind in the batch, even only refused ones, names the kind (as alone)."""
    starts = np.asarray(parts, np.int64)

    def per_part(lines: np.ndarray | list[int]) -> np.ndarray:
        places = np.searchsorted(starts, np.asarray(lines, np.int64), side="right") - 1
        return np.bincount(places, minlength=len(parts))

    counts = zip(report.parts, per_part(valid), per_part(stored), per_part(conflicts), per_part(refused), strict=True)
    for part, valid_n, stored_n, conflicts_n, refused_n in counts:
        if valid_n or refused_n:
            part.add_batch(kind.name, int(stored_n), int(valid_n - stored_n - conflicts_n))


def _refuse_past_retention(store: Store, kind: Kind) -> None:
    """Reject the valid events older than the store's raw retention (store/retention.py).

    Their raw row would go at the next expiry while the rollups kept counting them, so a later
    re-send could no longer be recognised and would be counted twice: refused, they lose nothing.
    """
    past = raw_cutoff(store, kind.name, now=datetime.now(UTC))
    if past is None:
        return
    column, cutoff, kept = past
    reason = literal(f'field "{column}": older than the store\'s raw retention ({kept}): ')
    store.con.execute(
        f"UPDATE _checked SET _errors = {reason} || CAST({quote(column)} AS VARCHAR) "
        f"WHERE _errors IS NULL AND {quote(column)} < ?",
        [cutoff],
    )


def _with_missing_columns(kind: Kind, staged_types: dict[str, str]) -> str:
    missing = missing_columns(kind, staged_types)
    extra = "".join(f", CAST(NULL AS VARCHAR) AS {quote(name)}" for name in missing)
    for name in missing:
        staged_types[name] = "VARCHAR"
    return f"(SELECT *{extra} FROM _staged)"


def _count(con: Any, sql: str, params: dict[str, Any] | None = None) -> int:
    row = next(iter(con.execute(sql, params).fetchall()), None)
    return int(row[0]) if row else 0


def _content_hash(kind: Kind) -> str:
    """A deterministic hash of a record's values, the identity of records without an id."""
    parts = [f"coalesce(CAST({quote(f.name)} AS VARCHAR), chr(0))" for f in kind.fields if f.name != "event_id"]
    return f"md5(concat_ws(chr(31), {', '.join(parts)}))"


def _store_events(
    store: Store, kind: Kind, valid: int, *, valid_lines: np.ndarray | None = None, part_start: int = 1
) -> tuple[int, list[tuple[int, str]], np.ndarray | None]:
    """Insert the valid events of `_checked` whose id is new; return how many, and the conflicts.

    An event is an immutable fact, so a re-sent `event_id` must carry the same content (typed
    values: `Z` and `+00:00` spellings of one instant are one content). Identical, it is a
    duplicate; different, a conflict, rejected: the stored record, or the first line of the batch
    with that id, is kept. An id is looked for among the stored events near the batch in time
    (`_batch_facts`), so the cost of a batch does not grow with the store. Given the lines of its valid
    events, also the lines of those stored (of a batch without repeated ids: `ingest_table`'s parts).
    """
    con = store.con
    table, columns = quote(kind.name), ", ".join(quote(f.name) for f in kind.fields)
    without_id, repeated, near, bounds = _batch_facts(con, kind)
    if without_id:
        _identify_by_content(con, kind)
        repeated = _count(con, "SELECT count(*) - count(DISTINCT event_id) FROM _checked WHERE _errors IS NULL")
    # Keeping the first of several lines with one id takes a window over the batch, which costs
    # more than the insert itself; a count of distinct ids says when it is needed.
    first_only = " QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _line) = 1" if repeated else ""
    insert = (
        f"INSERT INTO {table} ({columns}, _ingested_at) SELECT {columns}, now() FROM ({_valid_events(kind)}) AS fresh"
    )
    batch = BatchIds(con, kind) if store.recent_ids is not None and bounds["earliest"] is not None else None
    if _may_be_stored(store, batch, near, bounds):
        # The batch's ids already stored near the time of their first line, with the batch as the
        # join's hash table (NOT EXISTS hashed every stored id instead, each batch, in memory).
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _known AS SELECT DISTINCT kept.event_id FROM {near} AS kept "
            f"JOIN ({_valid_events(kind)}{first_only}) AS fresh "
            f"ON kept.event_id = fresh.event_id AND {_same_time(kind, 'fresh')}",
            bounds,
        )
        inserted = _count(con, f"{insert} ANTI JOIN _known ON _known.event_id = fresh.event_id{first_only}")
        known = "AND event_id NOT IN (SELECT event_id FROM _known)"
        stored = _lines(con, known) if valid_lines is not None else None
        con.execute("DROP TABLE _known")
    else:  # no id of the batch is stored near it (a first load of history, new live events)
        inserted = _count(con, f"{insert}{first_only}")
        stored = valid_lines  # every valid event is new
    if store.recent_ids is not None and batch is not None:
        store.recent_ids.add(batch, bounds["earliest"])
    if kind.name == "requests" and inserted:
        roll_up_fresh(con)
    conflicts = _event_conflicts(con, kind, near=near, bounds=bounds, part_start=part_start) if inserted < valid else []
    return inserted, conflicts, stored


def _lines(con: Any, condition: str = "") -> np.ndarray:
    """The lines of the batch's valid rows meeting `condition`."""
    rows = con.execute(f"SELECT _line FROM _checked WHERE _errors IS NULL {condition}").fetchnumpy()
    return np.asarray(rows["_line"])


def warm_recent_ids(store: Store) -> None:
    """Read the hashes of the ids stored around now (recent_ids.py) for every kind of event, before
    any batch needs them: the server's writer does it first, while nothing waits for it."""
    if store.recent_ids is not None:
        store.recent_ids.warm(store.con, [kind for kind in KINDS.values() if not kind.entity], reach=REPEAT)


def _identify_by_content(con: Any, kind: Kind) -> None:
    """Give each valid event without an id the hash of its content as id (`_content_hash`), once
    for the statements that look it up, insert it and name its conflicts."""
    con.execute(f"UPDATE _checked SET event_id = {_content_hash(kind)} WHERE event_id IS NULL AND _errors IS NULL")


def _may_be_stored(store: Store, batch: BatchIds | None, near: str, bounds: dict[str, Any]) -> bool:
    """Whether an id of the batch may be stored near it in time. The live platform's hashes of the
    ids stored around now (recent_ids.py) answer "no" without reading the store; otherwise the zone
    maps on time tell whether any event at all is stored near the batch."""
    recent = store.recent_ids
    held = recent.may_hold(batch, bounds["earliest"], bounds["latest"]) if recent and batch else None
    if held is False:
        return False
    return _any_stored(store.con, near, bounds)


def _any_stored(con: Any, near: str, bounds: dict[str, Any]) -> bool:
    """Whether any event is stored near the batch in time; the zone maps on time answer it."""
    return _count(con, f"SELECT count(*) FROM (SELECT 1 FROM {near} LIMIT 1)", bounds) > 0


def _same_time(kind: Kind, fresh: str) -> str:
    """The condition that a stored event `kept` is near enough in time to the `fresh` one (a row
    with the kind's time field) to be the same event if their ids are (REPEAT_WINDOW)."""
    column = quote(kind.time_field)
    return f"kept.{column} BETWEEN {fresh}.{column} - {REPEAT_WINDOW} AND {fresh}.{column} + {REPEAT_WINDOW}"


def _batch_facts(con: Any, kind: Kind) -> tuple[int, int, str, dict[str, Any]]:
    """In one statement (each is a millisecond of a small batch's 25): how many valid events have no
    id, how many repeat an id of the batch (with ids only), and the stored events the batch's ids are
    looked for in, with their query parameters: those whose time is within REPEAT_WINDOW of the
    batch's valid events' times.

    The store's zone maps on time then skip every row group outside the window, which the
    store's own order (mostly by arrival, so by time) makes nearly all of them.
    """
    column = quote(kind.time_field)
    without_id, repeated, earliest, latest = con.execute(
        "SELECT count(*) FILTER (event_id IS NULL), count(event_id) - count(DISTINCT event_id), "
        f"min({column}) - {REPEAT_WINDOW}, max({column}) + {REPEAT_WINDOW} FROM _checked WHERE _errors IS NULL"
    ).fetchall()[0]
    near = f"(SELECT * FROM {quote(kind.name)} WHERE {column} BETWEEN $earliest AND $latest)"
    return without_id, repeated, near, {"earliest": earliest, "latest": latest}


def _valid_events(kind: Kind) -> str:
    """The valid rows of `_checked` (after `_identify_by_content`)."""
    return f"SELECT {', '.join(quote(f.name) for f in kind.fields)}, _line FROM _checked WHERE _errors IS NULL"


def _event_conflicts(
    con: Any, kind: Kind, *, near: str, bounds: dict[str, Any], part_start: int = 1
) -> list[tuple[int, str]]:
    """(line, reason) of each valid event of the batch whose content differs from the one kept for its id.

    Run after the insert: the kept record is in `near` (the stored events near the batch in time),
    either from an earlier batch or just inserted from this one. Rows inserted by this transaction
    carry its `now()`, earlier ones an earlier time, which tells "conflicts with line N" from
    "conflicts with the stored record".
    """
    content = [f for f in kind.fields if f.name != "event_id"]
    differs = " OR ".join(f"fresh.{quote(f.name)} IS DISTINCT FROM kept.{quote(f.name)}" for f in content)
    names = ", ".join(
        f"CASE WHEN fresh.{quote(f.name)} IS DISTINCT FROM kept.{quote(f.name)} THEN {literal(f.name)} END"
        for f in content
    )
    kept_as = (
        f"CASE WHEN kept._ingested_at = now() THEN 'conflicts with line ' || (fresh._first - {part_start - 1}) "
        "ELSE 'conflicts with the stored record' END"
    )
    detail = f"' (same event_id \"' || left(fresh.event_id, 80) || '\", different ' || concat_ws(', ', {names}) || ')'"
    # The lines of one id are one event, looked for near the time of the first of them.
    first = (
        f"(SELECT * FROM ({_valid_events(kind)}) QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _line) = 1)"
    )
    rows = con.execute(
        f"SELECT fresh._line, {kept_as} || {detail} "
        f"FROM (SELECT *, min(_line) OVER (PARTITION BY event_id) AS _first FROM ({_valid_events(kind)})) AS fresh "
        f"JOIN {first} AS head ON head.event_id = fresh.event_id "
        f"JOIN {near} AS kept ON kept.event_id = fresh.event_id "
        f"AND (kept._ingested_at = now() OR {_same_time(kind, 'head')}) WHERE {differs} "
        # Two stored events may share the id (more than REPEAT_WINDOW apart): one reason per line,
        # naming this batch's line when there is one.
        "QUALIFY row_number() OVER (PARTITION BY fresh._line ORDER BY kept._ingested_at DESC) = 1",
        bounds,
    ).fetchall()
    return [(int(line), str(reason)) for line, reason in rows]


def _store_entities(
    store: Store, kind: Kind, *, valid_lines: np.ndarray | None = None
) -> tuple[int, list[tuple[int, str]], np.ndarray | None]:
    """Store the valid entities of `_checked` that are new or changed; return how many (never a conflict).

    An entity re-sent with new content replaces the stored one; the last line wins within a batch.
    """
    con = store.con
    table, key = quote(kind.name), quote(kind.key)
    columns = ", ".join(quote(f.name) for f in kind.fields)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _changed AS SELECT * FROM ("
        f"SELECT {columns}, {_content_hash(kind)} AS _record_hash FROM _checked WHERE _errors IS NULL "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _line DESC) = 1) AS latest "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS stored "
        f"WHERE stored.{key} = latest.{key} AND stored._record_hash = latest._record_hash)"
    )
    con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM _changed)")
    con.execute(f"INSERT INTO {table} ({columns}, _record_hash, _ingested_at) SELECT *, now() FROM _changed")
    changed = _count(con, "SELECT count(*) FROM _changed")
    stored = _lines(con, f"AND {key} IN (SELECT {key} FROM _changed)") if valid_lines is not None else None
    con.execute("DROP TABLE _changed")
    return changed, [], stored


def _record_rejects(
    table: pa.Table,
    rejected: list[tuple[int, str]],
    *,
    source: str,
    sink: RejectSink | None,
    report: IngestReport,
    raw_of: RawOf | None,
) -> None:
    rows = pc.index_in(pa.array([line for line, _ in rejected], pa.int64()), table.column("_line"))
    shown = table.select([name for name in table.column_names if name not in ("_line", "_pre_error")]).take(rows)
    records: list[Any]
    if "_raw" in shown.column_names or raw_of is not None:
        # A record read one by one carries its text; one read vectorised is found by its line.
        raws = shown.column("_raw").to_pylist() if "_raw" in shown.column_names else [None] * len(rejected)
        lines = [line for line, _ in rejected]
        records = [raw if raw is not None or raw_of is None else raw_of(n) for raw, n in zip(raws, lines, strict=True)]
    else:
        records = shown.to_pylist()
    for (line, error), record in zip(rejected, records, strict=True):
        _add_reject(Reject(source, line, error, record), sink=sink, report=report)


def _add_reject(reject: Reject, *, sink: RejectSink | None, report: IngestReport) -> None:
    report.rejected += 1
    if len(report.first_rejects) < SHOWN_REJECTS:
        report.first_rejects.append(reject)
    if sink is not None:
        sink.add(reject)


# -- records read from text files -------------------------------------------------------------


def _as_text(f: Field | None, value: Any) -> tuple[str | None, str | None]:
    """A JSON/CSV value as staged text, or an error when its JSON type cannot fit the field."""
    if value is None:
        return None, None
    if f is not None and f.type == "JSON":
        return _canonical_json(value), None
    wrong = isinstance(value, dict | list) or (isinstance(value, bool) and f is not None and f.type not in ("BOOLEAN",))
    if wrong:
        shown = orjson.dumps(value).decode()[:80]
        expected = {"VARCHAR": "text", "TIMESTAMPTZ": "a timestamp", "BOOLEAN": "true or false"}.get(
            f.type if f else "VARCHAR", "a number"
        )
        # Keep the text so the field does not also read as missing; the pre-error rejects the record.
        return shown, f'field "{f.name if f else "?"}": expected {expected}, got {shown}'
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    return str(value), None


def _canonical_json(value: Any) -> str:
    """JSON text with its keys sorted, so one object sent twice in another key order is one content."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value  # not JSON: rejected by validation, with the text as given
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def stage_records(kind: Kind, records: list[RawRecord]) -> pa.Table:
    """Text columns for a batch of parsed records, plus `_line`, `_pre_error` and `_raw`."""
    names: dict[str, None] = dict.fromkeys(kind.columns)
    for record in records:
        names.update(dict.fromkeys(k for k in (record.fields or {}) if k not in RESERVED))
    columns: dict[str, list[str | None]] = {name: [] for name in names}
    pre_errors: list[str | None] = []
    for record in records:
        fields = record.fields or {}
        problems = [f"unknown field {name!r} for kind {kind.name}" for name in RESERVED[1:] if name in fields]
        for name in names:
            known = name in kind.columns
            text, problem = _as_text(kind.field(name) if known else None, fields.get(name))
            columns[name].append(text)
            if problem and known:
                problems.append(problem)
        pre_errors.append("; ".join(problems) or None)
    arrays = {name: pa.array(values, pa.string()) for name, values in columns.items()}
    arrays["_line"] = pa.array([r.line for r in records], pa.int64())
    arrays["_pre_error"] = pa.array(pre_errors, pa.string())
    arrays["_raw"] = pa.array([r.raw for r in records], pa.string())
    return pa.table(arrays)


@dataclass(frozen=True)
class _Batcher:
    """Where one file's batches go: the store, the rejects, the report, and the batch size."""

    store: Store
    source: str
    sink: RejectSink | None
    report: IngestReport
    batch_rows: int
    parts: list[int] | None = None


# Called after each batch is stored, with the bytes of the file and the records it held.
Progress = Callable[[int, int], None]


def resolve_kind(name: Any) -> Kind:
    """The Kind named `name`, or a clear error listing the known kinds."""
    if isinstance(name, str) and name in KINDS:
        return KINDS[name]
    known = ", ".join(KINDS)
    if name is None:
        raise HealthdeckError(f'no kind given; pass --kind or add a "kind" field (one of {known})')
    raise HealthdeckError(f"unknown kind {name!r}; known kinds: {known}")


# -- JSON Lines read by pyarrow ------------------------------------------------------------------

# Above this, a double can no longer hold every whole number exactly (a JSON integer read with decimals).
EXACT_WHOLE = float(2**53)


@dataclass
class _BlockBatches:
    """One block's records for each kind: Arrow tables read vectorised, and records read one by one."""

    tables: dict[str, list[pa.Table]] = field(default_factory=dict)
    records: dict[str, list[RawRecord]] = field(default_factory=dict)
    early: list[Reject] = field(default_factory=list)

    def add_table(self, kind: Kind, table: pa.Table) -> None:
        self.tables.setdefault(kind.name, []).append(table)
        self.records.setdefault(kind.name, [])

    def add_record(self, kind: Kind, record: RawRecord) -> None:
        self.tables.setdefault(kind.name, [])
        self.records.setdefault(kind.name, []).append(record)

    def staged(self) -> Iterable[tuple[Kind, pa.Table]]:
        for name, tables in self.tables.items():
            records = self.records[name]
            parts = tables + ([stage_records(KINDS[name], records)] if records else [])
            yield KINDS[name], _concatenated(parts)


def _concatenated(parts: list[pa.Table]) -> pa.Table:
    """Staged tables as one; pieces may type one column differently (or as text): as text they always concatenate."""
    if len(parts) == 1:
        return parts[0]
    if all(part.schema == parts[0].schema for part in parts):
        return pa.concat_tables(parts)
    return pa.concat_tables([_typed_as_text(part) for part in parts], promote_options="default")


def _typed_as_text(table: pa.Table) -> pa.Table:
    """A staged table with the columns `stage_arrow` kept typed turned to text, as validation reads them alike."""
    for index, column in enumerate(table.columns):
        name = table.column_names[index]
        if name != "_line" and not pa.types.is_string(column.type):
            table = table.set_column(index, name, column.cast(pa.string()))
    return table


OneByOne = Callable[[list[int]], list[RawRecord]]


def _ingest_jsonl(path: str, *, kind: Kind | None, batcher: _Batcher, progress: Progress | None) -> int:
    """Ingest a JSON Lines file block by block, blocks joined into batches (one per kind); return how many records."""
    blocks = _jsonl_blocks(path, kind=kind, source=batcher.source, batch_rows=batcher.batch_rows)
    return _store_text_blocks(path, blocks, batcher=batcher, progress=progress)


def _store_text_blocks(path: str, blocks: Iterator[_ReadBlock], *, batcher: _Batcher, progress: Progress | None) -> int:
    """Store a text file's blocks joined into batches, read ahead in a thread; standard input's are not:
    a thread blocked reading it holds its lock, and Python then aborts at exit (Ctrl-C on
    `producer | healthdeck ingest -`)."""
    batches = _in_batches(blocks, batcher.batch_rows)
    return _store_batches(batches if path == "-" else read_ahead(batches), batcher=batcher, progress=progress)


def _jsonl_blocks(path: str, *, kind: Kind | None, source: str, batch_rows: int) -> Iterator[_ReadBlock]:
    with _opened(path) as stream:
        for block in whole_line_blocks(stream, max_lines=batch_rows, first_bytes=FIRST_BLOCK_BYTES):

            def one_by_one(lines: list[int], block: LineBlock = block) -> list[RawRecord]:
                read = (jsonl_record(line, block.lines[line - block.first_line]) for line in lines)
                return [record for record in read if record is not None]

            def originals(lines: list[int], block: LineBlock = block) -> list[dict[str, Any]]:
                # Lines pyarrow read as rows: each is one JSON object of at most the size limit.
                return [orjson.loads(cast(bytes, block.lines[line - block.first_line])) for line in lines]

            pieces = jsonl_pieces(block)
            yield _read_block(
                pieces, block, size=block.size, kind=kind, source=source, one_by_one=one_by_one, originals=originals
            )


def _ingest_csv(path: str, *, kind: Kind | None, batcher: _Batcher, progress: Progress | None) -> int:
    """Ingest a CSV file with a header row block by block, like JSON Lines."""
    blocks = _csv_blocks(path, kind=kind, source=batcher.source, batch_rows=batcher.batch_rows)
    return _store_text_blocks(path, blocks, batcher=batcher, progress=progress)


def _csv_blocks(path: str, *, kind: Kind | None, source: str, batch_rows: int) -> Iterator[_ReadBlock]:
    header = None
    with _opened(path) as stream:
        for whole in whole_line_blocks(stream, max_lines=batch_rows, whole_quotes=True, first_bytes=FIRST_BLOCK_BYTES):
            block = whole
            if header is None:
                header = csv_header(whole.head())
                block = whole.tail()

            def one_by_one(lines: list[int], block: LineBlock = block, header: list[str] = header) -> list[RawRecord]:
                first = block.first_line
                return [r for line in lines for r in csv_records(header, [block.lines[line - first]], line)]

            pieces = csv_pieces(header, block)
            yield _read_block(pieces, block, size=whole.size, kind=kind, source=source, one_by_one=one_by_one)


@dataclass(frozen=True)
class _ReadBlock:
    """A block of a text file (or consecutive blocks joined into a batch) read and staged per kind,
    ready to store: `size` bytes of the file holding `records` records from line `first_line` on, the
    rejects found reading them, and the rejected lines' text."""

    size: int
    records: int
    early: list[Reject]
    staged: list[tuple[Kind, pa.Table]]
    raw_of: RawOf
    first_line: int


def _in_batches(blocks: Iterable[_ReadBlock], rows: int) -> Iterator[_ReadBlock]:
    """Consecutive blocks joined while they hold at most `rows` records and BATCH_BYTES of the file.

    A text file's block ends at about BLOCK_BYTES (some 213,000 request lines), below the default
    batch: joined, a batch's statements get whole row groups on each of DuckDB's threads (see
    BATCH_ROWS). Blocks are still read and parsed one at a time; what a run holds in memory grows
    with the batch (three batches in flight, see read_ahead.py), hence the byte limit.

    The writer waits for nothing it cannot use: a batch goes as soon as one more block as large as
    its last would not fit, not once such a block is read (a block read larger than that starts the
    next batch), and the file's first block, a smaller one (FIRST_BLOCK_BYTES), goes alone, so that
    storing starts early (docs/performance.md has the timeline that showed the writer waiting).
    """
    group: list[_ReadBlock] = []
    records = size = 0

    def fits(block: _ReadBlock) -> bool:
        return records + block.records <= rows and size + block.size <= BATCH_BYTES

    for index, block in enumerate(blocks):
        if group and not fits(block):
            yield _joined(group)
            group, records, size = [], 0, 0
        group.append(block)
        records, size = records + block.records, size + block.size
        if index == 0 or not fits(block):
            yield _joined(group)
            group, records, size = [], 0, 0
    if group:
        yield _joined(group)


def _joined(blocks: list[_ReadBlock]) -> _ReadBlock:
    """Consecutive blocks as one: each kind's rows one table, a rejected line's text from its own block."""
    if len(blocks) == 1:
        return blocks[0]
    staged: dict[str, list[pa.Table]] = {}
    for block in blocks:
        for kind, table in block.staged:
            staged.setdefault(kind.name, []).append(table)
    # Only the blocks' texts stay with the batch (for its rejects), not their staged tables.
    starts, texts = [block.first_line for block in blocks], [block.raw_of for block in blocks]

    def raw_of(line: int) -> str:
        return texts[bisect_right(starts, line) - 1](line)

    return _ReadBlock(
        size=sum(block.size for block in blocks),
        records=sum(block.records for block in blocks),
        early=[reject for block in blocks for reject in block.early],
        staged=[(KINDS[name], _concatenated(tables)) for name, tables in staged.items()],
        raw_of=raw_of,
        first_line=blocks[0].first_line,
    )


def _store_batches(batches: Iterable[_ReadBlock], *, batcher: _Batcher, progress: Progress | None) -> int:
    """Store each batch's rows of each kind as one transaction; return how many records the batches held."""
    records = 0
    store, source, sink, report = batcher.store, batcher.source, batcher.sink, batcher.report
    for read in batches:
        for reject in read.early:
            _add_reject(reject, sink=sink, report=report)
        for target, table in read.staged:
            ingest_table(
                store, target, table, source=source, sink=sink, report=report, raw_of=read.raw_of, parts=batcher.parts
            )
        _advance(report, progress, size=read.size, records=read.records)
        records += read.records
    return records


def _advance(report: IngestReport, progress: Progress | None, *, size: int, records: int) -> None:
    report.bytes_read += size
    if progress is not None:
        progress(size, records)


@contextmanager
def _opened(path: str) -> Iterator[BinaryIO]:
    stream = open_binary(path)
    try:
        yield stream
    finally:
        if path != "-":
            stream.close()


def _read_block(
    pieces: Iterable[pa.Table | list[RawRecord]],
    block: LineBlock,
    *,
    size: int,
    kind: Kind | None,
    source: str,
    one_by_one: OneByOne,
    originals: Originals | None = None,
) -> _ReadBlock:
    """Stage a block's pieces per kind (each kind's rows one table), with the records rejected on the way."""

    def raw_of(line: int) -> str:
        return raw_text(block.lines[line - block.first_line])

    batches, records = _BlockBatches(), 0
    for piece in pieces:
        if isinstance(piece, pa.Table):
            records += piece.num_rows
            _add_arrow_piece(
                piece, kind=kind, batches=batches, source=source, one_by_one=one_by_one, originals=originals
            )
        else:
            records += len(piece)
            for record in piece:
                _route_record(record, kind=kind, batches=batches, source=source)
    early = sorted(batches.early, key=lambda r: r.line or 0)
    return _ReadBlock(size, records, early, list(batches.staged()), raw_of, block.first_line)


def _add_arrow_piece(
    piece: pa.Table,
    *,
    kind: Kind | None,
    batches: _BlockBatches,
    source: str,
    one_by_one: OneByOne,
    originals: Originals | None,
) -> None:
    """Stage each kind's rows as text; rows pyarrow typed in a way text cannot match are read one by one."""
    parts = _kind_parts(piece, kind=kind)
    if parts is None:  # a "kind" that is not text: each line tells its own problem
        parts = [(None, piece)]
    for target, part in parts:
        if target is not None and (staged := stage_arrow(target, part, originals=originals)) is not None:
            batches.add_table(target, staged)
            continue
        for record in one_by_one(part.column("_line").to_pylist()):
            _route_record(record, kind=kind, batches=batches, source=source)


def _kind_parts(table: pa.Table, *, kind: Kind | None) -> list[tuple[Kind | None, pa.Table]] | None:
    """The rows of each kind; rows of an unknown or missing kind come with no kind."""
    if kind is not None:
        return [(kind, table)]
    if "kind" not in table.column_names:
        return [(None, table)]
    kinds = table.column("kind")
    if not (pa.types.is_string(kinds.type) or pa.types.is_null(kinds.type)):
        return None
    names = pc.unique(kinds).to_pylist()
    if len(names) == 1:  # the usual block of one kind: no copy of it per kind
        return [(KINDS.get(names[0]) if names[0] is not None else None, table)]
    parts: list[tuple[Kind | None, pa.Table]] = []
    for name in names:
        part = table.filter(pc.is_null(kinds) if name is None else pc.equal(kinds, name))
        parts.append((KINDS.get(name) if name is not None else None, part))
    return parts


def _route_record(record: RawRecord, *, kind: Kind | None, batches: _BlockBatches, source: str) -> None:
    if record.error is not None or record.fields is None:
        batches.early.append(Reject(source, record.line, record.error or "unreadable", record.raw))
        return
    try:
        target = kind or resolve_kind(record.fields.get("kind"))
    except HealthdeckError as exc:
        batches.early.append(Reject(source, record.line, str(exc), record.raw))
        return
    batches.add_record(target, record)


Originals = Callable[[list[int]], list[dict[str, Any]]]


def stage_arrow(kind: Kind, table: pa.Table, *, originals: Originals | None = None) -> pa.Table | None:
    """The columns validation reads as it reads `stage_records`' text, or None when only it can make them.

    pyarrow types each column by its JSON values. Numbers and booleans in a field of their type
    stay typed (validation checks them and names a bad one alike); others are written back as
    text so that validation sees what it sees for a record read one by one. Values whose
    text would differ (a fraction in a text field, an object in a field that is not JSON) make
    the rows go one by one. A JSON field is stored with its keys sorted, from `originals`: the
    records of these rows parsed again, since an Arrow struct no longer tells a missing key from null.
    """
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    parsed: list[dict[str, Any]] = []
    for name in table.column_names:
        column = table.column(name)
        if name == "_line" or (name == "kind" and "kind" not in kind.columns):
            continue
        if name not in kind.columns and column.null_count == len(column):
            continue  # another kind's field, or one given as null: the same as absent
        f = kind.field(name) if name in kind.columns else None
        if f is not None and f.type == "JSON" and column.null_count < len(column):
            if not (pa.types.is_string(column.type) or originals is not None):
                return None
            if not pa.types.is_string(column.type) and not parsed:
                parsed = originals(table.column("_line").to_pylist())  # type: ignore[misc]
            values = column.to_pylist() if pa.types.is_string(column.type) else [row.get(name) for row in parsed]
            columns[name] = pa.array([None if v is None else _canonical_json(v) for v in values], pa.string())
            continue
        staged = _staged_column(f, column)
        if staged is None:
            return None
        columns[name] = staged
    columns["_line"] = table.column("_line")
    return pa.table(columns)


def _staged_column(f: Field | None, column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    kind = column.type
    if pa.types.is_null(kind) or column.null_count == len(column):
        return pa.chunked_array([pa.nulls(len(column), pa.string())])
    if f is None:  # an unknown field: only whether it is there matters (it is rejected)
        return pc.if_else(pc.is_valid(column), "?", pa.scalar(None, pa.string()))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.cast(pa.string())
    if _kept_typed(f, kind):
        return column
    if pa.types.is_integer(kind):
        return column.cast(pa.string())
    if pa.types.is_floating(kind) and _doubles_read_alike(f, column):
        return column.cast(pa.string())
    return None


def _kept_typed(f: Field, kind: pa.DataType) -> bool:
    """Whether a column pyarrow typed goes to validation as it is: its values are exactly what their
    text would parse to, and validation names a bad one by its typed value either way, so turning
    it to text and parsing it again would only cost time."""
    if pa.types.is_integer(kind):
        return f.type in ("INTEGER", "BIGINT", "DOUBLE")
    if pa.types.is_floating(kind):
        return f.type == "DOUBLE"
    return pa.types.is_boolean(kind) and f.type == "BOOLEAN"


def _doubles_read_alike(f: Field, column: pa.ChunkedArray) -> bool:
    """Whether numbers pyarrow read as doubles validate as their text would: exact whole numbers
    for whole-number fields (a fraction is rejected, naming the value as the user wrote it)."""
    if f.type == "DOUBLE":
        return True
    if f.type not in ("INTEGER", "BIGINT"):
        return False
    whole = pc.all(pc.equal(column, pc.trunc(column))).as_py()
    largest = pc.max(pc.abs(column)).as_py()
    return bool(whole) and largest is not None and largest < EXACT_WHOLE


def _ingest_parquet(path: str, *, kind: Kind | None, batcher: _Batcher, progress: Progress | None) -> int:
    names = _parquet_columns(path)
    if kind is None and "kind" not in names:
        resolve_kind(None)  # no --kind and no kind column: the whole file is unusable
    if reserved := [name for name in RESERVED[1:] if name in names]:
        raise HealthdeckError(f'column "{reserved[0]}" is a name healthdeck keeps for itself; rename it')
    rows, size, total = 0, os.path.getsize(path), max(pq.read_metadata(path).num_rows, 1)
    for table in read_ahead(_numbered_row_groups(path, batch_rows=batcher.batch_rows)):
        for target, part in _split_by_kind(table, kind=kind, batcher=batcher):
            ingest_table(batcher.store, target, part, source=path, sink=batcher.sink, report=batcher.report)
        # The file's bytes in proportion to its rows: row groups are compressed, their Arrow tables not.
        read = size * (rows + table.num_rows) // total - size * rows // total
        _advance(batcher.report, progress, size=read, records=table.num_rows)
        rows += table.num_rows
    return rows


def _numbered_row_groups(path: str, *, batch_rows: int) -> Iterator[pa.Table]:
    """The file's rows in tables of `batch_rows`, each row with its number in `_line`."""
    for chunk in read_parquet(path, batch_rows=batch_rows):
        yield chunk.table.append_column("_line", line_numbers(chunk.first_line, chunk.table.num_rows))


def _parquet_columns(path: str) -> list[str]:
    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as exc:
        raise HealthdeckError(f"not a readable Parquet file: {exc}") from exc


def _split_by_kind(table: pa.Table, *, kind: Kind | None, batcher: _Batcher) -> Iterable[tuple[Kind, pa.Table]]:
    """The rows of each kind; rows of an unknown or missing kind are rejected one by one."""
    if kind is not None:
        yield kind, table.drop_columns([c for c in ("kind",) if c in table.column_names])
        return
    kinds = table.column("kind")
    for name in pc.unique(kinds).to_pylist():
        part = table.filter(pc.is_null(kinds) if name is None else pc.equal(kinds, name))
        try:
            target = resolve_kind(name)
        except HealthdeckError as exc:
            for line in part.column("_line").to_pylist():
                _add_reject(Reject(batcher.source, line, str(exc)), sink=batcher.sink, report=batcher.report)
            continue
        yield target, part.drop_columns(["kind"])


def _ingest_file(path: str, *, kind: Kind | None, batcher: _Batcher, progress: Progress | None) -> int:
    fmt = file_format(path)
    if fmt == "parquet":
        return _ingest_parquet(path, kind=kind, batcher=batcher, progress=progress)
    if fmt == "jsonl":
        return _ingest_jsonl(path, kind=kind, batcher=batcher, progress=progress)
    return _ingest_csv(path, kind=kind, batcher=batcher, progress=progress)


def ingest_files(
    store: Store,
    paths: list[str],
    *,
    kind: str | None = None,
    rejects_path: Path | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
    parts: list[int] | None = None,
) -> IngestReport:
    """Ingest files into the store; bad records go to the rejects file, good ones are kept.

    `parts` (first lines, ascending) counts a JSON Lines file's records by the part they are on, each
    as if stored alone after the ones before it (`ingest_table`): in `report.parts`.
    """
    target = resolve_kind(kind) if kind is not None else None
    rejects_path = rejects_path or default_rejects_path(store)
    sink = RejectSink(rejects_path)
    report, started = IngestReport(parts=[IngestReport() for _ in parts or []]), time.perf_counter()
    try:
        for path in paths:
            try:
                batcher = _Batcher(store, path, sink, report, batch_rows, parts)
                records = _ingest_file(path, kind=target, batcher=batcher, progress=progress)
            except HealthdeckError as exc:  # this file is unusable; the other files still count
                _add_reject(Reject(path, None, str(exc)), sink=sink, report=report)
                continue
            if records == 0:
                _add_reject(Reject(path, None, "the file holds no records"), sink=sink, report=report)
    finally:
        sink.close()
    report.seconds = time.perf_counter() - started
    report.rejects_file = str(sink.path) if sink.count else None
    return report


def default_rejects_path(store: Store) -> Path:
    """Rejects go beside the store, one file per run."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return store.path.parent / "rejects" / f"ingest-{stamp}-{uuid.uuid4().hex[:6]}.jsonl"

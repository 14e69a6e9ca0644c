"""The ids of the events stored around now, as hashes in memory: what spares the live platform's
small batches a look through a busy day of stored ids.

Ingest looks a batch's ids up among the events stored within a day of them (`REPEAT_WINDOW`,
ingest.py). DuckDB has no index it can join with, so that lookup reads every id stored in the
day: beside 8 M requests of the past day it costs a batch of 10,000 about 240 ms, and it grows with
the day (benchmarks/bench_id_lookup.py). `healthdeck serve` commits such batches all day, so its
writer keeps the 64-bit hashes of the ids stored around now, sorted, by spans of six hours. A
batch none of whose hashes is among those of its window's spans has no id stored near it and skips
the lookup; a batch with a hash among them (a re-sent event, or two ids sharing a hash) is looked up
in the store as before. The hashes only ever answer "new" for a batch that is.

That holds because a span's hashes are read from the store the first time a batch's window needs
the span, and every batch's valid ids are added to the spans kept before the batch commits. While
the server holds the store, its writer is the only one that stores events: another process cannot
open it for writing, and inside the server every write (HTTP ingest, `ingest` and `simulate` run
through it) is a job of the writer, while a reader's view is read-only and refuses ingest. Rows
expired, or a batch rolled back, leave hashes behind: that costs a lookup, never a record.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from healthdeck.store.schema import Kind
from healthdeck.store.validate import quote

# The hashes are kept by spans of six hours: a batch's window of two days reaches 9 of them, each
# searched once per batch. Hours would make 49 searches: beside 8 M ids of the past day a batch of
# 10,000 took 103 ms by the hour against 90 by six hours (bench_id_lookup.py's store and batches),
# while adding a batch's hashes to a larger sorted span costs a little more.
SPAN = timedelta(hours=6)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The spans kept: those a batch's window reaches when its events are from a day before now (sent
# late) to a day after (the latest validation accepts), with some margin; only spans with events cost
# memory, so about the past two days' ids. A batch whose window reaches outside them (events sent more
# than a day late, a backfill of history) is looked up in the store.
SPANS_BACK, SPANS_AHEAD = 9, 9
# At most this many hashes in memory (8 bytes each: 1 GiB). Past it, the spans before the window of
# the batch at hand are forgotten first (a day-late batch reads them again); if the window alone holds
# more, the kind's hashes are forgotten and its batches looked up in the store until the next span.
MAX_HASHES = 128 * 1024 * 1024
# The span of a time, in whole microseconds: exact, and rounded down before 1970 too, as `span_of`
# (DuckDB's `//` rounds toward zero, and a division in doubles could put a row in the next span).
_SPAN_US = SPAN // timedelta(microseconds=1)
_SPAN_OF = f"(epoch_us({{time}}) - (epoch_us({{time}}) % {_SPAN_US} + {_SPAN_US}) % {_SPAN_US}) // {_SPAN_US}"
# The hash and the span of each event of `rows`: the valid events of the batch being stored
# (`_checked`, ingest.py), or the stored events of some spans.
_HASHES = f"SELECT hash(event_id) AS hash, {_SPAN_OF} AS span FROM {{rows}}"


class BatchIds:
    """The valid events of the batch being stored (`_checked`, ingest.py) as the hashes see them: each
    one's hash and span, read from the store once, when first needed, for `may_hold` and `add` alike."""

    def __init__(self, con: Any, kind: Kind) -> None:
        self.con, self.kind = con, kind

    @functools.cached_property
    def ids(self) -> tuple[np.ndarray, np.ndarray]:
        sql = _HASHES.format(time=quote(self.kind.time_field), rows="_checked WHERE _errors IS NULL")
        rows = self.con.execute(sql).fetchnumpy()
        return np.asarray(rows["hash"], np.uint64), np.asarray(rows["span"], np.int64)


class RecentIds:
    """The sorted id hashes of each span of time around now, per kind of event."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None, max_hashes: int = MAX_HASHES) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._max_hashes = max_hashes
        self._spans: dict[str, dict[int, np.ndarray]] = {}
        self._resting: dict[str, int] = {}  # kind -> the span its batches are looked up in the store
        # How `may_hold` answered, for the server's metrics: "new" skipped the lookup in the store.
        self.answers = {"new": 0, "maybe": 0, "not_kept": 0}

    @property
    def hashes(self) -> int:
        """How many distinct hashes are held, every kind and span together. Read from any thread (the
        server's metrics): the writer may change the spans meanwhile, so they are copied first."""
        return sum(len(held) for spans in list(self._spans.values()) for held in list(spans.values()))

    def may_hold(self, batch: BatchIds, earliest: datetime, latest: datetime) -> bool | None:
        """Whether an id of the batch's valid events may be stored between `earliest` and `latest`:
        False when none is, True when one may be, None when those spans are not kept here."""
        answer = self._answer(batch, earliest, latest)
        self.answers[{False: "new", True: "maybe", None: "not_kept"}[answer]] += 1
        return answer

    def _answer(self, batch: BatchIds, earliest: datetime, latest: datetime) -> bool | None:
        kind = batch.kind
        now, first, last = span_of(self._clock()), span_of(earliest), span_of(latest)
        for kept in self._spans.values():  # every kind's: one that no longer gets batches lets its go too
            for old in [span for span in kept if span < now - SPANS_BACK]:
                del kept[old]
        if first < now - SPANS_BACK or last > now + SPANS_AHEAD or self._resting.get(kind.name) == now:
            return None
        spans = self._read(batch.con, kind, first, last, now=now)
        if spans is None:
            return None
        hashes = np.sort(batch.ids[0])
        return any(_any_in(spans[span], hashes) for span in range(first, last + 1))

    def warm(self, con: Any, kinds: Iterable[Kind], *, reach: timedelta) -> None:
        """Read the hashes of the spans a batch of events from now reaches (their times `reach` either
        side of now), so that the first such batch does not wait for them (0.8 s beside 8 M requests of
        the past day). One span more back: live events arrive a little late, and the window of one a
        minute old may begin in it. Only for the kinds with events stored within a span of now, which
        are being sent live: the others' hashes would take memory (and room under the cap) that no batch
        may ever ask for. A kind holding too many is looked up in the store, as in `_answer`."""
        moment = self._clock()
        now, first, last = span_of(moment), span_of(moment - reach) - 1, span_of(moment + reach)
        for kind in kinds:
            column = quote(kind.time_field)
            live = f"{quote(kind.name)} WHERE {column} >= $start AND {column} < $end"
            if not _count(con, f"SELECT count(*) FROM (SELECT 1 FROM {live} LIMIT 1)", moment - SPAN, moment + reach):
                continue
            self._read(con, kind, first, last, now=now)

    def add(self, batch: BatchIds, earliest: datetime) -> None:
        """Add the batch's valid events, whose window starts at `earliest`, to the spans kept, before
        the batch commits."""
        spans = self._spans.get(batch.kind.name)
        if not spans:
            return
        hashes, at = batch.ids
        fresh = {}  # span -> its hashes not held yet (a re-sent id is), sorted, once each
        for span in np.unique(at).tolist():
            if span in spans:
                once = _sorted_once(hashes[at == span])
                fresh[span] = once[~_found(spans[span], once)]
        if not self._room(spans, sum(len(new) for new in fresh.values()), first=span_of(earliest)):
            self._rest(batch.kind, span_of(self._clock()))
            return
        for span, new in fresh.items():  # spans `_room` forgot are before the window: none of these
            held = spans[span]
            spans[span] = np.insert(held, np.searchsorted(held, new), new)

    def _read(self, con: Any, kind: Kind, first: int, last: int, *, now: int) -> dict[int, np.ndarray] | None:
        """The kind's spans, every one from `first` to `last` read from the store if it was not kept;
        None when they would be too many: the kind is then looked up in the store until the span ends."""
        spans = self._spans.setdefault(kind.name, {})
        missing = [span for span in range(first, last + 1) if span not in spans]
        if missing and not self._load(con, kind, spans, missing, first=first):
            self._rest(kind, now)
            return None
        return spans

    def _load(self, con: Any, kind: Kind, spans: dict[int, np.ndarray], missing: list[int], *, first: int) -> bool:
        """Read the hashes of the `missing` spans of a window starting at span `first` from the
        store; False if they would be too many (counted before any is read)."""
        column = quote(kind.time_field)
        rows = f"{quote(kind.name)} WHERE {column} >= $start AND {column} < $end"
        runs = [(_EPOCH + SPAN * run[0], _EPOCH + SPAN * (run[-1] + 1)) for run in _runs(missing)]
        count = sum(_count(con, f"SELECT count(*) FROM {rows}", start, end) for start, end in runs)
        if not self._room(spans, count, first=first):
            return False
        for start, end in runs:
            stored = con.execute(_HASHES.format(time=column, rows=rows), {"start": start, "end": end}).fetchnumpy()
            hashes, at = np.asarray(stored["hash"], np.uint64), np.asarray(stored["span"], np.int64)
            order = np.argsort(at, kind="stable")  # stored mostly in time order: nearly sorted already
            hashes, at = hashes[order], at[order]
            for span in range(span_of(start), span_of(end)):
                spans[span] = _sorted_once(hashes[np.searchsorted(at, span) : np.searchsorted(at, span, side="right")])
        return True

    def _room(self, spans: dict[int, np.ndarray], more: int, *, first: int) -> bool:
        """Whether `more` hashes fit, once spans before `first` (the start of the window of the batch
        at hand, which does not need them) are forgotten, oldest first, as far as it takes."""
        for span in sorted(span for span in spans if span < first):
            if self.hashes + more <= self._max_hashes:
                break
            del spans[span]
        return self.hashes + more <= self._max_hashes

    def _rest(self, kind: Kind, now: int) -> None:
        """Too many ids to keep: forget the kind's, and look its batches up in the store until the span ends."""
        self._spans[kind.name] = {}
        self._resting[kind.name] = now


def span_of(moment: datetime) -> int:
    """The span a moment falls in, counted from 1970 (the same spans as `_HASHES`)."""
    return (moment - _EPOCH) // SPAN


def _runs(spans: list[int]) -> list[list[int]]:
    """Ascending spans in runs of consecutive ones: [1, 2, 5] -> [[1, 2], [5]]."""
    runs: list[list[int]] = []
    for span in spans:
        if runs and runs[-1][-1] == span - 1:
            runs[-1].append(span)
        else:
            runs.append([span])
    return runs


def _count(con: Any, sql: str, start: datetime, end: datetime) -> int:
    return int(con.execute(sql, {"start": start, "end": end}).fetchall()[0][0])


def _sorted_once(hashes: np.ndarray) -> np.ndarray:
    """The hashes sorted, each once. (`np.unique` hashes them first: ten times slower on millions.)"""
    ordered = np.sort(hashes)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def _found(held: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """For each of the sorted `batch`, whether it is in the sorted `held`."""
    if not len(held):
        return np.zeros(len(batch), dtype=bool)
    places = np.minimum(np.searchsorted(held, batch), len(held) - 1)
    return np.asarray(held[places] == batch)


def _any_in(held: np.ndarray, batch: np.ndarray) -> bool:
    """Whether any of the sorted `batch` is in the sorted `held`."""
    return bool(_found(held, batch).any())

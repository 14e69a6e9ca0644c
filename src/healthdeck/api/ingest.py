"""HTTP ingest batches through exactly `healthdeck ingest`'s path (`ingest_files`).

A body, spooled to a JSON Lines file, is ingested as that file would be from the
command line: same validation, same deduplication, same transactions. Rejects go to a
file of their own that is read back into the response, so the caller learns each
record's reason (its line, and the fields named in the reason), up to `SHOWN_REASONS`.

Bodies waiting for the writer together are stored as one file (`ingest_bodies`, see
group_commit.py): a batch's statements cost about the same for 100 records as for
10,000, so many small bodies would otherwise each pay them. Each body still gets the
answer it would have got alone, after the bodies before it.
"""

from __future__ import annotations

import heapq
import uuid
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from healthdeck.errors import HealthdeckError
from healthdeck.store.blocks import BOM
from healthdeck.store.connection import Store
from healthdeck.store.ingest import IngestReport, ingest_files

# A body of a million bad lines must not become a response of a million reasons; `rejected` counts them all.
SHOWN_REASONS = 1000


@dataclass(frozen=True)
class BatchResult:
    """What the writer did with one batch: the report, and each rejected record's line and reason."""

    report: IngestReport
    rejects: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        totals = self.report.as_json()
        return {
            "accepted": totals["accepted"],
            "rejected": totals["rejected"],
            "duplicates": totals["duplicates"],
            "by_kind": totals["by_kind"],
            "rejects": self.rejects,
        }


@dataclass(frozen=True)
class Body:
    """A spooled body, as JSON Lines; the kind its request named, if any; where its rejects go; its
    bytes and lines (a last one without a newline counts), which bound how many go together."""

    lines: Path
    kind: str | None
    rejects_path: Path
    size: int
    line_count: int

    @classmethod
    def spooled(cls, lines: Path, kind: str | None, rejects_path: Path) -> Body:
        """The body at `lines`, measured (read once, by the request's thread rather than the writer)."""
        count, last = 0, b"\n"
        with open(lines, "rb") as f:
            while chunk := f.read(1 << 20):
                count, last = count + chunk.count(b"\n"), chunk[-1:]
        ended = last == b"\n"  # else the join adds a newline: counted, so joined bodies stay within a block
        return cls(lines, kind, rejects_path, lines.stat().st_size + (not ended), count + (not ended))


def ingest_batch(store: Store, *, lines: Path, kind: str | None, rejects_path: Path) -> BatchResult:
    """Ingest one spooled body; runs on the writer thread and returns once every batch is committed."""
    report = ingest_files(store, [str(lines)], kind=kind, rejects_path=rejects_path)
    return BatchResult(report, _read_rejects(rejects_path))


def ingest_bodies(store: Store, bodies: list[Body], *, spool_dir: Path) -> list[BatchResult]:
    """Ingest bodies of one kind (or none named) as one file, each answered as if stored alone in turn.

    Their lines are joined into one file, numbered on; `ingest_files` counts each body's records by
    its lines (`parts`), and stores the bodies one after the other in a batch where an id repeats.
    The rejects file is split back by lines, renumbered from each body's first.
    """
    if len(bodies) == 1:
        body = bodies[0]
        return [ingest_batch(store, lines=body.lines, kind=body.kind, rejects_path=body.rejects_path)]
    name = uuid.uuid4().hex
    joined, rejects = spool_dir / f"{name}-joined.jsonl", spool_dir / f"{name}-joined-rejects"
    try:
        try:
            firsts = _join(bodies, joined)
        except OSError as exc:  # a body's file is gone (its request was cancelled) or unreadable
            raise NothingStored(str(exc)) from exc
        report = ingest_files(store, [str(joined)], kind=bodies[0].kind, rejects_path=rejects, parts=firsts)
        return _answers(report, firsts, rejects)
    finally:
        joined.unlink(missing_ok=True)
        rejects.unlink(missing_ok=True)


def _join(bodies: list[Body], joined: Path) -> list[int]:
    """Write the bodies' lines one after the other; the line each body starts at."""
    firsts, line = [], 1
    with open(joined, "wb") as target:
        for body in bodies:
            firsts.append(line)
            text = body.lines.read_bytes().removeprefix(BOM)  # a BOM begins the file only
            target.write(text if not text or text.endswith(b"\n") else text + b"\n")
            line += body.line_count
    return firsts


def _answers(report: IngestReport, firsts: list[int], rejects_path: Path) -> list[BatchResult]:
    """Each body's report and rejects, its rejects' lines counted from its own first line."""
    firsts_by_line: list[list[tuple[int, str]]] = [[] for _ in firsts]  # each a heap of its first lines, negated
    counts = [0] * len(firsts)
    if rejects_path.exists():
        with open(rejects_path, "rb") as f:
            for entry in map(orjson.loads, f):
                if entry["line"] is None:  # the joined file itself was refused: no line tells whose
                    if report.accepted or report.duplicates:
                        raise HealthdeckError(f"the bodies stored together were refused: {entry['error']}")
                    raise NothingStored(entry["error"])
                index = bisect_right(firsts, entry["line"]) - 1
                counts[index] += 1
                heap = firsts_by_line[index]
                heapq.heappush(heap, (-(entry["line"] - firsts[index] + 1), entry["error"]))
                if len(heap) > SHOWN_REASONS:
                    heapq.heappop(heap)  # the last line of those kept
    answers = []
    for part, heap, rejected in zip(report.parts, firsts_by_line, counts, strict=True):
        shown: list[dict[str, Any]] = [{"line": -line, "error": error} for line, error in sorted(heap, reverse=True)]
        if not (part.accepted or part.duplicates or rejected):  # nothing but blank lines, as alone
            shown, rejected = [{"line": None, "error": "the file holds no records"}], 1
        answer = IngestReport(accepted=part.accepted, duplicates=part.duplicates, rejected=rejected)
        answer.by_kind = dict(part.by_kind)
        answers.append(BatchResult(answer, shown))
    return answers


class NothingStored(Exception):
    """Storing bodies together stopped before any of their records was stored: each may go alone."""


def _read_rejects(path: Path) -> list[dict[str, Any]]:
    """The first SHOWN_REASONS rejects by line (a reject of the whole file first)."""
    if not path.exists():
        return []
    with open(path, "rb") as f:
        entries = map(orjson.loads, f)
        first = heapq.nsmallest(SHOWN_REASONS, entries, key=lambda entry: entry["line"] or 0)
    return [{"line": entry["line"], "error": entry["error"]} for entry in first]

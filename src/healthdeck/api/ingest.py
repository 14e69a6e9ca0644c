"""One HTTP ingest batch through exactly `healthdeck ingest`'s path (`ingest_files`).

The body, spooled to a JSON Lines file, is ingested as that file would be from the
command line: same validation, same deduplication, same transactions. Rejects go to a
file of their own that is read back into the response, so the caller learns each
record's reason (its line, and the fields named in the reason), up to `SHOWN_REASONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

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


def ingest_batch(store: Store, *, lines: Path, kind: str | None, rejects_path: Path) -> BatchResult:
    """Ingest one spooled body; runs on the writer thread and returns once every batch is committed."""
    report = ingest_files(store, [str(lines)], kind=kind, rejects_path=rejects_path)
    return BatchResult(report, _read_rejects(rejects_path))


def _read_rejects(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, "rb") as f:
        entries = map(orjson.loads, islice(f, SHOWN_REASONS))
        rejects = [{"line": entry["line"], "error": entry["error"]} for entry in entries]
    return sorted(rejects, key=lambda reject: reject["line"] or 0)

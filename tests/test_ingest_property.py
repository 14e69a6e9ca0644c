"""Property: whatever the mix of records and the batch size, every good record is stored or a duplicate,
and every bad one is rejected and written to the rejects file; nothing is lost in between."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthdeck.store.connection import Store
from healthdeck.store.ingest import ingest_files

NOW = datetime.now(UTC).replace(microsecond=0)
COLUMNS = ("event_id", "ts", "tenant_id", "endpoint", "method", "status", "latency_ms")
# Each action writes one record: new, a repeat of an earlier one (exactly, or with its instant spelled
# another way), or one of the bad records ingest must reject.
GOOD = ("new", "repeat", "respelled")
BAD = ("conflict", "fraction", "hex", "blank_id", "padded_tenant", "bad_method", "not_utf8")
RUNS = itertools.count()


@dataclass
class Input:
    """The records of one generated file and what ingest must make of them."""

    rows: list[dict[str, Any] | bytes] = field(default_factory=list)
    good: int = 0
    bad: int = 0
    new_ids: set[str] = field(default_factory=set)

    def add(self, row: dict[str, Any] | bytes, *, good: bool) -> None:
        self.rows.append(row)
        self.good += good
        self.bad += not good


def _record(prefix: str, i: int) -> dict[str, Any]:
    ts = NOW - timedelta(minutes=i)
    return {
        "event_id": f"{prefix}-{i}",
        "ts": ts.isoformat(),
        "tenant_id": f"t{i % 3}",
        "endpoint": "/v1/a",
        "method": "GET",
        "status": "200",
        "latency_ms": f"{i}.5",
    }


def _bad(action: str, prefix: str, i: int, earlier: dict[str, Any], fmt: str) -> dict[str, Any] | bytes:
    record = _record(prefix, i)
    changes = {
        "conflict": {**earlier, "latency_ms": "9999.5"},
        "fraction": {**record, "status": "200.5"},
        "hex": {**record, "status": "0xC8"},
        "blank_id": {**record, "event_id": " "},
        "padded_tenant": {**record, "tenant_id": " t1"},
        "bad_method": {**record, "method": "FETCH"},
    }
    if action == "not_utf8":  # an endpoint with a Latin-1 byte, in the file's own format
        text = orjson.dumps(record) if fmt == "jsonl" else ",".join(record[c] for c in COLUMNS).encode()
        return text.replace(b"/v1/a", b"/v1/caf\xe9")
    return changes[action]


def build(actions: list[str], prefix: str, fmt: str) -> Input:
    made, kept = Input(), []
    for i, action in enumerate(actions):
        if action == "not_utf8" and fmt == "parquet":
            action = "hex"  # Parquet strings are UTF-8 by construction
        if action in ("repeat", "respelled", "conflict") and not kept:
            action = "new"
        if action == "new":
            kept.append(_record(prefix, i))
            made.new_ids.add(kept[-1]["event_id"])
            made.add(kept[-1], good=True)
        elif action in GOOD:
            earlier = kept[i % len(kept)]
            ts = datetime.fromisoformat(earlier["ts"]).strftime("%Y-%m-%dT%H:%M:%SZ")
            made.add({**earlier, "ts": ts} if action == "respelled" else earlier, good=True)
        else:
            made.add(_bad(action, prefix, i, kept[i % len(kept)] if kept else {}, fmt), good=False)
    return made


def write(rows: list[dict[str, Any] | bytes], path: Path, fmt: str) -> None:
    if fmt == "jsonl":
        path.write_bytes(b"".join((row if isinstance(row, bytes) else orjson.dumps(row)) + b"\n" for row in rows))
    elif fmt == "csv":
        lines = [row if isinstance(row, bytes) else ",".join(row[c] for c in COLUMNS).encode() for row in rows]
        path.write_bytes(",".join(COLUMNS).encode() + b"\n" + b"".join(line + b"\n" for line in lines))
    else:
        dicts = [row for row in rows if isinstance(row, dict)]
        pq.write_table(pa.table({c: pa.array([row[c] for row in dicts], pa.string()) for c in COLUMNS}), path)


ACTIONS = st.lists(st.sampled_from(GOOD + BAD), min_size=1, max_size=24)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    actions=ACTIONS, batch_rows=st.integers(min_value=1, max_value=9), fmt=st.sampled_from(["jsonl", "csv", "parquet"])
)
def test_good_records_are_stored_or_duplicates_and_bad_ones_are_all_reported(
    store: Store, tmp_path: Path, actions: list[str], batch_rows: int, fmt: str
) -> None:
    run = next(RUNS)  # one store for every example: each writes its own ids
    made = build(actions, f"run{run}", fmt)
    path, rejects = tmp_path / f"run{run}.{fmt}", tmp_path / f"run{run}.rejects.jsonl"
    write(made.rows, path, fmt)
    report = ingest_files(store, [str(path)], kind="requests", rejects_path=rejects, batch_rows=batch_rows)
    assert (report.accepted + report.duplicates, report.rejected) == (made.good, made.bad), [
        r.describe() for r in report.first_rejects
    ]
    assert report.accepted == len(made.new_ids)
    stored = store.con.execute("SELECT event_id FROM requests WHERE event_id LIKE ?", [f"run{run}-%"]).fetchall()
    assert {row[0] for row in stored} == made.new_ids
    written = rejects.read_bytes().splitlines() if rejects.exists() else []
    assert len(written) == made.bad

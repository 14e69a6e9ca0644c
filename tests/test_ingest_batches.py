"""A text file's blocks joined into batches: blocks end at about BLOCK_BYTES, batches at --batch-rows."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from healthdeck.store import blocks, ingest
from healthdeck.store.connection import open_store
from healthdeck.store.ingest import IngestReport, ingest_files

from .conftest import write_jsonl
from .test_ingest import NOW, request

SMALL_BLOCK = 600  # bytes: about three of these records a block


def activity(i: int) -> dict[str, Any]:
    moment = NOW.replace(second=0).isoformat()
    return {"kind": "activity", "event_id": f"a{i}", "ts": moment, "tenant_id": "t1", "user_id": "u1", "event": "login"}


def events() -> list[dict[str, Any]]:
    """40 records: requests, a bad one in a later block, and activity in the middle."""
    records = [request(i) for i in range(25)] + [activity(i) for i in range(5)] + [request(i) for i in range(25, 35)]
    records[17] = request(17, status="two hundred")
    return records


def ingest_with_blocks_of(
    path: Path, db: Path, block_bytes: int | None, batch_rows: int, kind: str | None = None
) -> tuple[IngestReport, list[int]]:
    """Ingest `path` with blocks of about `block_bytes` (None: the default); return the report and the
    records each stored batch held."""
    batches: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        if block_bytes is not None:
            small = partial(blocks.whole_line_blocks, max_bytes=block_bytes, read_bytes=block_bytes)
            patch.setattr(ingest, "whole_line_blocks", small)
        with open_store(db, create=True) as store:
            report = ingest_files(
                store,
                [str(path)],
                kind=kind,
                batch_rows=batch_rows,
                rejects_path=db.with_suffix(".rejects.jsonl"),
                progress=lambda size, records: batches.append(records),
            )
    return report, batches


def test_small_blocks_are_joined_into_batches_of_at_most_batch_rows(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "events.jsonl", events())
    data = io.BytesIO(path.read_bytes())
    block_sizes = [b.count for b in blocks.whole_line_blocks(data, max_lines=10, max_bytes=600, read_bytes=600)]
    assert max(block_sizes) < 10  # blocks end at the byte limit, before --batch-rows

    report, batches = ingest_with_blocks_of(path, tmp_path / "small.duckdb", SMALL_BLOCK, batch_rows=10)

    assert sum(batches) == 40 and max(batches) <= 10
    assert len(batches) < len(block_sizes)  # joined
    assert (report.accepted, report.rejected, report.by_kind) == (39, 1, {"requests": 34, "activity": 5})
    (reject,) = report.first_rejects
    assert reject.line == 18 and 'field "status"' in reject.error
    # The rejected line's own text, from the block it was read in (not the first block of its batch).
    assert reject.record == path.read_bytes().split(b"\n")[17].decode()


def _jsonl_with_conflicts(folder: Path) -> Path:
    records = events()
    # A conflict with a line of another block, same batch (the first block is a batch of its own).
    records[31] = request(10, latency_ms=99.0)
    records[33] = request(30, status=None)  # a record missing a field, in the last block
    return write_jsonl(folder / "events.jsonl", records)


def _csv_with_quotes(folder: Path) -> Path:
    """Requests as CSV: a quoted endpoint over two lines, a bad row after it, a BOM and CRLF lines."""
    rows = [f"c{i},{(NOW - timedelta(seconds=i)).isoformat()},t1,/v1/a,GET,200,{i}.5" for i in range(40)]
    rows[12] = f'c12,{NOW.isoformat()},t1,"/v1/two\nlines",GET,200,1.5'
    rows[20] = f"c20,{NOW.isoformat()},t1,/v1/a,GET,two hundred,1.5"
    text = "event_id,ts,tenant_id,endpoint,method,status,latency_ms\r\n" + "\r\n".join(rows) + "\r\n"
    path = folder / "requests.csv"
    path.write_bytes(blocks.BOM + text.encode())
    return path


def _jsonl_with_a_long_line(folder: Path) -> Path:
    """A line over the 1 MiB limit in the middle: from there on the file is read line by line."""
    records: list[Any] = [request(i) for i in range(30)]
    records[14] = orjson.dumps(request(14, endpoint="/v1/" + "x" * (blocks.MAX_RECORD_BYTES + 10))).decode()
    records[22] = request(22, latency_ms=-1.0)
    return write_jsonl(folder / "long.jsonl", records)


@pytest.mark.parametrize(
    ("make", "kind"), [(_jsonl_with_conflicts, None), (_csv_with_quotes, "requests"), (_jsonl_with_a_long_line, None)]
)
def test_joined_batches_store_exactly_what_whole_blocks_store(make: Any, kind: str | None, tmp_path: Path) -> None:
    path = make(tmp_path)

    joined, batches = ingest_with_blocks_of(path, tmp_path / "joined.duckdb", SMALL_BLOCK, batch_rows=1000, kind=kind)
    whole, _ = ingest_with_blocks_of(path, tmp_path / "whole.duckdb", None, batch_rows=1000, kind=kind)

    assert len(batches) < 5  # the small blocks were joined
    assert joined.rejected > 0 and _rejects(joined) == _rejects(whole)
    assert (joined.accepted, joined.rejected, joined.duplicates) == (whole.accepted, whole.rejected, whole.duplicates)
    for table in ("requests", "activity", "request_rollups"):
        assert _rows(tmp_path / "joined.duckdb", table) == _rows(tmp_path / "whole.duckdb", table)


def _handed_over(block_records: list[int], rows: int) -> list[tuple[int, int]]:
    """Each batch `_in_batches` hands the writer, as (its records, how many blocks were read by then)."""
    read: list[int] = []

    def blocks() -> Iterator[Any]:
        first = 1
        for records in block_records:
            read.append(records)
            yield ingest._ReadBlock(records * 100, records, [], [], lambda line: "", first)
            first += records

    return [(batch.records, len(read)) for batch in ingest._in_batches(blocks(), rows)]


def test_the_writer_gets_a_batch_as_soon_as_no_block_like_its_last_could_join_it() -> None:
    # The first block alone, before the second is read; then blocks joined up to 50 records, each
    # batch handed over before reading the block that would not fit if it were as large as the last.
    assert _handed_over([5, 20, 20, 20, 10, 3], rows=50) == [(5, 1), (40, 3), (33, 6)]
    # A block larger than the last (45 after 10) starts a batch, as before.
    assert _handed_over([5, 10, 45, 4], rows=50) == [(5, 1), (10, 3), (45, 3), (4, 4)]


def test_a_batch_ends_at_batch_bytes_whatever_batch_rows_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "BATCH_BYTES", 2 * SMALL_BLOCK)
    path = write_jsonl(tmp_path / "events.jsonl", [request(i) for i in range(40)])
    sizes: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        small = partial(blocks.whole_line_blocks, max_bytes=SMALL_BLOCK, read_bytes=SMALL_BLOCK)
        patch.setattr(ingest, "whole_line_blocks", small)
        with open_store(tmp_path / "store.duckdb", create=True) as store:
            report = ingest_files(store, [str(path)], batch_rows=1000, progress=lambda size, _: sizes.append(size))
    assert report.accepted == 40
    assert len(sizes) > 2 and max(sizes) <= 2 * SMALL_BLOCK + 200  # a block ends just past SMALL_BLOCK


def _rejects(report: IngestReport) -> list[tuple[int | None, str, Any]]:
    return sorted((r.line, r.error, r.record) for r in report.first_rejects)


def _rows(db: Path, table: str) -> list[bytes]:
    """A table's rows in order; the rollups' summed per key (they are partial rows, one set a batch)."""
    query = f"SELECT * EXCLUDE (_ingested_at) FROM {table}"
    if table == "request_rollups":
        keys = "minute, tenant_id, tier, endpoint, method, status, bucket"
        sums = "sum(requests), sum(errors_5xx), sum(latency_sum), sum(request_bytes), sum(response_bytes)"
        query = f"SELECT {keys}, {sums} FROM {table} GROUP BY ALL"
    with open_store(db, read_only=True) as store:
        rows = store.con.execute(query).fetchall()
    return sorted(orjson.dumps(row, default=str) for row in rows)

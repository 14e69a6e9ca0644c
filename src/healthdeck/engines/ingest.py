"""Ingest into PostgreSQL or ClickHouse: validated in DuckDB exactly as for a DuckDB store, stored there.

A `StagingStore` is an in-memory DuckDB store: store/ingest.py validates and deduplicates each batch
into it as usual, then hands the batch on (`batch_stored`); its rows go to the engine, which says
which of them it already held (duplicates) or held with other content (conflicts, rejected with
their line), and the staging tables are emptied for the next batch.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from healthdeck.engines.ddl import ROLLUP_TABLES
from healthdeck.engines.store import EngineStore
from healthdeck.engines.write import write_batch
from healthdeck.store.connection import Store, connect_memory

# One way of recording a reject, the DuckDB store's: the same line, reason and rejects file.
from healthdeck.store.ingest import IngestReport, RawOf, RejectSink, _record_rejects
from healthdeck.store.migrations import migrate
from healthdeck.store.schema import Kind
from healthdeck.store.validate import quote


class StagingStore(Store):
    """An in-memory DuckDB store whose every ingested batch is written on to `target`."""

    def __init__(self, target: EngineStore, rejects_dir: Path) -> None:
        con = connect_memory()
        migrate(con)
        # `path` places the default rejects file: rejects/ in the folder given.
        super().__init__(path=rejects_dir / "staging", con=con, read_only=False)
        self.target = target

    def batch_stored(
        self,
        kind: Kind,
        batch: pa.Table,
        *,
        source: str,
        sink: RejectSink | None,
        report: IngestReport,
        raw_of: RawOf | None = None,
    ) -> None:
        table = quote(kind.name)
        rows = self.con.sql(f"SELECT * FROM {table}").to_arrow_table()
        # Staging keeps nothing between batches: the engine holds the records, and rolls them up itself.
        for done in (table, *(ROLLUP_TABLES if kind.name == "requests" else ())):
            self.con.execute(f"DELETE FROM {done}")
        written = write_batch(self.target, kind, rows)
        not_new = rows.num_rows - written.stored
        report.add_batch(kind.name, -not_new, not_new - len(written.conflicts))
        if written.conflicts:
            lines = [(_line_of(batch, event_id), reason) for event_id, reason in written.conflicts]
            _record_rejects(batch, sorted(lines), source=source, sink=sink, report=report, raw_of=raw_of)

    def close(self) -> None:
        self.con.close()
        self.target.close()


def _line_of(batch: pa.Table, event_id: str) -> int:
    """The line of the batch's first record with this id (a conflict always has an explicit id)."""
    ids = batch.column("event_id").cast(pa.string())
    first = pc.index(ids, pa.scalar(event_id, pa.string())).as_py()
    return int(batch.column("_line")[first].as_py())


def staging_for(target: EngineStore, rejects_dir: Path | None = None) -> StagingStore:
    return StagingStore(target, rejects_dir or Path(".healthdeck"))

"""How fast `healthdeck ingest` reads request records from JSON Lines, CSV and Parquet.

    .venv/bin/python benchmarks/bench_ingest.py [--rows 1000000] [--formats jsonl,csv,parquet]

Writes the same request records (every field of the `requests` kind, the JSON Lines with a
`kind` field as the HTTP API receives them) in each format, then for each format times:

- `healthdeck ingest FILE --output json` in a subprocess, into a fresh store (with start-up),
  and its own `records_per_s`;
- `ingest_files` in this process, into a fresh store (validation, deduplication, insert);
- the baseline: pyarrow's reader for the format into a DuckDB table of a fresh database, with no
  validation and no deduplication.

Prints seconds, records per second and the ratio ingest / baseline. It asserts nothing about time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pj
import pyarrow.parquet as pq

from healthdeck.store.connection import open_store
from healthdeck.store.ingest import ingest_files

FORMATS = ("jsonl", "csv", "parquet")
# Recent enough to pass the "not more than a day in the future" check and fixed so runs compare.
RECORDS_SQL = """
SELECT
    'requests' AS kind,
    'req-' || i AS event_id,
    strftime(TIMESTAMPTZ '2026-11-20 00:00:00+00' + to_milliseconds(i * 37), '%Y-%m-%dT%H:%M:%S.%gZ') AS ts,
    't-' || lpad(CAST(i % 500 AS VARCHAR), 4, '0') AS tenant_id,
    '/v1/' || ['train', 'predict', 'models', 'datasets', 'jobs'][1 + i % 5] || '/' || (i % 97) AS endpoint,
    ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'][1 + i % 6] AS method,
    CASE WHEN i % 97 = 0 THEN 500 WHEN i % 31 = 0 THEN 404 ELSE 200 END AS status,
    round(5 + (i * 7919 % 100000) / 100.0, 2) AS latency_ms,
    'consumer-' || (i % 40) AS consumer,
    'key-' || (i % 1000) AS api_key,
    ['v1', 'v2'][1 + i % 2] AS api_version,
    i % 50 = 0 AS deprecated,
    100 + i % 5000 AS request_bytes,
    200 + i * 13 % 90000 AS response_bytes,
    ['FREE', 'STARTER', 'PRO', 'BUSINESS', 'ENTERPRISE'][1 + i % 5] AS tier
FROM range(?) AS r(i)
"""


def write_inputs(folder: Path, rows: int, formats: list[str]) -> dict[str, Path]:
    """The same records in each format, written by DuckDB (a connection of this script, not a store)."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE records AS {RECORDS_SQL}", [rows])
    paths = {fmt: folder / f"requests.{fmt}" for fmt in formats}
    for fmt, path in paths.items():
        if fmt == "jsonl":
            con.execute(f"COPY records TO '{path}' (FORMAT json)")
        elif fmt == "csv":
            con.execute(f"COPY (SELECT * EXCLUDE (kind) FROM records) TO '{path}' (FORMAT csv, HEADER)")
        else:
            con.execute(f"COPY (SELECT * EXCLUDE (kind) FROM records) TO '{path}' (FORMAT parquet)")
    con.close()
    return paths


def ingest_cli(path: Path, db: Path, fmt: str) -> tuple[float, int]:
    """Seconds of `healthdeck ingest` in a subprocess, and the records/s it reports."""
    kind = [] if fmt == "jsonl" else ["--kind", "requests"]
    command = [sys.executable, "-m", "healthdeck", "ingest", str(path), *kind, "--output", "json", "--db", str(db)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"healthdeck ingest {path.name} failed: {done.stdout.decode()} {done.stderr.decode()}")
    return elapsed, int(orjson.loads(done.stdout).get("records_per_s", 0))  # 0: a version without the field


class Timer:
    """Wall-clock and CPU seconds (every thread of this process) of a `with` block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def ingest_in_process(path: Path, db: Path, fmt: str, rows: int) -> Timer:
    with open_store(db, create=True) as store, Timer() as timer:
        report = ingest_files(store, [str(path)], kind=None if fmt == "jsonl" else "requests")
    if (report.accepted, report.rejected) != (rows, 0):
        raise SystemExit(f"{path.name}: accepted {report.accepted:,}, rejected {report.rejected:,} of {rows:,}")
    return timer


READERS: dict[str, Callable[[str], pa.Table]] = {
    "jsonl": lambda path: pj.read_json(path),
    "csv": lambda path: pcsv.read_csv(path),
    "parquet": lambda path: pq.read_table(path),
}


def baseline(path: Path, db: Path, fmt: str) -> Timer:
    """pyarrow's reader into a DuckDB table: no validation, no deduplication."""
    with Timer() as timer:
        table = READERS[fmt](str(path))
        con = duckdb.connect(str(db))
        con.register("arrow_table", table)
        con.execute("CREATE TABLE requests AS SELECT * FROM arrow_table")
        con.close()
    return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated: jsonl,csv,parquet")
    args = parser.parse_args()
    formats = [fmt for fmt in args.formats.split(",") if fmt]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        folder = Path(scratch)
        paths = write_inputs(folder, args.rows, formats)
        print(f"ingest {args.rows:,} request records (all 14 fields); seconds are wall-clock (CPU)")
        print(f"  {'format':<8} {'size':>7}  {'CLI, with start-up':>27}  {'in process':>28}  {'baseline':>28}  ratio")
        for fmt in formats:
            size = paths[fmt].stat().st_size / 1e6
            cli, reported = ingest_cli(paths[fmt], folder / f"cli-{fmt}.duckdb", fmt)
            inner = ingest_in_process(paths[fmt], folder / f"in-{fmt}.duckdb", fmt, args.rows)
            base = baseline(paths[fmt], folder / f"base-{fmt}.duckdb", fmt)
            print(
                f"  {fmt:<8} {size:>4.0f} MB  {cli:5.1f} s {args.rows / cli:>9,.0f}/s ({reported:>8,}/s)"
                f"  {inner.wall:5.1f} s ({inner.cpu:5.1f}) {args.rows / inner.wall:>11,.0f}/s"
                f"  {base.wall:5.1f} s ({base.cpu:5.1f}) {args.rows / base.wall:>11,.0f}/s"
                f"  {inner.wall / base.wall:5.2f} ({inner.cpu / base.cpu:.2f})"
            )
    print("  CLI: records/s over the whole command (its own records_per_s in parentheses)")
    print("  ratio: in-process ingest / baseline (pyarrow's reader into a DuckDB table, no checks), wall (CPU)")


if __name__ == "__main__":
    main()

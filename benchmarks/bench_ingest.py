"""How fast `healthdeck ingest` reads request records from JSON Lines, CSV and Parquet.

    .venv/bin/python benchmarks/bench_ingest.py [--rows 500000] [--formats jsonl,csv,parquet] [--stored 0]

Writes the same request records (every field of the `requests` kind, the JSON Lines with a
`kind` field as the HTTP API receives them) in each format, then for each format times, each in
a fresh child process (so that its peak RSS is its own, and start-up is not counted):

- `ingest_files` into a fresh store (validation, deduplication, insert), or into a copy of a store
  already holding `--stored` other request events (to see whether deduplication grows with it);
- the baseline: DuckDB's own reader of the format (`read_json`, `read_csv`, `read_parquet`) into a
  table of a fresh database, with no validation and no deduplication;
- the floor: the same work as ingest done by DuckDB alone, in plain SQL over its own reader, into a
  store made by healthdeck (the kind's checks, the lookup of stored ids, the insert and the rollups;
  no line numbers, no messages, the file in one pass; with `--stored`, the file's first and last
  times, which bound the lookup, are found before its clock starts);
- a second baseline: pyarrow's reader of the format, registered into a table of a fresh database.

Prints wall-clock and CPU seconds (every thread), records/s, MB/s of the file, peak RSS and the
ratios ingest / DuckDB baseline, ingest / floor and floor / DuckDB baseline (how much of the gap is
work the baseline does not do, and how much is healthdeck's); with `--stored`, also ingest into an
empty store and the ratio of the two. `--rows 10000000 --formats jsonl` measures a file of 3.2 GB
(written under $BENCH_DIR, or the system's temporary folder), to compare ingest's peak RSS with a
smaller file's; the children inherit HEALTHDECK_MEMORY_LIMIT. It asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

FORMATS = ("jsonl", "csv", "parquet")
# Recent enough to pass the "not more than a day in the future" check and fixed so runs compare.
RECORDS_SQL = """
SELECT
    'requests' AS kind,
    'req-' || CASE WHEN $random_ids THEN md5(CAST(i AS VARCHAR)) ELSE CAST(i AS VARCHAR) END AS event_id,
    strftime(TIMESTAMPTZ '2026-11-20 00:00:00+00' - to_milliseconds(i * $spacing), '%Y-%m-%dT%H:%M:%S.%gZ') AS ts,
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
FROM range($rows) AS r(i)
"""
# The file's records are 37 ms apart going back from 20 November; stored ones, one second apart
# going back from the same instant, interleave with them in time, and their ids (random, as UUIDs
# would be) with the file's, so that no range of ids or times tells them apart; none is the same.
FILE_RECORDS = {"random_ids": False, "spacing": 37}
STORED_RECORDS = {"random_ids": True, "spacing": 1000}
BASELINE_SQL = {
    "jsonl": "SELECT * FROM read_json(?)",
    "csv": "SELECT * FROM read_csv(?)",
    "parquet": "SELECT * FROM read_parquet(?)",
}
# The file's fields as ingest receives them. The time is text (checked for its zone, then cast).
# CSV is all text: numbers are checked to be plain decimals, then cast, as ingest does. JSON numbers
# arrive as numbers; they are read as DOUBLE, so that 200.7 for a whole-number field is refused (as
# ingest refuses it) rather than rounded by DuckDB's reader into a BIGINT column.
_WHOLE = ("status", "request_bytes", "response_bytes")
_NUMBER_TYPES = {"csv": "VARCHAR", "jsonl": "DOUBLE"}


def _columns(fmt: str) -> str:
    """DuckDB's `columns` for the file's fields: the requests kind's, in its order (the files' too)."""
    from healthdeck.store.schema import KINDS

    number = _NUMBER_TYPES[fmt]
    types = {"VARCHAR": "VARCHAR", "TIMESTAMPTZ": "VARCHAR", "BOOLEAN": "VARCHAR" if fmt == "csv" else "BOOLEAN"}
    fields = ", ".join(f"{f.name}: '{types.get(f.type, number)}'" for f in KINDS["requests"].fields)
    return f"{{kind: 'VARCHAR', {fields}}}" if fmt == "jsonl" else f"{{{fields}}}"


def _typed(fmt: str) -> str:
    """The file's rows with the numbers and the time typed (NULL where a value is refused)."""
    if fmt == "parquet":
        return "SELECT *, TRY_CAST(ts AS TIMESTAMPTZ) AS instant FROM read_parquet($path)"
    if fmt == "csv":
        reader = f"read_csv($path, header = true, columns = {_columns(fmt)})"
        whole = "CASE WHEN regexp_full_match({0}, $whole) THEN TRY_CAST({0} AS BIGINT) END AS {0}"
        number = "CASE WHEN regexp_full_match({0}, $decimal) THEN TRY_CAST({0} AS DOUBLE) END AS {0}"
        extra = ", TRY_CAST(deprecated AS BOOLEAN) AS deprecated"
    else:
        reader = f"read_json($path, format = 'newline_delimited', columns = {_columns(fmt)})"
        whole = "CASE WHEN {0} = trunc({0}) THEN TRY_CAST({0} AS BIGINT) END AS {0}"
        number, extra = "{0} AS {0}", ""
    typed = ", ".join([*(whole.format(name) for name in _WHOLE), number.format("latency_ms")])
    raw = ", ".join(f"{name} AS raw_{name}" for name in (*_WHOLE, "latency_ms", "deprecated"))
    return f"SELECT * REPLACE ({typed}{extra}), {raw}, TRY_CAST(ts AS TIMESTAMPTZ) AS instant FROM {reader}"


def write_inputs(folder: Path, rows: int, formats: list[str]) -> dict[str, Path]:
    """The same records in each format, written by DuckDB (a connection of this script, not a store)."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE TABLE records AS {RECORDS_SQL}", {**FILE_RECORDS, "rows": rows})
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


def stored_store(db: Path, rows: int) -> None:
    """A store already holding `rows` request events, none of them in the files."""
    from healthdeck.store.connection import open_store

    with open_store(db, create=True) as store:
        store.con.execute(
            f"INSERT INTO requests BY NAME SELECT * EXCLUDE (kind), now() AS _ingested_at FROM ({RECORDS_SQL})",
            {**STORED_RECORDS, "rows": rows},
        )
        store.con.execute("CHECKPOINT")


# -- one measurement, in a child process ---------------------------------------------------------


def measure(what: str, fmt: str, path: str, db: str) -> dict[str, float]:
    """Run one measurement in this (child) process: wall and CPU seconds, peak RSS, and the records seen."""
    if what == "ingest":  # healthdeck's modules imported before the clock starts: start-up is not counted
        import healthdeck.store.connection
        import healthdeck.store.ingest  # noqa: F401
    if what in ("ingest", "same-work") and not Path(db).exists():  # the store made before either clock starts
        from healthdeck.store.connection import open_store

        open_store(db, create=True).close()
    near = _file_times(fmt, path, db) if what == "same-work" else None
    wall, cpu = time.perf_counter(), time.process_time()
    if what == "ingest":
        records = _ingest(fmt, path, db)
    elif what == "same-work":
        records = _same_work(fmt, path, db, near)
    elif what == "duckdb":
        con = duckdb.connect(db)
        con.execute(f"CREATE TABLE requests AS {BASELINE_SQL[fmt]}", [path])
        records = con.execute("SELECT count(*) FROM requests").fetchall()[0][0]
        con.close()
    else:
        records = _pyarrow(fmt, path, db)
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "peak_mb": peak_rss_mb(),
        "records": records,
    }


def _ingest(fmt: str, path: str, db: str) -> int:
    from healthdeck.store.connection import open_store
    from healthdeck.store.ingest import ingest_files

    with open_store(db) as store:
        report = ingest_files(store, [path], kind=None if fmt == "jsonl" else "requests")
    if report.rejected or report.duplicates:
        raise SystemExit(f"{path}: accepted {report.accepted:,}, rejected {report.rejected:,}")
    return report.accepted


def _file_times(fmt: str, path: str, db: str) -> dict[str, Any] | None:
    """The first and last time of the file's records, when the store holds any request: the floor
    looks ids up only then, as ingest does, and only near those times. Found before the floor's clock
    starts (a second pass over the file, where ingest takes them from the batch it already holds)."""
    from healthdeck.store.validate import DECIMAL_NUMBER, WHOLE_NUMBER

    con = duckdb.connect(db, read_only=True)
    try:
        if con.execute("SELECT count(*) FROM (SELECT 1 FROM requests LIMIT 1)").fetchone() == (0,):
            return None
        con.execute("SET TimeZone = 'UTC'")
        read = {"path": path} | ({"whole": WHOLE_NUMBER, "decimal": DECIMAL_NUMBER} if fmt == "csv" else {})
        earliest, latest = con.execute(f"SELECT min(instant), max(instant) FROM ({_typed(fmt)})", read).fetchall()[0]
    finally:
        con.close()
    return {"earliest": earliest, "latest": latest}


def _same_work(fmt: str, path: str, db: str, near: dict[str, Any] | None) -> int:
    """What ingest does, as plain DuckDB SQL over DuckDB's own reader, in one transaction and one
    pass over the file: the checks of the requests kind folded into one condition, the valid records
    whose id is not stored within a day inserted into the store's table (looked up only when `near`
    gives the file's times, the store holding requests), the ids repeated within the file counted, and
    the new rows rolled up. It numbers no line, writes no message and reads the file whole, so it is a
    floor: the engine itself doing the work ingest must do. Its checks are ingest's for the values the
    benchmark's files hold (see `_typed`); it refuses a few that ingest accepts (a CSV number padded
    with spaces) and accepts a few that ingest refuses (a JSON string such as "2e2" for a whole number)."""
    from healthdeck.store.rollups import bucket_sql
    from healthdeck.store.schema import HTTP_METHODS, PLAN_TIERS
    from healthdeck.store.validate import DECIMAL_NUMBER, TZ_SUFFIX, WHOLE_NUMBER

    methods, tiers = (", ".join(f"'{name}'" for name in names) for names in (HTTP_METHODS, PLAN_TIERS))
    blank = "ascii({0}) IN (32, 9, 13, 10) OR ascii(right({0}, 1)) IN (32, 9, 13, 10)"
    # An optional number given must read as one: CSV's text, JSON's whole numbers (200.7 is refused).
    checked = {"csv": (*_WHOLE, "latency_ms", "deprecated"), "jsonl": _WHOLE}.get(fmt, ())
    given = " AND ".join([f"(raw_{name} IS NULL OR {name} IS NOT NULL)" for name in checked] or ["true"])
    read = {"path": path} | ({"whole": WHOLE_NUMBER, "decimal": DECIMAL_NUMBER} if fmt == "csv" else {})
    con = duckdb.connect(db)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("BEGIN TRANSACTION")
    lookup = (  # the ids stored within a day of each record, among those near the file's times
        "ANTI JOIN (SELECT event_id, ts FROM requests WHERE ts BETWEEN $earliest - INTERVAL 1 DAY "
        "AND $latest + INTERVAL 1 DAY) AS kept ON kept.event_id = fresh.event_id "
        "AND kept.ts BETWEEN instant - INTERVAL 1 DAY AND instant + INTERVAL 1 DAY"
        if near
        else ""
    )
    inserted = con.execute(
        f"""INSERT INTO requests (event_id, ts, tenant_id, endpoint, method, status, latency_ms, consumer,
            api_key, api_version, deprecated, request_bytes, response_bytes, tier, _ingested_at)
        SELECT event_id, instant, tenant_id, endpoint, upper(method), status, latency_ms, consumer, api_key,
            api_version, deprecated, request_bytes, response_bytes, upper(tier), now()
        FROM ({_typed(fmt)}) AS fresh {lookup}
        WHERE {"kind = 'requests' AND " if fmt == "jsonl" else ""}event_id <> '' AND NOT ({blank.format("event_id")})
            AND instant IS NOT NULL AND regexp_matches(ts, $zone) AND instant <= now() + INTERVAL 1 DAY
            AND tenant_id <> '' AND NOT ({blank.format("tenant_id")}) AND endpoint IS NOT NULL
            AND upper(method) IN ({methods}) AND status BETWEEN 100 AND 599
            AND latency_ms >= 0 AND isfinite(latency_ms) AND {given}
            AND coalesce(request_bytes >= 0, true) AND coalesce(response_bytes >= 0, true)
            AND coalesce(upper(tier) IN ({tiers}), true)""",
        read | (near or {}) | {"zone": TZ_SUFFIX},
    ).fetchone()
    fresh = "FROM requests WHERE _ingested_at = now()"
    repeated = con.execute(f"SELECT count(*) - count(DISTINCT event_id) {fresh}").fetchone()
    con.execute(
        f"""INSERT INTO request_rollups SELECT time_bucket(INTERVAL 1 minute, ts), tenant_id, tier, endpoint,
            method, status, {bucket_sql("latency_ms")}, count(*), count(*) FILTER (WHERE status >= 500),
            sum(latency_ms), sum(request_bytes), sum(response_bytes) {fresh} GROUP BY ALL"""
    )
    con.execute("COMMIT")
    con.close()
    if repeated != (0,):
        raise SystemExit(f"{path}: ids repeated within the file: {repeated}")
    return int(inserted[0]) if inserted else 0


def _pyarrow(fmt: str, path: str, db: str) -> int:
    import pyarrow.csv as pcsv
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    reader = {"jsonl": pj.read_json, "csv": pcsv.read_csv, "parquet": pq.read_table}[fmt]
    arrow_table = reader(path)
    con = duckdb.connect(db)
    con.register("arrow_table", arrow_table)
    con.execute("CREATE TABLE requests AS SELECT * FROM arrow_table")
    con.close()
    return int(arrow_table.num_rows)


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not getrusage's ru_maxrss: Linux carries it over from
    the parent through fork and exec, so a child would report the benchmark's own peak."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


@dataclass(frozen=True)
class Figure:
    wall: float
    cpu: float
    peak_mb: float

    def shown(self, rows: int, size: int) -> str:
        return (
            f"{self.wall:6.1f} s ({self.cpu:5.1f}) {rows / self.wall:>9,.0f}/s {size / 1e6 / self.wall:5.0f} MB/s"
            f" {self.peak_mb:6,.0f} MB"
        )


def run_child(what: str, fmt: str, path: Path, db: Path, rows: int) -> Figure:
    """One measurement in a fresh Python process, so each peak RSS is its own."""
    command = [sys.executable, __file__, "--measure", what, fmt, str(path), str(db)]
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} {path.name} failed: {done.stdout.decode()} {done.stderr.decode()}")
    result = orjson.loads(done.stdout)
    if result["records"] != rows:
        raise SystemExit(f"{what} {path.name}: {result['records']:,} records of {rows:,}")
    return Figure(result["wall"], result["cpu"], result["peak_mb"])


def compare(fmt: str, path: Path, folder: Path, *, rows: int, stored: bool, pyarrow: bool) -> None:
    """Time ingest and the baselines on one file and print them, with the ratio."""
    size = path.stat().st_size
    db = folder / f"in-{fmt}.duckdb"
    if stored:
        shutil.copy(folder / "stored.duckdb", db)
    inner = run_child("ingest", fmt, path, db, rows)
    base = run_child("duckdb", fmt, path, folder / f"base-{fmt}.duckdb", rows)
    print(f"  {fmt:<8} {size / 1e6:>6,.0f} MB  ingest        {inner.shown(rows, size)}")
    if stored:  # the same into an empty store: does deduplication grow with the store?
        empty = run_child("ingest", fmt, path, folder / f"empty-{fmt}.duckdb", rows)
        print(f"  {'':<18} empty store   {empty.shown(rows, size)}")
        print(f"  {'':<18} ratio stored / empty store: {inner.wall / empty.wall:.2f} ({inner.cpu / empty.cpu:.2f} CPU)")
    print(f"  {'':<18} DuckDB reader {base.shown(rows, size)}")
    same_db = folder / f"same-{fmt}.duckdb"
    if stored:
        shutil.copy(folder / "stored.duckdb", same_db)
    same = run_child("same-work", fmt, path, same_db, rows)
    print(f"  {'':<18} same work, SQL {same.shown(rows, size)}")
    if pyarrow:
        arrow = run_child("pyarrow", fmt, path, folder / f"arrow-{fmt}.duckdb", rows)
        print(f"  {'':<18} pyarrow       {arrow.shown(rows, size)}")
    ratio = f"{inner.wall / base.wall:.2f} ({inner.cpu / base.cpu:.2f} CPU)"
    print(f"  {'':<18} ratio ingest / DuckDB reader: {ratio}")
    pairs = (("ingest / same work in SQL", inner, same), ("same work in SQL / DuckDB reader", same, base))
    for name, over, under in pairs:
        print(f"  {'':<18} ratio {name}: {over.wall / under.wall:.2f} ({over.cpu / under.cpu:.2f} CPU)")
    for scratch in folder.glob("*-*.duckdb*"):
        scratch.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated: jsonl,csv,parquet")
    parser.add_argument("--stored", type=int, default=0, help="request events already in the store")
    parser.add_argument("--no-pyarrow", action="store_true", help="skip the pyarrow baseline")
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)  # a child process: WHAT FMT PATH DB
    args = parser.parse_args()
    if args.measure:
        sys.stdout.write(orjson.dumps(measure(*args.measure)).decode())
        return
    formats = [fmt for fmt in args.formats.split(",") if fmt]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=os.environ.get("BENCH_DIR")) as scratch:
        folder = Path(scratch)
        paths = write_inputs(folder, args.rows, formats)
        if args.stored:
            stored_store(folder / "stored.duckdb", args.stored)
        load = " ".join(f"{n:.1f}" for n in os.getloadavg())
        print(f"ingest {args.rows:,} request records (all 14 fields) into a store of {args.stored:,} requests")
        print(f"load average {load}; wall s (CPU s), records/s, MB/s of the file, peak RSS")
        for fmt in formats:
            compare(fmt, paths[fmt], folder, rows=args.rows, stored=bool(args.stored), pyarrow=not args.no_pyarrow)
    print("  DuckDB reader: the format's reader into a table of a fresh database, no validation, no deduplication")
    print(
        "  same work, SQL: that reader's rows checked, looked up, inserted into the store and rolled up, in plain SQL"
    )


if __name__ == "__main__":
    main()

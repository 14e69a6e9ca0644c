"""How fast a block of JSON Lines is parsed, by each parser ingest could use, against DuckDB's `read_json`.

    .venv/bin/python benchmarks/bench_jsonl_parse.py [--rows 200000] [--repeat 3]

Writes `--rows` request records (the same as bench_ingest.py's) and times, in this process, on
the same block of lines (best of `--repeat`, wall and CPU seconds of every thread):

- the baseline: DuckDB's `read_json` of the block's file into a table (a single pass into typed
  columns; it needs file access, which the store's sandboxed connection does not have);
- what `healthdeck ingest` does with the block: pyarrow's JSON reader on its bytes, reading the
  text fields of its first line as text (`jsonl_pieces`), with the line numbers;
- pyarrow's JSON reader declaring every kind's text fields, as ingest did before (pyarrow then
  builds a column of nulls for each field no line has);
- DuckDB's JSON functions on the block handed over as one Arrow string column (no file access):
  `from_json` with the kind's fields as text, and `json_keys` (to find unknown and repeated
  keys), the least SQL must do to stage the lines as ingest does.

Prints each figure with its ratio to the baseline. It asserts nothing about time.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pj

from bench_ingest import FILE_RECORDS, RECORDS_SQL
from healthdeck.store.blocks import whole_line_blocks
from healthdeck.store.readers import ARROW_JSON, ARROW_JSON_FIELDS, jsonl_pieces
from healthdeck.store.schema import KINDS
from timing import timed_runs


def best(step: Callable[[], object], repeat: int) -> tuple[float, float]:
    """The least wall and CPU seconds of `repeat` runs of `step`."""
    walls, cpus = timed_runs(repeat, step)
    return min(walls), min(cpus)


def line_column(data: bytes) -> pa.Table:
    """The block's lines as one Arrow string column, built from the buffer by numpy (no step per line)."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n")) + 1
    offsets = np.concatenate([[0], ends]).astype(np.int64)
    return pa.table({"line": pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))})


def duckdb_functions(con: duckdb.DuckDBPyConnection, data: bytes) -> None:
    fields = {name: "VARCHAR" for name in ("kind", *KINDS["requests"].columns)}
    con.register("block", line_column(data))
    structure = orjson.dumps(fields).decode()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE parsed AS "
        f"SELECT try(from_json(line, '{structure}')) AS s, try(json_keys(line)) AS keys FROM block"
    )
    con.unregister("block")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "block.jsonl"
        con = duckdb.connect()
        con.execute(f"COPY ({RECORDS_SQL}) TO '{path}' (FORMAT json)", {**FILE_RECORDS, "rows": args.rows})
        data = path.read_bytes()
        read_json = best(
            lambda: con.execute("CREATE OR REPLACE TABLE t AS SELECT * FROM read_json(?)", [str(path)]), args.repeat
        )
        [block] = whole_line_blocks(io.BytesIO(data), max_lines=args.rows)
        ingest = best(lambda: list(jsonl_pieces(block)), args.repeat)
        arrow = best(
            lambda: pj.read_json(io.BytesIO(data), read_options=ARROW_JSON, parse_options=ARROW_JSON_FIELDS),
            args.repeat,
        )
        functions = best(lambda: duckdb_functions(con, data), args.repeat)
    print(
        f"{args.rows:,} request lines ({len(data) / 1e6:.0f} MB), best of {args.repeat}; load average "
        f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}; wall s (CPU s), ratio to read_json wall (CPU)"
    )
    for name, (wall, cpu) in [
        ("DuckDB read_json", read_json),
        ("ingest's jsonl_pieces", ingest),
        ("pyarrow, every kind's fields", arrow),
        ("DuckDB from_json+json_keys", functions),
    ]:
        print(f"  {name:28s} {wall:6.3f} ({cpu:6.3f})   {wall / read_json[0]:5.2f} ({cpu / read_json[1]:5.2f})")


if __name__ == "__main__":
    main()

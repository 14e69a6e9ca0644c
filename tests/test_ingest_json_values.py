"""JSON values read the way orjson reads them, whichever parser ingests a block: the cases where
parsers disagree (a repeated key, NaN, an infinite or very long number, exponents, escapes) are
pinned here, each with what is stored or the reason its line is rejected."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from healthdeck.store.connection import open_store
from healthdeck.store.ingest import ingest_files

from .test_ingest import NOW

HEAD = (
    f'"kind":"requests","ts":"{(NOW - timedelta(minutes=1)).isoformat()}",'
    '"tenant_id":"t1","endpoint":"/v1/a","method":"GET"'
)
# (the line's other fields as JSON text, the reason it is rejected or None, the stored columns).
CASES: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "repeated key, the last one counts": ('"status":500,"latency_ms":1.5,"status":200', None, {"status": 200}),
    "NaN": ('"status":200,"latency_ms":NaN', "malformed JSON: unexpected character", {}),
    "infinite number": ('"status":200,"latency_ms":1e999', "malformed JSON: number is infinity", {}),
    "minus zero": ('"status":200,"latency_ms":-0.0', None, {"latency_ms": 0.0}),
    "exponent in a number field": ('"status":200,"latency_ms":1e3', None, {"latency_ms": 1000.0}),
    "exponent of a whole number": ('"status":2e2,"latency_ms":1.5', None, {"status": 200}),
    "whole float": ('"status":200.0,"latency_ms":1.5', None, {"status": 200}),
    "number past 64 bits, read as a double": (
        '"status":123456789012345678901234,"latency_ms":1.5',
        'field "status": expected a whole number, got 1.2345678901234569e+23',
        {},
    ),
    "19 digits": (
        '"status":200,"latency_ms":1.5,"request_bytes":1234567890123456789',
        None,
        {"request_bytes": 1234567890123456789},
    ),
    "past BIGINT": (
        '"status":200,"latency_ms":1.5,"request_bytes":12345678901234567890',
        'field "request_bytes": expected a whole number, got 12345678901234567890',
        {},
    ),
    "boolean for text": (
        '"status":200,"latency_ms":1.5,"api_version":true',
        'field "api_version": expected text, got true',
        {},
    ),
    "escapes": ('"status":200,"latency_ms":1.5,"consumer":"c\\u0031\\t"', None, {"consumer": "c1\t"}),
    "fraction for text": ('"status":200,"latency_ms":1.5,"consumer":1.5', None, {"consumer": "1.5"}),
    "small fraction for text, as Python writes it": (
        '"status":200,"latency_ms":1.5,"consumer":1.5e-7',
        None,
        {"consumer": "1.5e-07"},
    ),
    "whole number for text": ('"status":200,"latency_ms":1.5,"consumer":42', None, {"consumer": "42"}),
    "unknown field given as null": ('"status":200,"latency_ms":1.5,"whatever":null', None, {}),
    "numbers as strings": ('"status":"200","latency_ms":"1.50"', None, {"status": 200, "latency_ms": 1.5}),
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """One file of every case (one block), ingested once: each case's reject reason, and each stored record."""
    folder = tmp_path_factory.mktemp("values")
    lines = [f'{{"event_id":"e{i}",{HEAD},{body}}}' for i, (body, _, _) in enumerate(CASES.values())]
    path = folder / "values.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with open_store(folder / "store.duckdb", create=True) as store:
        report = ingest_files(store, [str(path)], rejects_path=folder / "rejects.jsonl")
        cursor = store.con.execute("SELECT * FROM requests")
        names = [column[0] for column in cursor.description]
        stored = {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    entries = (
        [orjson.loads(line) for line in (folder / "rejects.jsonl").read_bytes().splitlines()] if report.rejected else []
    )
    return {f"e{entry['line'] - 1}": entry["error"] for entry in entries}, stored


@pytest.mark.parametrize("case", list(CASES))
def test_json_values_are_read_as_orjson_reads_them(
    case: str, ingested: tuple[dict[str, str], dict[str, dict[str, Any]]]
) -> None:
    rejected, stored = ingested
    event_id = f"e{list(CASES).index(case)}"
    _, reason, columns = CASES[case]
    if reason is not None:
        assert event_id not in stored
        assert rejected[event_id].startswith(reason)
    else:
        assert event_id not in rejected
        assert {name: stored[event_id][name] for name in columns} == columns

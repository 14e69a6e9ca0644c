"""The validation SQL does only the work a batch needs, and tells every record what it told it before."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthdeck.store.connection import Store
from healthdeck.store.schema import KINDS
from healthdeck.store.validate import _trimmed, validation_query

from .conftest import write_jsonl
from .test_ingest import NOW, request
from .test_ingest_rules import ingest, parquet_requests, reasons, stored_ids

EDGES = st.text(alphabet=st.sampled_from([" ", "\t", "\n", "\u00a0", "\u3000", "a", "1", ":", "Z", "é"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(value=EDGES)
def test_trimming_only_values_with_edge_spaces_is_trim(value: str) -> None:
    con = duckdb.connect()
    expected, got = con.execute(f"SELECT trim($v), {_trimmed('$v')}", {"v": value}).fetchone() or (None, None)
    assert got == expected


PARQUET_TYPES = {
    "event_id": "VARCHAR",
    "ts": "TIMESTAMP WITH TIME ZONE",
    "tenant_id": "VARCHAR",
    "endpoint": "VARCHAR",
    "method": "VARCHAR",
    "status": "SMALLINT",
    "latency_ms": "DOUBLE",
    "deprecated": "BOOLEAN",
    "request_bytes": "UINTEGER",
    "response_bytes": "BIGINT",
}


def test_columns_whose_every_value_fits_their_field_get_no_type_check() -> None:
    query = validation_query(KINDS["requests"], {**PARQUET_TYPES, "_line": "BIGINT"}, "_staged")
    assert "TRY_CAST" not in query
    assert "expected" not in query  # no "field ...: expected a whole number, got ..." can happen
    assert "must be at least 100" in query  # the value rules still hold


def test_an_integer_column_wider_than_its_field_is_still_checked_value_by_value(store: Store, tmp_path: Path) -> None:
    path = parquet_requests(tmp_path / "wide.parquet", status=pa.array([200, 2**40], pa.int64()))
    report = ingest(store, path, kind="requests")
    assert reasons(report) == [f'{path}:2: field "status": expected a whole number, got {2**40}']
    assert stored_ids(store) == ["p1"]


def test_narrower_integer_columns_fit_a_whole_number_field(store: Store, tmp_path: Path) -> None:
    path = parquet_requests(tmp_path / "narrow.parquet", status=pa.array([200, 599], pa.uint16()))
    assert ingest(store, path, kind="requests").accepted == 2
    assert store.con.execute("SELECT status FROM requests ORDER BY status").fetchall() == [(200,), (599,)]


def test_a_record_breaking_several_rules_is_told_each_in_the_schemas_order(store: Store, tmp_path: Path) -> None:
    bad = request(1, event_id=" r1", tenant_id=None, method="FETCH", status="abc", latency_ms=-1, colour="red")
    path = write_jsonl(tmp_path / "bad.jsonl", [request(0), bad])
    report = ingest(store, path)
    assert reasons(report) == [
        f"{path}:2: unknown field 'colour' for kind requests; "
        'field "event_id": an id must not start or end with spaces; got " r1"; '
        "missing required field 'tenant_id'; "
        'field "method": must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS; got FETCH; '
        'field "status": expected a whole number, got abc; '
        'field "latency_ms": must be at least 0, got -1.0'
    ]
    assert stored_ids(store) == ["r0"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_text_values_with_edge_spaces_are_read_as_their_trimmed_text(store: Store, tmp_path: Path, fmt: str) -> None:
    ts = (NOW - timedelta(minutes=1)).isoformat()
    values = {"event_id": "s1", "ts": f"  {ts} ", "tenant_id": "t1", "endpoint": "/v1/a"}
    values |= {"method": "get", "status": "\u00a0201  ", "latency_ms": "  2.5\u3000"}
    if fmt == "jsonl":
        path = write_jsonl(tmp_path / "spaced.jsonl", [values])
    else:
        path = tmp_path / "spaced.csv"
        path.write_text(",".join(values) + "\n" + ",".join(values.values()) + "\n")
    report = ingest(store, path, kind="requests")
    assert (report.accepted, report.rejected) == (1, 0), reasons(report)
    row = store.con.execute("SELECT ts, status, latency_ms FROM requests").fetchall()
    assert row == [(NOW - timedelta(minutes=1), 201, 2.5)]


def test_events_without_an_id_are_identified_by_their_content(store: Store, tmp_path: Path) -> None:
    records = [request(i, event_id=None) for i in (1, 2, 1)]
    first = ingest(store, write_jsonl(tmp_path / "a.jsonl", records))
    assert (first.accepted, first.duplicates, first.rejected) == (2, 1, 0)
    again = ingest(store, write_jsonl(tmp_path / "b.jsonl", records))
    assert (again.accepted, again.duplicates, again.rejected) == (0, 3, 0)
    ids = store.con.execute("SELECT DISTINCT length(event_id) FROM requests").fetchall()
    assert ids == [(32,)]  # an md5 of the content, not NULL


@pytest.mark.parametrize("field", ["_typed_0", "_TYPED_1", "__typed_1"])
def test_an_unknown_field_named_like_a_typed_value_is_rejected_as_unknown(
    store: Store, tmp_path: Path, field: str
) -> None:
    # The inner query names each field's typed value `_typed_<n>`, unlike any column of the batch:
    # a record with such a field is still told it is unknown, and the others are stored as they are.
    path = write_jsonl(tmp_path / "named.jsonl", [request(0), request(1, **{field: "x"}), request(2, status="abc")])
    report = ingest(store, path)
    assert reasons(report) == [
        f"{path}:2: unknown field '{field}' for kind requests",
        f'{path}:3: field "status": expected a whole number, got abc',
    ]
    assert stored_ids(store) == ["r0"]
    assert store.con.execute("SELECT event_id, status FROM requests").fetchall() == [("r0", 200)]

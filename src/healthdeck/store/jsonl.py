"""JSON Lines parsed by DuckDB into the text columns validation reads.

A block of lines goes to DuckDB as one Arrow string column; one parse per line gives each
field's JSON text, and SQL turns it into the text `stage_records` would stage for it. A line
whose staging needs a judgement SQL does not make the same way (malformed JSON, not an object,
an unknown kind or field, a repeated key, an object or a fraction where text or a whole number
is expected, numbers orjson reads otherwise) is left to the record-by-record path, which stays
the reference: such a line is nearly always rejected, so only rejected lines become Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from healthdeck.store.readers import LineBlock
from healthdeck.store.schema import KINDS, Field, Kind
from healthdeck.store.validate import literal, quote

# Whole numbers of up to 18 digits read alike everywhere; orjson reads longer ones as doubles.
PLAIN_WHOLE = r"-?[0-9]{1,18}"
# A fraction as DuckDB writes a parsed double back; with an exponent or out of range, orjson decides.
PLAIN_FRACTION = r"-?[0-9]{1,18}\.[0-9]+"


@dataclass(frozen=True)
class StagedJsonl:
    """A block's lines staged as text per kind, and the lines left to the record-by-record path."""

    tables: list[tuple[Kind, pa.Table]]
    one_by_one: list[int]


def _all_fields() -> list[str]:
    names: dict[str, None] = {"kind": None}
    for kind in KINDS.values():
        names.update(dict.fromkeys(kind.columns))
    return list(names)


# Every kind's fields, each as its JSON text: one parse of a line serves whichever kind it is.
STRUCTURE = literal(orjson.dumps(dict.fromkeys(_all_fields(), "JSON")).decode())


def block_table(block: LineBlock) -> pa.Table:
    """The block's lines as an Arrow string column `line` with `_line`, built on one buffer without a
    step per line in Python. A line DuckDB must not see (over the size limit, not UTF-8) is left
    empty there, so it is not a JSON object: it goes one by one, where it is rejected."""
    texts = block.lines if _all_bytes(block.lines) else [b"" if isinstance(t, int) else t for t in block.lines]
    data = b"\n".join(texts) + b"\n"  # type: ignore[arg-type]  # each line keeps its newline: JSON whitespace
    if not data.isascii() and not _utf8(data):
        texts = [line if _utf8(line) else b"" for line in texts]  # type: ignore[arg-type]
        data = b"\n".join(texts) + b"\n"  # type: ignore[arg-type]
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1, out=offsets[1:])  # type: ignore[arg-type]
    column = pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(offsets), pa.py_buffer(data))
    numbers = pa.array(np.arange(block.first_line, block.first_line + len(texts), dtype=np.int64))
    return pa.table({"line": column, "_line": numbers})


def _all_bytes(lines: list[bytes | int]) -> bool:
    try:
        sum(map(len, lines))  # type: ignore[arg-type]
    except TypeError:  # a line over the size limit, given by its size
        return False
    return True


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def stage_jsonl(con: Any, block: LineBlock, *, kind: Kind | None) -> StagedJsonl:
    """Stage a block's lines per kind (the given one, or each line's "kind") in DuckDB.

    A cursor of the store's connection does it: its own temp tables, and a caller's unfinished
    result on the connection does not stand in its way.
    """
    cursor = con.cursor()
    try:
        cursor.register("_block", block_table(block))
        cursor.execute(f"CREATE TEMP TABLE _parsed AS {_parsed_query()}")
        one_by_one = [row[0] for row in cursor.execute(_unstaged_query(routed=kind is None)).fetchall()]
        tables = []
        for target in [kind] if kind is not None else _block_kinds(cursor):
            staged, lines = _stage_kind(cursor, target, routed=kind is None)
            tables.append((target, staged))
            one_by_one += lines
    finally:
        cursor.close()
    return StagedJsonl([(k, t) for k, t in tables if t.num_rows], sorted(one_by_one))


def _parsed_query() -> str:
    """Each line once parsed: `_ok` when it is valid JSON and an object, its keys, and each field's JSON text."""
    fields = ", ".join(f"CAST(s.{quote(name)} AS VARCHAR) AS {quote(name)}" for name in _all_fields())
    ok = "json_valid(line) AND starts_with(ltrim(line, ' \t\r\n'), '{')"
    return (
        f"SELECT _line, _ok, keys, {fields} FROM (SELECT _line, _ok, "
        f"CASE WHEN _ok THEN from_json(line, {STRUCTURE}) END AS s, CASE WHEN _ok THEN json_keys(line) END AS keys "
        f"FROM (SELECT _line, line, {ok} AS _ok FROM _block))"
    )


def _kind_names() -> str:
    return ", ".join(literal(orjson.dumps(name).decode()) for name in KINDS)


def _unstaged_query(*, routed: bool) -> str:
    """The lines no kind stages: not a JSON object, or (routed by their "kind") of no known kind."""
    unrouted = f" OR kind IS NULL OR kind NOT IN ({_kind_names()})" if routed else ""
    return f"SELECT _line FROM _parsed WHERE NOT _ok{unrouted}"


def _block_kinds(con: Any) -> list[Kind]:
    rows = con.execute(f"SELECT DISTINCT kind FROM _parsed WHERE _ok AND kind IN ({_kind_names()})").fetchall()
    return [KINDS[orjson.loads(row[0])] for row in rows]


def _stage_kind(con: Any, kind: Kind, *, routed: bool) -> tuple[pa.Table, list[int]]:
    """The kind's lines as text columns and `_line`, and those left to the record-by-record path."""
    where = f"_ok AND kind = {literal(orjson.dumps(kind.name).decode())}" if routed else "_ok"
    texts = ", ".join(f"{_text(f)} AS {quote(f.name)}" for f in kind.fields)
    table = con.sql(f"SELECT _line, {texts}, {_by_python(kind)} AS _python FROM _parsed WHERE {where}").to_arrow_table()
    python = table.column("_python")
    for f in kind.fields:
        if f.type == "JSON":
            column, unreadable = _canonical_column(table.column(f.name))
            table = table.set_column(table.schema.get_field_index(f.name), f.name, column)
            python = pc.or_(python, unreadable)
    staged = table.filter(pc.invert(python)).drop_columns(["_python"])
    return staged, table.filter(python).column("_line").to_pylist()


def _text(f: Field) -> str:
    """The text `stage_records` stages for a field's JSON value: a string unquoted, anything else as written."""
    raw = quote(f.name)
    if f.type == "JSON":
        return raw
    unquoted = f"CASE WHEN contains({raw}, '\\') THEN json_extract_string({raw}, '$') ELSE {raw}[2:-2] END"
    return f"CASE WHEN starts_with({raw}, '\"') THEN {unquoted} ELSE {raw} END"


def _by_python(kind: Kind) -> str:
    """Whether a line of the kind goes to the record-by-record path: a key that is not one of the
    kind's fields or is repeated, or a field's value SQL does not stage as `stage_records` does."""
    known = ", ".join(literal(name) for name in ("kind", *kind.columns))
    checks = [f"NOT list_has_all([{known}], keys)", "len(keys) <> len(list_distinct(keys))"]
    checks += [f"({quote(f.name)} IS NOT NULL AND NOT ({_staged_alike(f)}))" for f in kind.fields if f.type != "JSON"]
    return " OR ".join(checks)


def _staged_alike(f: Field) -> str:
    """The JSON values of a field whose text is the one `stage_records` makes: strings, whole numbers
    orjson reads as integers, plain fractions for a number field, and booleans for a boolean field."""
    raw = quote(f.name)
    forms = [f"starts_with({raw}, '\"')", f"regexp_full_match({raw}, {literal(PLAIN_WHOLE)})"]
    if f.type == "DOUBLE":
        forms.append(f"regexp_full_match({raw}, {literal(PLAIN_FRACTION)})")
    if f.type == "BOOLEAN":
        forms.append(f"{raw} IN ('true', 'false')")
    return " OR ".join(forms)


def canonical_json(value: Any) -> str:
    """JSON text with its keys sorted, so one object sent twice in another key order is one content."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value  # not JSON: rejected by validation, with the text as given
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _canonical_column(column: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """A JSON field's values with their keys sorted (as `stage_records` stores them), and which values
    orjson cannot read as DuckDB did (NaN, an infinite number): their lines go one by one."""
    values: list[str | None] = []
    unreadable: list[bool] = []
    for raw in column.to_pylist():
        try:
            values.append(None if raw is None else canonical_json(orjson.loads(raw)))
            unreadable.append(False)
        except orjson.JSONDecodeError:
            values.append(None)
            unreadable.append(True)
    return pa.array(values, pa.string()), pa.array(unreadable, pa.bool_())


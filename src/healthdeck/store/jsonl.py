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
# A number field also takes a plain fraction; one with an exponent, or out of range, orjson decides.
PLAIN_FRACTION = r"-?[0-9]{1,18}(\.[0-9]+)?"
# What a JSON number (or orjson's NaN and Infinity) may look like as text.
NUMBER_LIKE = r"-?([0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|Infinity|inf|NaN|nan)"


@dataclass(frozen=True)
class StagedJsonl:
    """A block's lines staged as text per kind, and the lines left to the record-by-record path."""

    tables: list[tuple[Kind, pa.Table]]
    one_by_one: list[int]


def block_table(block: LineBlock) -> pa.Table:
    """The block's lines as an Arrow string column `line` with `_line`, built on one buffer without a
    step per line in Python. A line DuckDB must not see (over the size limit, not UTF-8) is left
    empty there, so it is not a JSON object: it goes one by one, where it is rejected."""
    texts = block.lines if _all_bytes(block.lines) else [b"" if isinstance(t, int) else t for t in block.lines]
    data = b"\n".join(texts)  # type: ignore[arg-type]
    if not data.isascii() and not _utf8(data):
        texts = [line if _utf8(line) else b"" for line in texts]  # type: ignore[arg-type]
        data = b"\n".join(texts)  # type: ignore[arg-type]
    # Each line keeps the newline after it (JSON whitespace), so the offsets are its running sizes.
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1, out=offsets[1:])  # type: ignore[arg-type]
    offsets[-1] = len(data)
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
        kinds = [kind] if kind is not None else _block_kinds(cursor)
        cursor.execute(f"CREATE TEMP TABLE _parsed AS {_parsed_query(kinds)}")
        one_by_one = [row[0] for row in cursor.execute(_unstaged_query(kinds, routed=kind is None)).fetchall()]
        tables = []
        for target in kinds:
            staged, lines = _stage_kind(cursor, target, routed=kind is None)
            tables.append((target, staged))
            one_by_one += lines
    finally:
        cursor.close()
    return StagedJsonl([(k, t) for k, t in tables if t.num_rows], sorted(one_by_one))


def _block_kinds(con: Any) -> list[Kind]:
    """The known kinds the block's lines name (a line that is not JSON names none)."""
    rows = con.execute("SELECT DISTINCT try(line ->> '$.kind') FROM _block").fetchall()
    return [KINDS[row[0]] for row in rows if row[0] in KINDS]


def _parsed_query(kinds: list[Kind]) -> str:
    """The lines once parsed: `_ok` for a JSON object, its keys, and the fields of the block's kinds
    as text (a JSON field as JSON text), each line parsed once by one call."""
    types = {name: "VARCHAR" for kind in kinds for name in ("kind", *kind.columns)}
    types |= {f.name: "JSON" for kind in kinds for f in kind.fields if f.type == "JSON"}
    structure = literal(orjson.dumps(types).decode())
    fields = ", ".join(f"CAST(s.{quote(name)} AS VARCHAR) AS {quote(name)}" for name in types)
    ok = "s IS NOT NULL AND ascii(ltrim(line, ' \t\r\n')) = 123"  # "{": pyarrow makes an empty row of "[1]"
    return (
        f"SELECT _line, {ok} AS _ok, keys, {fields} FROM "
        f"(SELECT _line, line, try(from_json(line, {structure})) AS s, try(json_keys(line)) AS keys FROM _block)"
    )


def _unstaged_query(kinds: list[Kind], *, routed: bool) -> str:
    """The lines no kind stages: not a JSON object, or (routed by their "kind") of no kind of the block."""
    names = ", ".join(literal(kind.name) for kind in kinds) or "NULL"
    unrouted = f" OR kind IS NULL OR kind NOT IN ({names})" if routed else ""
    return f"SELECT _line FROM _parsed WHERE NOT _ok{unrouted}"


def _stage_kind(con: Any, kind: Kind, *, routed: bool) -> tuple[pa.Table, list[int]]:
    """The kind's lines as text columns and `_line`, and those left to the record-by-record path."""
    where = f"_ok AND kind = {literal(kind.name)}" if routed else "_ok"
    texts = ", ".join(quote(f.name) for f in kind.fields)
    table = con.sql(f"SELECT _line, {texts}, {_by_python(kind)} AS _python FROM _parsed WHERE {where}").to_arrow_table()
    python = table.column("_python")
    for f in kind.fields:
        if f.type == "JSON":
            column, unreadable = _canonical_column(table.column(f.name))
            table = table.set_column(table.schema.get_field_index(f.name), f.name, column)
            python = pc.or_(python, unreadable)
    staged = table.filter(pc.invert(python)).drop_columns(["_python"])
    return staged, table.filter(python).column("_line").to_pylist()


def _by_python(kind: Kind) -> str:
    """Whether a line of the kind goes to the record-by-record path: a key that is not one of the
    kind's fields or is repeated, or a field's value SQL does not stage as `stage_records` does."""
    return " OR ".join([_odd_keys(kind), *(_odd_value(f) for f in kind.fields if f.type != "JSON")])


def _odd_keys(kind: Kind) -> str:
    """A key that is not one of the kind's fields, or one given twice. When the line has as many keys
    as it has fields of the kind with a value (the usual case), it has neither, which is cheaper to tell."""
    known = ", ".join(literal(name) for name in ("kind", *kind.columns))
    given = " + ".join(f"CAST({quote(name)} IS NOT NULL AS INTEGER)" for name in ("kind", *kind.columns))
    full = f"NOT list_has_all([{known}], keys) OR len(keys) <> len(list_distinct(keys))"
    return f"(CASE WHEN len(keys) = {given} THEN false ELSE {full} END)"


def _odd_value(f: Field) -> str:
    """Whether a field's text may not be what `stage_records` stages for its JSON value. DuckDB gives a
    string's text, and an object, a number or a boolean as written; without their JSON types, what
    could be one of those (text from "{" or "[", true, false, a number other than a whole one of up to
    18 digits) goes one by one, unless the field takes it as its text whatever its type."""
    value = quote(f.name)
    plain = PLAIN_FRACTION if f.type == "DOUBLE" else PLAIN_WHOLE
    odd = [f"ascii({value}) IN (123, 91)", f"regexp_full_match({value}, {literal(NUMBER_LIKE)})"]
    if f.type != "BOOLEAN":
        odd.append(f"{value} IN ('true', 'false')")
    fine = f"{value} IS NULL OR regexp_full_match({value}, {literal(plain)})"
    return f"(CASE WHEN {fine} THEN false ELSE {' OR '.join(odd)} END)"


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


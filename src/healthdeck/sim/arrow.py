"""Building store-shaped Arrow tables from numpy arrays, without per-row Python."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthdeck.store.schema import KINDS, Field

TIMESTAMP = pa.timestamp("us", tz="UTC")
ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "TIMESTAMPTZ": TIMESTAMP,
    "DOUBLE": pa.float64(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
}
# Columns by name: Arrow arrays, or numpy arrays (timestamps as int64 µs).
Columns = Mapping[str, Any]
# Timestamps are int64 microseconds inside the simulator; this marks "no value".
NO_TIME = np.iinfo(np.int64).max


def arrow_type(f: Field) -> pa.DataType:
    """The Arrow type the simulator stages a field as."""
    return ARROW_TYPES[f.type]


def timestamps(us: np.ndarray) -> pa.Array:
    """UTC timestamps from int64 microseconds; NO_TIME becomes null."""
    values = np.asarray(us, dtype=np.int64)
    missing = values == NO_TIME
    return pa.array(values, type=pa.int64(), mask=missing if missing.any() else None).cast(TIMESTAMP)


def pick(choices: Sequence[str] | pa.Array, index: np.ndarray) -> pa.Array:
    """The strings `choices[index]` as an Arrow string array (a vectorised take)."""
    values = choices if isinstance(choices, pa.Array) else pa.array(list(choices), pa.string())
    return values.take(pa.array(np.asarray(index, dtype=np.int64)))


def numbered(prefix: str, numbers: np.ndarray, width: int = 0) -> pa.Array:
    """`prefix` followed by each number (zero-padded to `width`): ids like "sim7-ab12cd-req-3-17"."""
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    if width:
        text = pc.utf8_lpad(text, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


def concat(*parts: str | pa.Array) -> pa.Array:
    """Element-wise string concatenation of arrays and constants (null if any part is null)."""
    return pc.binary_join_element_wise(*parts, "")


def json_objects(fields: Mapping[str, pa.Array | np.ndarray], length: int) -> pa.Array:
    """JSON object text per row from columns: strings are quoted, numbers and bools bare, nulls left out.

    Values come from the simulator (ids, enum names, numbers), never from users,
    so they need no escaping.
    """
    if not fields:
        return pa.array(["{}"] * length, pa.string())
    # Each member is ',"key":value' (null when the value is); the first comma is then cut off.
    members = [pc.fill_null(concat(f',"{key}":', _json_value(values)), "") for key, values in fields.items()]
    body = pc.utf8_slice_codeunits(concat(*members), start=1)
    return concat("{", body, "}")


def _json_value(values: pa.Array | np.ndarray) -> pa.Array:
    array = values if isinstance(values, pa.Array) else pa.array(values)
    if pa.types.is_string(array.type):
        text = concat('"', array, '"')
    elif pa.types.is_boolean(array.type):
        text = pc.if_else(array, "true", "false")
    elif pa.types.is_floating(array.type):
        text = pc.cast(pc.round(array, 3), pa.string())
    else:
        text = pc.cast(array, pa.string())
    return text


def kind_table(name: str, columns: Columns) -> pa.Table:
    """A table with exactly the kind's columns, in schema order and types; absent ones are null."""
    kind = KINDS[name]
    unknown = set(columns) - set(kind.columns)
    if unknown:
        raise ValueError(f"{name}: not in the schema: {sorted(unknown)}")
    length = len(next(iter(columns.values())))
    arrays = []
    for f in kind.fields:
        wanted = arrow_type(f)
        if f.name not in columns:
            arrays.append(pa.nulls(length, wanted))
            continue
        value = columns[f.name]
        if f.type == "TIMESTAMPTZ" and isinstance(value, np.ndarray):
            arrays.append(timestamps(value))
            continue
        array = value if isinstance(value, pa.Array) else pa.array(value)
        arrays.append(array if array.type == wanted else array.cast(wanted))
    return pa.Table.from_arrays(arrays, names=list(kind.columns))


def from_rows(name: str, rows: list[dict[str, Any]], *, id_prefix: str | None = None) -> pa.Table:
    """A kind's table from a few row dicts (low-volume kinds); timestamps are µs ints.

    Rows are ordered by time first, so event ids (`id_prefix` + position) are stable.
    """
    kind = KINDS[name]
    times = [f.name for f in kind.fields if f.type == "TIMESTAMPTZ"]
    ordered = sorted(rows, key=lambda r: tuple(_time(r.get(t)) for t in times))
    columns: dict[str, pa.Array | np.ndarray] = {}
    for f in kind.fields:
        if f.name == "event_id" and id_prefix is not None:
            columns[f.name] = numbered(id_prefix, np.arange(len(ordered)))
        elif f.type == "TIMESTAMPTZ" and any(f.name in r for r in ordered):
            columns[f.name] = np.array([_time(r.get(f.name)) for r in ordered], dtype=np.int64)
        elif any(f.name in r for r in ordered):
            columns[f.name] = pa.array([r.get(f.name) for r in ordered], arrow_type(f))
    if not ordered:
        return kind_table(name, {kind.fields[0].name: pa.array([], arrow_type(kind.fields[0]))})
    return kind_table(name, columns)


def _time(value: Any) -> int:
    return NO_TIME if value is None else int(value)

"""Vectorised record validation, compiled from the schema into one DuckDB query.

A staged batch (any column types: all text from JSON Lines or CSV, typed
from Parquet or the simulator) becomes typed columns plus an `_errors` text
that names every problem of each record. Identifiers and literals in the
query come from `schema.py` only; user values reach DuckDB as table data.
"""

from __future__ import annotations

from collections.abc import Iterable

from healthdeck.store.schema import Field, Kind

# A timestamp given as text must have a time of day and say its time zone: "…T10:00:00Z",
# "… 10:00+02:00", "…T10:00:00.5-0500". A bare date ("2026-11-25") is not an instant.
TZ_SUFFIX = r"[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"
NEEDS_ZONE = "timestamp needs a time of day and a time zone (e.g. 2026-11-25T10:00:00Z): "
# Columns a staged batch may carry besides the kind's fields.
STAGING_COLUMNS = ("_line", "_pre_error", "_raw", "kind")


def quote(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote a string literal from the schema for DuckDB."""
    return "'" + text.replace("'", "''") + "'"


def _shown(column: str) -> str:
    # Echo at most 80 characters of a bad value back to the user.
    return f"left(CAST({column} AS VARCHAR), 80)"


def typed_expression(f: Field, source_type: str) -> str:
    """The expression that turns a staged column into the field's type (NULL if it cannot)."""
    col = quote(f.name)
    text = source_type == "VARCHAR"
    if f.type == "JSON":
        if text:
            return f"CASE WHEN json_valid({col}) THEN json({col}) END"
        return f"CAST(to_json({col}) AS JSON)"
    if f.type == "VARCHAR":
        value = f"CAST({col} AS VARCHAR)"
        if f.choices and all(c.isupper() for c in f.choices):
            value = f"upper({value})"
        return value
    if f.type == "TIMESTAMPTZ" and _zoneless(source_type):
        return "CAST(NULL AS TIMESTAMPTZ)"  # a zoneless timestamp is ambiguous: rejected below
    return f"TRY_CAST({'trim(' + col + ')' if text else col} AS {f.type})"


def _when(condition: str, *message: str) -> str:
    """An error-text expression: the concatenated message where `condition` holds, else NULL."""
    return f"CASE WHEN {condition} THEN {' || '.join(message)} END"


EXPECTED = {
    "DOUBLE": "a number",
    "BIGINT": "a whole number",
    "INTEGER": "a whole number",
    "BOOLEAN": "true or false",
    "VARCHAR": "text",
    "TIMESTAMPTZ": "a timestamp",
    "JSON": "a JSON object",
}


def _zoneless(source_type: str) -> bool:
    return source_type.startswith("TIMESTAMP") and "TIME ZONE" not in source_type


def _type_error(f: Field, source_type: str) -> str:
    col, typed = quote(f.name), typed_expression(f, source_type)
    name, given = literal(f'field "{f.name}": '), _shown(col)
    present = f"{col} IS NOT NULL"
    if f.type == "TIMESTAMPTZ" and source_type == "VARCHAR":
        no_zone = f"NOT regexp_matches(trim({col}), {literal(TZ_SUFFIX)})"
        return (
            f"CASE WHEN {present} AND {typed} IS NULL THEN {name} || 'not a timestamp: ' || {given}"
            f" WHEN {present} AND {no_zone} THEN {name} || {literal(NEEDS_ZONE)} || {given}"
            " END"
        )
    if f.type == "TIMESTAMPTZ" and _zoneless(source_type):
        return _when(present, name, literal("timestamp has no time zone"))
    bad = f"({typed} IS NULL OR json_type({typed}) <> 'OBJECT')" if f.type == "JSON" else f"{typed} IS NULL"
    return _when(f"{present} AND {bad}", name, literal(f"expected {EXPECTED[f.type]}, got "), given)


def _value_errors(f: Field, source_type: str) -> Iterable[str]:
    typed, name, given = (
        typed_expression(f, source_type),
        literal(f'field "{f.name}": '),
        _shown(typed_expression(f, source_type)),
    )
    if f.choices:
        allowed = ", ".join(literal(c) for c in f.choices)
        yield _when(f"{typed} NOT IN ({allowed})", name, literal(f"must be one of {', '.join(f.choices)}; got "), given)
    if f.minimum is not None:
        yield _when(f"{typed} < {f.minimum!r}", name, literal(f"must be at least {f.minimum:g}, got "), given)
    if f.maximum is not None:
        yield _when(f"{typed} > {f.maximum!r}", name, literal(f"must be at most {f.maximum:g}, got "), given)
    if f.type == "DOUBLE":
        yield _when(f"NOT isfinite({typed})", name, literal("must be a finite number, got "), given)
    if f.type == "TIMESTAMPTZ" and not f.future_ok:
        yield _when(f"{typed} > now() + INTERVAL 1 DAY", name, literal("is more than a day in the future: "), given)


def _required_errors(kind: Kind, f: Field, types: dict[str, str]) -> Iterable[str]:
    col = quote(f.name)
    if f.required:
        yield _when(f"{col} IS NULL", literal(f"missing required field {f.name!r}"))
    for discriminator, cases in kind.required_when.items():
        selector = typed_expression(kind.field(discriminator), types[discriminator])
        for value, needed in cases.items():
            if f.name in needed:
                message = literal(f"missing field {f.name!r}, required when {discriminator} is {value}")
                yield _when(f"{selector} = {literal(value)} AND {col} IS NULL", message)


def _unknown_field_error(kind: Kind, name: str) -> str:
    return _when(f"{quote(name)} IS NOT NULL", literal(f"unknown field {name!r} for kind {kind.name}"))


def validation_query(kind: Kind, staged_types: dict[str, str], relation: str) -> str:
    """SELECT over `relation` yielding `_line`, the typed fields and `_errors` ('' when valid)."""
    types = {f.name: staged_types.get(f.name, "VARCHAR") for f in kind.fields}
    errors: list[str] = ["_pre_error"] if "_pre_error" in staged_types else []
    for name in staged_types:
        if name not in types and name not in STAGING_COLUMNS:
            errors.append(_unknown_field_error(kind, name))
    for f in kind.fields:
        errors.extend(_required_errors(kind, f, types))
        errors.append(_type_error(f, types[f.name]))
        errors.extend(_value_errors(f, types[f.name]))
    selected = [f"{typed_expression(f, types[f.name])} AS {quote(f.name)}" for f in kind.fields]
    return f"SELECT _line, {', '.join(selected)}, concat_ws('; ', {', '.join(errors)}) AS _errors FROM {relation}"


def missing_columns(kind: Kind, staged_types: dict[str, str]) -> list[str]:
    """Fields the staged batch lacks entirely; they are added as NULL before validation."""
    return [f.name for f in kind.fields if f.name not in staged_types]

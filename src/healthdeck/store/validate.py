"""Vectorised record validation, compiled from the schema into one DuckDB query.

A staged batch (any column types: all text from JSON Lines or CSV, typed
from Parquet or the simulator) becomes typed columns plus an `_errors` text
that names every problem of each record. Identifiers and literals in the
query come from `schema.py` only; user values reach DuckDB as table data.
"""

from __future__ import annotations

from collections.abc import Iterable

from healthdeck.store.schema import Field, Kind

# A timestamp given as text must say its time zone: "Z", "+02:00", "-0500".
TZ_SUFFIX = r"([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"
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
    if f.type == "TIMESTAMPTZ" and source_type.startswith("TIMESTAMP") and "TIME ZONE" not in source_type:
        return "CAST(NULL AS TIMESTAMPTZ)"  # a zoneless timestamp is ambiguous: rejected below
    return f"TRY_CAST({'trim(' + col + ')' if text else col} AS {f.type})"


def _type_error(f: Field, source_type: str) -> str:
    col, typed = quote(f.name), typed_expression(f, source_type)
    name = literal(f'field "{f.name}": ')
    if f.type == "TIMESTAMPTZ" and source_type == "VARCHAR":
        return (
            f"CASE WHEN {col} IS NOT NULL AND {typed} IS NULL THEN {name} || 'not a timestamp: ' || {_shown(col)}"
            f" WHEN {col} IS NOT NULL AND NOT regexp_matches(trim({col}), {literal(TZ_SUFFIX)})"
            f" THEN {name} || 'timestamp has no time zone (add Z or +HH:MM): ' || {_shown(col)} END"
        )
    if f.type == "TIMESTAMPTZ" and source_type.startswith("TIMESTAMP") and "TIME ZONE" not in source_type:
        return f"CASE WHEN {col} IS NOT NULL THEN {name} || 'timestamp has no time zone' END"
    if f.type == "JSON":
        return (
            f"CASE WHEN {col} IS NOT NULL AND ({typed} IS NULL OR json_type({typed}) <> 'OBJECT')"
            f" THEN {name} || 'expected a JSON object, got ' || {_shown(col)} END"
        )
    expected = literal({"DOUBLE": "a number", "BIGINT": "a whole number", "INTEGER": "a whole number",
                        "BOOLEAN": "true or false", "VARCHAR": "text", "TIMESTAMPTZ": "a timestamp"}[f.type])
    return f"CASE WHEN {col} IS NOT NULL AND {typed} IS NULL THEN {name} || 'expected ' || {expected} || ', got ' || {_shown(col)} END"


def _value_errors(f: Field, source_type: str) -> Iterable[str]:
    typed, name = typed_expression(f, source_type), literal(f'field "{f.name}": ')
    if f.choices:
        allowed = ", ".join(literal(c) for c in f.choices)
        listed = literal(", ".join(f.choices))
        yield (f"CASE WHEN {typed} NOT IN ({allowed}) THEN {name} || 'must be one of ' || {listed}"
               f" || '; got ' || {_shown(typed)} END")
    if f.minimum is not None:
        yield f"CASE WHEN {typed} < {f.minimum!r} THEN {name} || 'must be at least {f.minimum:g}, got ' || {_shown(typed)} END"
    if f.maximum is not None:
        yield f"CASE WHEN {typed} > {f.maximum!r} THEN {name} || 'must be at most {f.maximum:g}, got ' || {_shown(typed)} END"
    if f.type == "DOUBLE":
        yield f"CASE WHEN NOT isfinite({typed}) THEN {name} || 'must be a finite number, got ' || {_shown(typed)} END"
    if f.type == "TIMESTAMPTZ" and not f.future_ok:
        yield (f"CASE WHEN {typed} > now() + INTERVAL 1 DAY THEN {name} || 'is more than a day in the future: '"
               f" || {_shown(typed)} END")


def _required_errors(kind: Kind, f: Field, types: dict[str, str]) -> Iterable[str]:
    col = quote(f.name)
    if f.required:
        yield f"CASE WHEN {col} IS NULL THEN {literal(f'missing required field {f.name!r}')} END"
    for discriminator, cases in kind.required_when.items():
        selector = typed_expression(kind.field(discriminator), types[discriminator])
        for value, needed in cases.items():
            if f.name in needed:
                message = literal(f"missing field {f.name!r}, required when {discriminator} is {value}")
                yield f"CASE WHEN {selector} = {literal(value)} AND {col} IS NULL THEN {message} END"


def validation_query(kind: Kind, staged_types: dict[str, str], relation: str) -> str:
    """SELECT over `relation` yielding `_line`, the typed fields and `_errors` ('' when valid)."""
    types = {f.name: staged_types.get(f.name, "VARCHAR") for f in kind.fields}
    errors: list[str] = ["_pre_error"] if "_pre_error" in staged_types else []
    for name in staged_types:
        if name not in types and name not in STAGING_COLUMNS:
            errors.append(f"CASE WHEN {quote(name)} IS NOT NULL THEN {literal(f'unknown field {name!r} for kind {kind.name}')} END")
    for f in kind.fields:
        errors.extend(_required_errors(kind, f, types))
        errors.append(_type_error(f, types[f.name]))
        errors.extend(_value_errors(f, types[f.name]))
    selected = [f"{typed_expression(f, types[f.name])} AS {quote(f.name)}" for f in kind.fields]
    return (
        f"SELECT _line, {', '.join(selected)}, concat_ws('; ', {', '.join(errors)}) AS _errors "
        f"FROM {relation}"
    )


def missing_columns(kind: Kind, staged_types: dict[str, str]) -> list[str]:
    """Fields the staged batch lacks entirely; they are added as NULL before validation."""
    return [f.name for f in kind.fields if f.name not in staged_types]

"""Vectorised record validation, compiled from the schema into one DuckDB query.

A staged batch (any column types: all text from JSON Lines or CSV, typed
from Parquet or the simulator) becomes typed columns plus an `_errors` text
that names every problem of a record, NULL for a valid one. Identifiers and
literals in the query come from `schema.py`, except a file's column type,
which is named in an error message as a quoted literal; user values reach
DuckDB as table data.

Nothing is coerced behind the user's back: a number given as text must be
written in decimal, a whole-number field takes no fraction, and a typed
column (Parquet) must have a type that can hold the field, or every record
of it is rejected with the column's type and the one expected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from healthdeck.store.schema import Field, Kind

# A timestamp given as text must have a time of day and say its time zone: "…T10:00:00Z",
# "… 10:00+02:00", "…T10:00:00.5-0500". A bare date ("2026-11-25") is not an instant.
TZ_SUFFIX = r"[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"
NEEDS_ZONE = "timestamp needs a time of day and a time zone (e.g. 2026-11-25T10:00:00Z): "
# Columns a staged batch may carry besides the kind's fields.
STAGING_COLUMNS = ("_line", "_pre_error", "_raw", "kind")
# Numbers given as text: decimal only, so "0xC8", "0b11", "1_000" and "1e3" for a whole number
# are refused rather than read as 200, 3, 1000 and 1000. A whole number may end in ".0" because
# JSON and CSV exporters (pandas among them) write integer columns with gaps that way.
WHOLE_NUMBER = r"[+-]?[0-9]+(\.0+)?"
DECIMAL_NUMBER = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
# What an id may not look like: empty, blank, or padded (" t1" would be another tenant than "t1").
BLANKS = " \t\r\n"

INTEGER_COLUMNS = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)
ZONED_COLUMNS = frozenset({"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ_NS"})
# A column of the NULL type (all values missing) fits any field.
NULL_COLUMNS = frozenset({"NULL", '"NULL"'})
# How a typed column that fits each field type is described, for the error naming a wrong one.
EXPECTED_COLUMN = {
    "DOUBLE": "an integer, floating-point or decimal column",
    "BIGINT": "an integer column (or whole floating-point values)",
    "INTEGER": "an integer column (or whole floating-point values)",
    "BOOLEAN": "a boolean column",
    "VARCHAR": "a string column",
    "TIMESTAMPTZ": "a timestamp column with a time zone",
    "JSON": "a struct, map or JSON string column",
}


def quote(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote a string literal from the schema for DuckDB."""
    return "'" + text.replace("'", "''") + "'"


def _trimmed(column: str) -> str:
    """The text without its edge spaces, as trim() gives it; most values have none, and testing
    that is several times cheaper than trim() copying every value. trim() also strips Unicode
    spaces (U+00A0, U+3000…), so any text that is not all ASCII is trimmed."""
    spaced = f"{column} LIKE ' %' OR {column} LIKE '% ' OR strlen({column}) <> length({column})"
    return f"CASE WHEN {spaced} THEN trim({column}) ELSE {column} END"


def _shown(column: str) -> str:
    # Echo at most 80 characters of a bad value back to the user.
    return f"left(CAST({column} AS VARCHAR), 80)"


def _fractional(source_type: str) -> bool:
    return source_type in ("FLOAT", "DOUBLE") or source_type.startswith("DECIMAL")


def column_fits(f: Field, source_type: str) -> bool:
    """Whether a staged column of `source_type` can hold the field (text is checked value by value)."""
    if source_type == "VARCHAR" or source_type in NULL_COLUMNS:
        return True
    if f.type in ("DOUBLE", "BIGINT", "INTEGER"):
        return source_type in INTEGER_COLUMNS or _fractional(source_type)
    if f.type == "TIMESTAMPTZ":
        return source_type.startswith("TIMESTAMP")  # zoneless ones are rejected value by value, saying why
    if f.type == "JSON":
        return source_type == "JSON" or source_type.startswith(("STRUCT", "MAP"))
    return source_type == f.type


def typed_expression(f: Field, source_type: str) -> str:
    """The expression that turns a staged column into the field's type (NULL if it cannot)."""
    col = quote(f.name)
    text = source_type == "VARCHAR"
    if not column_fits(f, source_type):
        return f"CAST(NULL AS {f.type})"
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
    if text and f.type in ("DOUBLE", "BIGINT", "INTEGER"):
        pattern = DECIMAL_NUMBER if f.type == "DOUBLE" else WHOLE_NUMBER
        value = _trimmed(col)
        return f"CASE WHEN regexp_full_match({value}, {literal(pattern)}) THEN TRY_CAST({value} AS {f.type}) END"
    if f.type in ("BIGINT", "INTEGER") and _fractional(source_type):
        return f"CASE WHEN {col} = trunc({col}) THEN TRY_CAST({col} AS {f.type}) END"  # 200.5 is not 201
    if _always_converts(f, source_type):
        # In the field's type even so: an event without an id is identified by the text of its values
        # (ingest.py, _content_hash), and 2 read as an integer must be the 2.0 a fractional batch reads.
        return col if source_type == f.type else f"CAST({col} AS {f.type})"
    return f"TRY_CAST({_trimmed(col) if text else col} AS {f.type})"


# Typed columns whose every value converts to a field's type, so a value of them is never refused
# for its type (a narrower integer into a wider one, any number into a DOUBLE).
CONVERTS_TO = {
    "DOUBLE": INTEGER_COLUMNS | {"FLOAT", "DOUBLE"},
    "BIGINT": frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}),
    "INTEGER": frozenset({"TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT"}),
    "BOOLEAN": frozenset({"BOOLEAN"}),
    "VARCHAR": frozenset({"VARCHAR"}),
    "TIMESTAMPTZ": frozenset({"TIMESTAMP WITH TIME ZONE"}),
}


def _always_converts(f: Field, source_type: str) -> bool:
    """Whether every value of a staged column of `source_type` is a value of the field's type."""
    return source_type in CONVERTS_TO.get(f.type, ()) or (f.type == "DOUBLE" and source_type.startswith("DECIMAL"))


@dataclass(frozen=True)
class Check:
    """A rule a record can break: the condition that it does, and the text (SQL) that says how."""

    broken: str
    message: str


def _when(condition: str, *message: str) -> Check:
    """The check a record breaks where `condition` holds, its message the concatenation of `message`."""
    return Check(condition, " || ".join(message))


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
    return source_type.startswith("TIMESTAMP") and source_type not in ZONED_COLUMNS


def _type_error(f: Field, source_type: str, shown_type: str, typed: str) -> Check | None:
    """The check that a given value has the field's type (None when every value of the column has);
    `typed` is the value in the field's type (`_typed_values`)."""
    col = quote(f.name)
    name, given = literal(f'field "{f.name}": '), _shown(col)
    present = f"{col} IS NOT NULL"
    if not column_fits(f, source_type):
        wrong = literal(f"the column's type is {shown_type}; expected {EXPECTED_COLUMN[f.type]}")
        return _when(present, name, wrong)
    if f.type == "TIMESTAMPTZ" and source_type == "VARCHAR":
        no_zone = f"NOT regexp_matches({_trimmed(col)}, {literal(TZ_SUFFIX)})"
        unreadable, zoneless = (
            f"{name} || 'not a timestamp: ' || {given}",
            f"{name} || {literal(NEEDS_ZONE)} || {given}",
        )
        return Check(
            f"{present} AND ({typed} IS NULL OR {no_zone})",
            f"CASE WHEN {typed} IS NULL THEN {unreadable} ELSE {zoneless} END",
        )
    if f.type == "TIMESTAMPTZ" and _zoneless(source_type):
        return _when(present, name, literal("timestamp has no time zone"))
    if _always_converts(f, source_type):
        return None
    bad = f"({typed} IS NULL OR json_type({typed}) <> 'OBJECT')" if f.type == "JSON" else f"{typed} IS NULL"
    return _when(f"{present} AND {bad}", name, literal(f"expected {EXPECTED[f.type]}, got "), given)


def _value_errors(f: Field, typed: str) -> Iterable[Check]:
    name, given = literal(f'field "{f.name}": '), _shown(typed)
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
    if f.identifier:
        yield _when(_blank_or_padded(typed), name, _id_problem(typed, given))


def _blank_or_padded(value: str) -> str:
    # Looking at the first and last character is several times cheaper than trim() on millions of ids.
    edges = ", ".join(str(ord(c)) for c in BLANKS)
    return f"({value} = '' OR ascii({value}) IN ({edges}) OR ascii(right({value}, 1)) IN ({edges}))"


def _id_problem(value: str, given: str) -> str:
    blank, padded = (
        literal("an id must not be empty or blank"),
        literal("an id must not start or end with spaces; got "),
    )
    return f"CASE WHEN trim({value}, {literal(BLANKS)}) = '' THEN {blank} ELSE {padded} || '\"' || {given} || '\"' END"


def _required_errors(kind: Kind, f: Field, typed: dict[str, str]) -> Iterable[Check]:
    col = quote(f.name)
    if f.required:
        yield _when(f"{col} IS NULL", literal(f"missing required field {f.name!r}"))
    for discriminator, cases in kind.required_when.items():
        selector = typed[discriminator]
        for value, needed in cases.items():
            if f.name in needed:
                message = literal(f"missing field {f.name!r}, required when {discriminator} is {value}")
                yield _when(f"{selector} = {literal(value)} AND {col} IS NULL", message)


def _unknown_field_error(kind: Kind, name: str) -> Check:
    return _when(f"{quote(name)} IS NOT NULL", literal(f"unknown field {name!r} for kind {kind.name}"))


def validation_query(
    kind: Kind, staged_types: dict[str, str], relation: str, *, shown_types: dict[str, str] | None = None
) -> str:
    """SELECT over `relation` yielding `_line`, the typed fields and `_errors` (NULL when valid).

    `shown_types` names the columns' types as the user's file has them (Arrow's names for a
    Parquet file), for the error about a column whose type cannot hold its field.

    A field's value in its type is computed once, in an inner query, and the checks and messages
    name that column rather than repeat its expression, which DuckDB would bind each time: for a
    batch of 100 request records from JSON Lines, where binding is most of the work, the statement
    took 7.9 ms instead of 12.8 (benchmarks/bench_serve_ingest.py sends such bodies).
    """
    types = {f.name: staged_types.get(f.name, "VARCHAR") for f in kind.fields}
    expressions = {f.name: typed_expression(f, types[f.name]) for f in kind.fields}
    typed = _typed_values(expressions, taken=staged_types)
    computed = [f"{expressions[name]} AS {typed[name]}" for name in typed if typed[name] != quote(name)]
    source = f"(SELECT *, {', '.join(computed)} FROM {relation})" if computed else relation
    selected = [f"{typed[f.name]} AS {quote(f.name)}" for f in kind.fields]
    errors = _errors(_checks(kind, staged_types, types, typed, shown_types))
    return f"SELECT _line, {', '.join(selected)}, {errors} AS _errors FROM {source}"


def _typed_values(expressions: dict[str, str], *, taken: Iterable[str]) -> dict[str, str]:
    """Where the inner query holds each field's typed value: its own column when that needs no
    conversion, else a column named unlike any staged column (a record's unknown fields are columns
    too, and DuckDB's names ignore case)."""
    used = {name.lower() for name in taken}
    typed = {}
    for index, (name, expression) in enumerate(expressions.items()):
        if expression == quote(name):
            typed[name] = expression
            continue
        alias = f"_typed_{index}"
        while alias.lower() in used:
            alias = "_" + alias
        typed[name] = quote(alias)
    return typed


def _checks(
    kind: Kind,
    staged_types: dict[str, str],
    types: dict[str, str],
    typed: dict[str, str],
    shown_types: dict[str, str] | None,
) -> list[Check]:
    """Every check of a record of `kind`, in the order its messages are listed."""
    shown = {name: (shown_types or {}).get(name, types[name]) for name in types}
    checks = [Check("_pre_error IS NOT NULL", "_pre_error")] if "_pre_error" in staged_types else []
    for name in staged_types:
        if name not in types and name not in STAGING_COLUMNS:
            checks.append(_unknown_field_error(kind, name))
    for f in kind.fields:
        checks.extend(_required_errors(kind, f, typed))
        if (type_error := _type_error(f, types[f.name], shown[f.name], typed[f.name])) is not None:
            checks.append(type_error)
        checks.extend(_value_errors(f, typed[f.name]))
    return checks


def _errors(checks: list[Check]) -> str:
    """The text naming every check a record breaks, NULL when it breaks none.

    Nearly every record is valid: the messages are only built for those that are not, after a
    test of all the conditions at once (DuckDB evaluates a CASE's THEN only for the rows it selects).
    """
    broken = " OR ".join(f"({check.broken})" for check in checks)
    messages = ", ".join(f"CASE WHEN {check.broken} THEN {check.message} END" for check in checks)
    return f"CASE WHEN {broken} THEN concat_ws('; ', {messages}) END"


def missing_columns(kind: Kind, staged_types: dict[str, str]) -> list[str]:
    """Fields the staged batch lacks entirely; they are added as NULL before validation."""
    return [f.name for f in kind.fields if f.name not in staged_types]

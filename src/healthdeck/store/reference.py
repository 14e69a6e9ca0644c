"""The schema reference (docs/schema.md), generated from schema.py so it cannot drift.

Regenerate with `python -m healthdeck.store.reference > docs/schema.md`; a test fails when it is stale.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from healthdeck.store.schema import KINDS, Field, Kind

HEADER = """# Event schema reference

Generated from `src/healthdeck/store/schema.py` by `python -m healthdeck.store.reference`; do not edit by hand.
Every kind is a table in the store and a schema for `healthdeck ingest`. Timestamps need a time zone
(`Z` or `+HH:MM`) and may not lie more than a day in the future unless noted. Fields whose allowed values
are upper case (tiers, methods, priorities) are upper-cased before they are checked. Numbers given as text
are decimal: an INTEGER or BIGINT is a whole number (`200`, `-3`, `+7`, also `200.0`), never `200.5`, `0xC8`,
`0b11001000`, `1_000` or `2e2`; a DOUBLE is a decimal number (`48.5`, `1.5e3`). In Parquet, a column's type
must fit its field: strings for text and ids, integers or floats for numbers (whole values only for
INTEGER and BIGINT), timestamps with a time zone for TIMESTAMPTZ (or strings), booleans for BOOLEAN, structs,
maps or JSON strings for JSON; any column may be all nulls.
"""


def _rules(f: Field) -> str:
    rules = []
    if f.identifier:
        rules.append("an id: not empty, blank or padded with spaces")
    if f.choices:
        rules.append("one of " + ", ".join(f.choices))
    if f.minimum is not None:
        rules.append(f">= {f.minimum:g}")
    if f.maximum is not None:
        rules.append(f"<= {f.maximum:g}")
    if f.type == "TIMESTAMPTZ" and f.future_ok:
        rules.append("may lie in the future")
    if f.type == "JSON":
        rules.append("a JSON object")
    if f.description:
        rules.append(f.description)
    return "; ".join(rules)


def _required(kind: Kind, f: Field) -> str:
    if f.required:
        return "yes"
    for discriminator, cases in kind.required_when.items():
        when = [value for value, needed in cases.items() if f.name in needed]
        if when:
            return f"when {discriminator} is " + " / ".join(when)
    return ""


def _kind_section(kind: Kind) -> Iterator[str]:
    yield f"## `{kind.name}`\n"
    yield f"{kind.description[0].upper()}{kind.description[1:]}.\n"
    if kind.entity:
        yield f"Key `{kind.key}`: an entity; a re-sent record with the same key and new content replaces it.\n"
    else:
        yield (
            "Key `event_id`: when absent, a hash of the record's values, so re-sent records deduplicate; "
            "an id re-sent with other content is rejected as a conflict.\n"
        )
    yield "| field | type | required | rule |"
    yield "|---|---|---|---|"
    for f in kind.fields:
        yield f"| `{f.name}` | {f.type} | {_required(kind, f)} | {_rules(f)} |"
    yield "\nExample:\n\n```json\n" + orjson.dumps(dict(kind.example)).decode() + "\n```\n"


def render() -> str:
    """The whole reference as Markdown."""
    lines = [HEADER]
    for kind in KINDS.values():
        lines.extend(_kind_section(kind))
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")

"""Turning a measure's compiled query into a template whose instants are query parameters.

A query is compiled twice, for two windows far from any real date: the second moved by SHIFT
and, when the SQL allows it, longer by STRETCH. Comparing the two SQLGlot trees tells each
timestamp apart: one that moved with the window's start or end becomes a parameter at a fixed
offset from it, one that did not move is a constant of the shape (a date in the catalog). When
anything else differs (a rate divides by the window's length) the template holds for one length
only; when an instant moved some other way, the shape is not templated and compiles per window.
This runs on a cache miss only: it needs SQLGlot, which comes with Ibis.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlglot
import sqlglot.expressions as sge

SENTINEL = datetime(2500, 3, 5, 7, 11, 13, tzinfo=UTC)
SHIFT = timedelta(days=1009, seconds=3733, microseconds=7)
STRETCH = timedelta(days=31, seconds=59, microseconds=3)

Span = tuple[datetime, datetime]
# Compiles the query for the window [start, end) to SQLGlot's tree (a new tree on every call).
Compiler = Callable[[Span], sge.Expression]
Template = dict[str, Any]


def learn(compile_for: Compiler, length: timedelta, *, dialect: Any, any_length: bool) -> tuple[Template | None, bool]:
    """(the template, or None; whether it holds for windows of any length, or only of `length`)."""
    first = (SENTINEL, SENTINEL + length)
    tree = _unshared(compile_for(first))
    if any_length:
        stretched = (first[0] + SHIFT, first[1] + SHIFT + STRETCH)
        found = _parametrize(tree.copy(), _unshared(compile_for(stretched)), first, stretched, dialect=dialect)
        if found is not None:
            return found, True
    moved = (first[0] + SHIFT, first[1] + SHIFT)
    return _parametrize(tree, _unshared(compile_for(moved)), first, moved, dialect=dialect), False


def _unshared(tree: sge.Expression) -> sge.Expression:
    """A copy whose every node has one parent: Ibis compiles one literal used twice (a window's end
    compared and truncated) to one node object in two places, which `replace` would swap in one only."""
    return tree.copy()


def _parametrize(
    tree: sge.Expression, other: sge.Expression, window: Span, moved: Span, *, dialect: Any
) -> Template | None:
    """The template both trees share once their instants are parameters, or None when they differ otherwise."""
    ours, theirs = _instants(tree), _instants(other)
    if len(ours) != len(theirs):
        return None
    instants: dict[str, list[Any]] = {}
    for (node, at), (other_node, other_at) in zip(ours, theirs, strict=True):
        if at == other_at:
            continue  # a constant of the shape: it does not move with the window
        anchor = _anchor(other_at - at, window, moved)
        if anchor is None:
            return None
        offset = at - window[0 if anchor == "start" else 1]
        micros = (offset.days * 86400 + offset.seconds) * 1_000_000 + offset.microseconds
        name = f"at_{anchor}_{'m' if micros < 0 else 'p'}{abs(micros)}"
        instants[name] = [anchor, micros]
        node.replace(_placeholder(name, "TIMESTAMPTZ"))
        other_node.replace(_placeholder(name, "TIMESTAMPTZ"))
    sql = render(tree, dialect)
    return {"sql": sql, "instants": instants} if sql == render(other, dialect) else None


def _anchor(moved_by: timedelta, window: Span, moved: Span) -> str | None:
    """Which end of the window an instant follows, judging by how far it moved with it."""
    if moved_by == moved[0] - window[0]:
        return "start"
    return "end" if moved_by == moved[1] - window[1] else None


def _instants(tree: sge.Expression) -> list[tuple[sge.Expression, datetime]]:
    """Every timestamp literal of the tree (Ibis writes them as MAKE_TIMESTAMPTZ), in tree order."""
    found: list[tuple[sge.Expression, datetime]] = []
    for node in tree.walk():
        if isinstance(node, sge.Anonymous) and str(node.this).lower() == "make_timestamptz":
            found.append((node, _instant(node)))
    return found


def _instant(node: sge.Anonymous) -> datetime:
    """The instant of MAKE_TIMESTAMPTZ(year, month, day, hour, minute, seconds, 'UTC')."""
    year, month, day, hour, minute, seconds, zone = (arg.this for arg in node.expressions)
    assert zone == "UTC", "the engine's instants are all in UTC"
    base = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=UTC)
    # The seconds are a double's repr: 12.999536 s is written 12.999535999999999, so the nearest
    # microsecond is the instant (truncating gave one 1 µs early, and its window no template).
    return base + timedelta(microseconds=round(Decimal(seconds) * 1_000_000))


def bind_string(tree: sge.Expression, value: str, name: str) -> tuple[sge.Expression, bool]:
    """The tree with every string literal `value` made the query parameter `name`; whether there was one.

    A tenant's id enters a query this way: as a parameter bound when it runs, never as SQL text.
    """
    tree = _unshared(tree)
    found = [node for node in tree.walk() if isinstance(node, sge.Literal) and node.is_string and node.this == value]
    for node in found:
        node.replace(_placeholder(name, "VARCHAR"))
    return tree, bool(found)


def _placeholder(name: str, kind: str) -> sge.Placeholder:
    """A query parameter of a known type: engines other than DuckDB write the type with it."""
    return sge.Placeholder(this=name, kind=sge.DataType.build(kind))


def render(tree: sge.Expression, dialect: Any) -> str:
    # The options Ibis compiles with, so a template is the SQL Ibis would run, parameters aside.
    return tree.sql(dialect=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)

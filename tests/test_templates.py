"""The on-disk cache of compiled SQL: reused when everything matches, discarded otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import ibis
import orjson
import pytest
import sqlglot.expressions as sge

from healthdeck.engine.measures.parametrize import bind_string, learn
from healthdeck.engine.measures.templates import TemplateCache, bind
from tests.conftest import run_cli

from .test_cli_engine import AT, cli, db  # noqa: F401 - the module's store fixture


def test_saved_entries_come_back_only_with_the_same_fingerprint(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "t.json"
    cache = TemplateCache(path, "v1")
    cache.put("shape-a", "SELECT 1")
    cache.put("shape-b", None)
    cache.save()
    again = TemplateCache(path, "v1")
    assert again.get("shape-a") == (True, "SELECT 1")
    assert again.get("shape-b") == (True, None)
    assert again.get("shape-c") == (False, None)
    assert TemplateCache(path, "v2").get("shape-a") == (False, None), "another version must not reuse it"


def test_a_corrupt_or_unwritable_cache_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("{not json")
    assert TemplateCache(path, "v1").get("x") == (False, None)
    blocked = TemplateCache(tmp_path / "file-not-dir" / "t.json", "v1")
    (tmp_path / "file-not-dir").write_text("a file where the folder should be")
    blocked.put("x", "SELECT 1")
    blocked.save()  # must not raise


def test_second_run_reads_the_cache_and_answers_the_same(db: Path) -> None:  # noqa: F811
    cache = db.parent / "cache" / "sql-templates.json"
    cache.unlink(missing_ok=True)
    first = orjson.loads(cli(db, "health", "--at", AT.isoformat(), "-o", "json").stdout)
    assert cache.exists()
    entries = json.loads(cache.read_text())["entries"]
    assert any(isinstance(entry, dict) and "$at_" in entry["sql"] for entry in entries.values())
    second = orjson.loads(cli(db, "health", "--at", AT.isoformat(), "-o", "json").stdout)
    assert first["score"] == second["score"]
    assert first["areas"] == second["areas"]


EVENTS = ibis.table({"ts": "timestamp('UTC')"}, name="events")
DAWN = datetime(1970, 1, 1, tzinfo=UTC)


def _learn(build: Any, length: timedelta = timedelta(hours=1)) -> tuple[Any, bool]:
    con = ibis.duckdb.connect()
    return learn(lambda span: con.compiler.to_sqlglot(build(*span)), length, dialect=con.dialect, any_length=True)


def _in(start: Any, end: Any) -> Any:
    return EVENTS.filter(EVENTS.ts >= ibis.literal(start), EVENTS.ts < ibis.literal(end))


def test_instants_follow_the_start_or_the_end_and_constants_stay() -> None:
    template, any_length = _learn(lambda s, e: _in(s - timedelta(minutes=5), e).filter(EVENTS.ts > DAWN).count())
    assert any_length
    assert sorted(template["instants"].values()) == [["end", 0], ["start", -300_000_000]]
    assert "MAKE_TIMESTAMPTZ(1970" in template["sql"], "a constant instant is kept as it is"
    start = datetime(2026, 5, 1, 10, 0, 0, 123457, tzinfo=UTC)
    params = bind(template, start, start + timedelta(days=3, microseconds=11))
    assert sorted(params.values()) == [start - timedelta(minutes=5), start + timedelta(days=3, microseconds=11)]


@pytest.mark.parametrize("micros", [999_536, 123_457, 1])
def test_a_window_of_any_microseconds_gets_a_template_for_any_length(micros: int) -> None:
    # Ibis writes the seconds of an instant as a double: 12.999536 s reads 12.999535999999999. Read
    # back truncated, that end was 1 µs off where it should be, and a report cut at its newest record
    # (any microsecond) compiled such windows on every run, importing Ibis (0.3 s of a cold report).
    length = timedelta(days=29, hours=23, minutes=59, seconds=59, microseconds=micros)
    template, any_length = _learn(lambda s, e: _in(s, e).count(), length)
    assert any_length
    assert sorted(template["instants"].values()) == [["end", 0], ["start", 0]]


def test_a_query_that_uses_the_length_holds_for_that_length_only() -> None:
    template, any_length = _learn(lambda s, e: _in(s, e).count() / (e - s).total_seconds())
    assert template is not None and not any_length
    assert sorted(template["instants"].values()) == [["start", 0], ["start", 3_600_000_000]]


def test_an_instant_that_follows_neither_end_is_not_templated() -> None:
    # Midnight before the start moves by whole days only: no fixed offset from the start or the end.
    template, _ = _learn(lambda s, e: _in(s.replace(hour=0, minute=0, second=0, microsecond=0), e).count())
    assert template is None
    # Twice the length after the start follows the start, but only while the length stays the same.
    template, any_length = _learn(lambda s, e: _in(s, e + (e - s)).count())
    assert template is not None and not any_length


@pytest.mark.parametrize("length", [timedelta(0), timedelta(minutes=7, microseconds=3), timedelta(days=30)])
def test_a_template_runs_to_the_same_answer_as_the_query_compiled_for_the_window(length: timedelta) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE events (ts TIMESTAMPTZ)")
    start = "TIMESTAMPTZ '2026-05-01 00:00:00+00'"
    con.execute(f"INSERT INTO events SELECT {start} + i * INTERVAL 37 SECOND FROM range(100000) t(i)")
    build = lambda s, e: _in(s - timedelta(hours=1), e).count()  # noqa: E731
    template, _ = _learn(build, length)
    backend = ibis.duckdb.from_connection(con)
    for start in (datetime(2026, 5, 2, 3, 4, 5, 678901, tzinfo=UTC), datetime(2026, 5, 20, tzinfo=UTC)):
        end = start + length
        direct = con.execute(backend.compile(build(start, end))).fetchall()
        assert con.execute(template["sql"], bind(template, start, end)).fetchall() == direct


def test_a_literal_ibis_shares_between_two_places_becomes_a_parameter_in_both() -> None:
    # Ibis compiles one literal used twice (a tenant filter on two tables of a union, a window's
    # end compared and truncated) to one node object with two parents.
    shared = sge.Literal.string(" healthdeck-tenant ")
    condition = sge.And(
        this=sge.EQ(this=sge.column("a"), expression=shared),
        expression=sge.EQ(this=sge.column("b"), expression=shared),
    )
    tree = sge.Select(expressions=[sge.Star()], where=sge.Where(this=condition))
    assert sum(node is shared for node in tree.walk()) == 2
    bound, found = bind_string(tree, " healthdeck-tenant ", "tenant")
    assert found
    assert bound.sql(dialect="duckdb") == "SELECT * WHERE a = $tenant AND b = $tenant"


def test_a_report_cut_at_any_microsecond_runs_from_the_cache_without_compiling(db: Path) -> None:  # noqa: F811
    """A second report at the same instant, cut at an odd microsecond, finds every query's SQL in the cache:
    it imports neither Ibis nor SQLGlot (the parse of such instants is the test above)."""
    (db.parent / "cache" / "sql-templates.json").unlink(missing_ok=True)
    at = (AT + timedelta(seconds=59, microseconds=999_536)).isoformat()
    first = cli(db, "health", "--full", "--at", at, "-o", "json").stdout
    again = run_cli("health", "--full", "--at", at, "-o", "json", "--db", str(db), env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert again.returncode == 0 and orjson.loads(again.stdout) == orjson.loads(first)
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in again.stderr.splitlines() if line.startswith("import time:")
    }
    assert "duckdb" in imported  # the import log is there
    assert not {name for name in imported if name.split(".")[0] in ("ibis", "sqlglot")}

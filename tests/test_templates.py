"""The on-disk cache of compiled SQL: reused when everything matches, discarded otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from healthdeck.engine.measures.templates import TemplateCache

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
    assert any(entry and "$at_" in entry["sql"] for entry in entries.values())
    second = orjson.loads(cli(db, "health", "--at", AT.isoformat(), "-o", "json").stdout)
    assert first["score"] == second["score"]
    assert first["areas"] == second["areas"]

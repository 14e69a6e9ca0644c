"""Compiled SQL templates of the measures' queries, kept on disk beside the store.

Building and compiling Ibis expressions is most of a health check's cost, and importing Ibis
most of its start-up. A query's SQL depends only on its shape (what it computes) and on the
window's instants, which become query parameters; so one run's compilations serve the next, and
a run that finds every shape here executes the SQL on DuckDB without importing Ibis at all.
The file is keyed by a fingerprint of everything that shapes the SQL (healthdeck, Ibis, SQLGlot
and DuckDB versions and the source of the measure library): any change discards it. A cache
that cannot be read or written is simply not used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

CACHE_FILE = "sql-templates.json"
# The entry of a shape whose SQL changes with the window's length (a rate per second): its
# templates are kept per length, under the shape and the length.
PER_LENGTH = "per-length"


def fingerprint(dialect: str = "duckdb") -> str:
    """A digest of the versions and code that decide what the compiled SQL looks like in `dialect`."""
    parts = [metadata.version(name) for name in ("healthdeck", "ibis-framework", "sqlglot", "duckdb")]
    sources = sorted(Path(__file__).parent.glob("*.py"))
    if dialect != "duckdb":  # another engine's SQL is also shaped by its compiler and dialect
        sources.append(Path(__file__).parents[2] / "engines" / "dialects.py")
    parts += [path.read_text(encoding="utf-8") for path in sources]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def bind(template: dict[str, Any], start: datetime, end: datetime) -> dict[str, datetime]:
    """The template's query parameters for a window: each instant at its offset from the start or end."""
    anchors = {"start": start, "end": end}
    return {
        name: anchors[anchor] + timedelta(microseconds=micros)
        for name, (anchor, micros) in template["instants"].items()
    }


class TemplateCache:
    """Shape -> compiled SQL template (or None when the shape cannot be templated)."""

    def __init__(self, path: Path | None, stamp: str) -> None:
        self.path, self.stamp, self.dirty = path, stamp, False
        self.entries: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return saved.get("entries", {}) if saved.get("fingerprint") == self.stamp else {}

    def get(self, key: str) -> tuple[bool, Any]:
        return (key in self.entries, self.entries.get(key))

    def put(self, key: str, sql: Any) -> None:
        self.entries[key] = sql
        self.dirty = True

    def save(self) -> None:
        """Write the file atomically (a reader never sees half of it); failures are ignored."""
        if self.path is None or not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump({"fingerprint": self.stamp, "entries": self.entries}, f)
            os.replace(tmp, self.path)
            self.dirty = False
        except OSError:
            pass

"""Compiled SQL templates of windowed measures, kept on disk beside the store.

Compiling Ibis expressions is most of a health check's cost, and the SQL of a windowed
aggregate depends only on its shape, so one run's compilations serve the next. The file is
keyed by a fingerprint of everything that shapes the SQL (healthdeck, Ibis and SQLGlot
versions and the source of the measures that build it): any change discards it. A cache that
cannot be read or written is simply not used.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

CACHE_FILE = "sql-templates.json"


def fingerprint(*modules: ModuleType) -> str:
    """A digest of the versions and code that decide what the compiled SQL looks like."""
    parts = [metadata.version(name) for name in ("healthdeck", "ibis-framework", "sqlglot", "duckdb")]
    parts += [inspect.getsource(module) for module in modules]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class TemplateCache:
    """Shape -> compiled SQL (or None when the shape cannot be templated)."""

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

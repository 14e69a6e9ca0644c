"""Which engine holds the data: `--engine` and $HEALTHDECK_ENGINE_URL, parsed into an `EngineUrl`.

`--engine` names the engine (duckdb, postgres, clickhouse) or gives its whole URL; the connection
of a named engine other than DuckDB comes from $HEALTHDECK_ENGINE_URL. Without either, healthdeck
uses its own DuckDB store (`--db`).

>>> parse_engine_url("postgresql://hd@127.0.0.1:5433/health").kind
'postgres'
>>> parse_engine_url("chdb:///var/lib/healthdeck/ch").target
'/var/lib/healthdeck/ch'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from healthdeck.errors import HealthdeckError

ENGINE_ENV = "HEALTHDECK_ENGINE_URL"
EngineKind = Literal["duckdb", "postgres", "clickhouse"]
ENGINES: tuple[EngineKind, ...] = ("duckdb", "postgres", "clickhouse")
# The URL schemes each engine is reached by; chdb is ClickHouse's engine run inside this process.
SCHEMES: dict[str, EngineKind] = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "postgresql": "postgres",
    "chdb": "clickhouse",
}
EXAMPLES = "postgresql://user@host:5432/db, chdb:///path/to/folder or duckdb:///path/to/store.duckdb"


@dataclass(frozen=True)
class EngineUrl:
    """Where the data lives: the engine, and its database (a DSN) or folder (a path)."""

    kind: EngineKind
    scheme: str
    # postgres: the URL as libpq takes it; chdb and duckdb: the path.
    target: str

    @property
    def shown(self) -> str:
        """The URL without its password, for messages."""
        if self.kind != "postgres":
            return f"{self.scheme}://{self.target}"
        parts = urlsplit(self.target)
        if parts.password is None:
            return self.target
        return self.target.replace(f":{parts.password}@", ":***@", 1)


def parse_engine_url(text: str) -> EngineUrl:
    """An engine URL, or a HealthdeckError that names it and shows the accepted forms."""
    scheme, sep, rest = text.strip().partition("://")
    kind = SCHEMES.get(scheme.lower())
    if not sep or kind is None:
        raise HealthdeckError(f"engine URL {text!r} is not one healthdeck reads; write e.g. {EXAMPLES}")
    if kind == "postgres":
        if not urlsplit(text.strip()).path.strip("/"):
            raise HealthdeckError(f"engine URL {text!r} names no database; end it with /DBNAME, e.g. {EXAMPLES}")
        return EngineUrl(kind, scheme.lower(), text.strip())
    path = rest.removeprefix("localhost")
    if not path.startswith("/") or path == "/":
        raise HealthdeckError(
            f"engine URL {text!r} has no absolute path; write {scheme}:///absolute/path (three slashes)"
        )
    return EngineUrl(kind, scheme.lower(), path)


def resolve_engine(option: str | None) -> EngineUrl | None:
    """The engine to use: `--engine`, else $HEALTHDECK_ENGINE_URL; None: healthdeck's DuckDB store (`--db`)."""
    chosen = (option or "").strip()
    from_env = os.environ.get(ENGINE_ENV, "").strip()
    if not chosen:
        return parse_engine_url(from_env) if from_env else None
    if "://" in chosen:
        return parse_engine_url(chosen)
    if chosen not in ENGINES:
        raise HealthdeckError(f"--engine {chosen!r} is not an engine; choose {', '.join(ENGINES)}, or give a URL")
    if chosen == "duckdb":
        return None
    if not from_env:
        raise HealthdeckError(f"--engine {chosen} needs its connection: set ${ENGINE_ENV} (e.g. {EXAMPLES})")
    url = parse_engine_url(from_env)
    if url.kind != chosen:
        raise HealthdeckError(f"--engine {chosen} but ${ENGINE_ENV} is a {url.kind} URL ({url.shown}); make them agree")
    return url

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
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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
        return f"{self.scheme}://{self.target}" if self.kind != "postgres" else redacted(self.target)


def redacted(url: str) -> str:
    """A URL as messages may show it: any password, in the user part or the query, replaced by ***."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is None and not any(key.lower() == "password" for key, _ in pairs):
        return url  # nothing to hide: shown exactly as written
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(f"{key}=***" if key.lower() == "password" else f"{key}={value}" for key, value in pairs)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def parse_engine_url(text: str) -> EngineUrl:
    """An engine URL, or a HealthdeckError that names it and shows the accepted forms."""
    scheme, sep, rest = text.strip().partition("://")
    kind = SCHEMES.get(scheme.lower())
    shown = repr(redacted(text.strip()))  # a URL in a message never carries its password
    if not sep or kind is None:
        raise HealthdeckError(f"engine URL {shown} is not one healthdeck reads; write e.g. {EXAMPLES}")
    if kind == "postgres":
        if not urlsplit(text.strip()).path.strip("/"):
            raise HealthdeckError(f"engine URL {shown} names no database; end it with /DBNAME, e.g. {EXAMPLES}")
        return EngineUrl(kind, scheme.lower(), text.strip())
    path = rest.removeprefix("localhost")
    if not path.startswith("/") or path == "/":
        raise HealthdeckError(
            f"engine URL {shown} has no absolute path; write {scheme}:///absolute/path (three slashes)"
        )
    # chdb reads what follows a "?" as ClickHouse settings: a path is a path, nothing more.
    if any(mark in path for mark in "?#%"):
        raise HealthdeckError(f"engine URL {shown}: a folder path may not contain ?, # or %")
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

"""Bearer tokens of the HTTP API: created once, stored hashed, checked in constant time.

A token reads `hd_<id>_<secret>`: the id finds the stored row, the secret (32 random
bytes) is never stored, only the SHA-256 of the whole token. A high-entropy secret
needs no slow password hash. Used by `healthdeck tokens` and by the server alike,
so this module imports nothing of the web stack.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from healthdeck.errors import HealthdeckError

if TYPE_CHECKING:
    import duckdb

PREFIX = "hd_"
# The API's name for "every tenant"; a token over every tenant simply has no project.
ALL_PROJECTS = "_all"


class Role(StrEnum):
    """What a token may do; each role may also do everything of the roles before it."""

    viewer = "viewer"
    operator = "operator"
    admin = "admin"

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Token:
    """A stored token without its secret: who it is for and what it may do."""

    token_id: str
    name: str | None
    role: Role
    project: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "name": self.name,
            "role": self.role.value,
            "project": self.project,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


_COLUMNS = "token_id, name, role, project, created_at, revoked_at"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _row_token(row: tuple[Any, ...]) -> Token:
    return Token(row[0], row[1], Role(row[2]), row[3], row[4], row[5])


def create_token(
    con: duckdb.DuckDBPyConnection, *, role: Role, project: str | None = None, name: str | None = None
) -> tuple[Token, str]:
    """Store a new token; return it and its text, which is shown this once and never again."""
    if project is not None and (not project.strip() or project == ALL_PROJECTS):
        raise HealthdeckError(f"--project {project!r} is not a tenant id; leave it out for a token over every tenant")
    token_id = secrets.token_hex(6)
    text = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    created = _now()
    con.execute(
        "INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, ?, NULL)",
        [token_id, name, role.value, project, _digest(text), created],
    )
    return Token(token_id, name, role, project, created), text


def list_tokens(con: duckdb.DuckDBPyConnection) -> list[Token]:
    """Every token, revoked ones too, oldest first."""
    rows = con.execute(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created_at, token_id").fetchall()
    return [_row_token(row) for row in rows]


def revoke_token(con: duckdb.DuckDBPyConnection, token_id: str) -> Token:
    """Revoke a token by id (from `tokens list`); revoking twice keeps the first time."""
    con.execute("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL", [_now(), token_id])
    KNOWN.forget()
    rows = con.execute(f"SELECT {_COLUMNS} FROM api_tokens WHERE token_id = ?", [token_id]).fetchall()
    if not rows:
        raise HealthdeckError(f"no token with id {token_id!r}; `healthdeck tokens list` shows the ids")
    return _row_token(rows[0])


def find_token(con: duckdb.DuckDBPyConnection, presented: str) -> Token | None:
    """The live token whose text is `presented`, or None (unknown, malformed or revoked)."""
    token_id, _, secret = presented.removeprefix(PREFIX).partition("_")
    if not presented.startswith(PREFIX) or not secret:
        return None
    rows = con.execute(
        f"SELECT {_COLUMNS}, token_hash FROM api_tokens WHERE token_id = ? AND revoked_at IS NULL", [token_id]
    ).fetchall()
    if not rows or not hmac.compare_digest(rows[0][-1], _digest(presented)):
        return None
    return _row_token(rows[0][:-1])


class KnownTokens:
    """Live tokens already checked, so a request need not read the store to authenticate.

    Only a server keeps them, and it is its store's only writer: every revocation runs
    `revoke_token` in that process, which forgets them all. Unknown texts are never kept.
    """

    LIMIT = 10_000

    def __init__(self) -> None:
        self._live: dict[str, Token] = {}
        self._lock = threading.Lock()

    def find(self, presented: str, read: Callable[[], Token | None]) -> Token | None:
        """The live token whose text is `presented`; `read` looks it up in the store when not known."""
        key = _digest(presented)
        with self._lock:
            known = self._live.get(key)
        if known is not None:
            return known
        token = read()
        if token is not None:
            with self._lock:
                if len(self._live) >= self.LIMIT:
                    self._live.clear()
                self._live[key] = token
        return token

    def forget(self) -> None:
        with self._lock:
            self._live.clear()


KNOWN = KnownTokens()


def _now() -> datetime:
    return datetime.now(UTC)

"""An in-process `healthdeck serve` app over a simulated store, for the console's data routes.

The app is the one `serve` builds (create_app over a StoreOwner), driven by Starlette's test
client: the same routes, auth and errors as a real server, without a subprocess per module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from healthdeck.api.app import create_app
from healthdeck.api.owner import StoreOwner
from healthdeck.api.settings import ServeSettings
from healthdeck.api.tokens import Role, create_token
from healthdeck.engine.session import load_checked_catalog
from healthdeck.sim import simulate
from healthdeck.store.connection import Store, open_store

CATALOG = load_checked_catalog()
# Small enough to simulate in a few seconds; every kind of record gets rows.
SIMULATED: dict[str, Any] = {"tenants": 12, "days": 10, "seed": 11, "requests_per_day": 6_000}


@dataclass
class Console:
    """The app, its store (read it for the expected answers) and tokens by name ("viewer", "viewer@<tenant>")."""

    client: TestClient
    store: Store
    tokens: dict[str, str]

    def get(self, path: str, caller: str = "viewer", **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.tokens[caller]}"})

    def ok(self, path: str, caller: str = "viewer", **params: Any) -> Any:
        answer = self.get(path, caller, **params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.store.con.cursor() as cursor:
            return cursor.execute(query, params).fetchall()

    @contextmanager
    def read_view(self) -> Iterator[Store]:
        """The store on a cursor of its own: the store's connection is the server's writer's, which may
        be busy in the writer's thread (its first job reads the hashes of recent ids, api/owner.py)."""
        with self.store.con.cursor() as cursor:
            yield Store(path=self.store.path, con=cursor, read_only=True)


@contextmanager
def console(
    folder: Path, *, scoped: tuple[str, ...] = (), settings: ServeSettings | None = None, **simulation: Any
) -> Iterator[Console]:
    """A simulated store served in-process, with a viewer token over every tenant and one per `scoped` tenant.

    By default nothing is evaluated on a schedule (as tests/test_serve_server.py's Server).
    """
    store = open_store(folder / "store.duckdb", create=True)
    simulate(store, **{**SIMULATED, **simulation})
    tokens = {"viewer": create_token(store.con, role=Role.viewer)[1]}
    for tenant in scoped:
        tokens[f"viewer@{tenant}"] = create_token(store.con, role=Role.viewer, project=tenant)[1]
    owner = StoreOwner(store, CATALOG)
    app = create_app(owner, settings or ServeSettings(evaluate_every=None), spool_dir=folder)
    try:
        with TestClient(app) as client:
            yield Console(client, store, tokens)
    finally:
        owner.close()

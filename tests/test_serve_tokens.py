"""A server remembers the tokens it has checked, and forgets them the moment one is revoked."""

from __future__ import annotations

import signal
from pathlib import Path

from healthdeck.api.tokens import Role

from .conftest import run_cli
from .test_serve_server import Server, make_tokens


def test_a_revoked_token_is_refused_at_once_however_it_was_revoked(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    admin, by_api, by_cli = make_tokens(db, (Role.admin, None), (Role.viewer, None), (Role.viewer, None))
    server = Server(db).start()
    try:
        with server.client(admin) as as_admin, server.client(by_api) as first, server.client(by_cli) as second:
            for client in (first, second):  # each token is checked once, and then known to the server
                assert [client.get("/v1/store").status_code for _ in range(3)] == [200, 200, 200]
            assert as_admin.delete(f"/v1/tokens/{by_api.split('_')[1]}").status_code == 200
            assert first.get("/v1/store").status_code == 401
            assert second.get("/v1/store").status_code == 200  # another token stays known and valid
            # The CLI revokes through the running server (the store is the server's alone).
            revoked = run_cli("tokens", "revoke", by_cli.split("_")[1], "--db", str(db))
            assert revoked.returncode == 0, revoked.stderr
            assert second.get("/v1/store").status_code == 401
            assert as_admin.get("/v1/store").status_code == 200
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0, stderr

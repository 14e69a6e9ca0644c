"""schemathesis over the served OpenAPI schema: every documented route, fuzzed, against a real server.

Checks: no 5xx, every status code is one the schema documents for the route, the
content type and the body conform to the schema. Bounded: a few examples per route.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from healthdeck.api.tokens import Role
from tests.test_serve_server import NDJSON, Server, jsonl, make_tokens, request_event, tenant

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Small on purpose: the whole module stays within about half a minute on a shared 2-core machine.
EXAMPLES_PER_ROUTE = 40


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    db: Path = tmp_path_factory.mktemp("schema") / "store.duckdb"
    [admin] = make_tokens(db, (Role.admin, None))
    server = Server(db).start()
    try:
        records = [tenant("t-1")] + [request_event(n) for n in range(20)]
        with server.client(admin) as http:
            assert http.post("/v1/events", content=jsonl(records), headers=NDJSON).status_code == 200
        yield server, admin
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0 and "Traceback" not in stderr, stderr


# The stream never ends by itself (it is a live feed), so a fuzzed call to it would wait for
# the read timeout: tests/test_serve_stream.py covers it, its refusals included.
EXCLUDED = {"GET /api/projects/{project}/metrics/stream"}


def test_every_route_answers_as_documented(admin_server: tuple[Server, str]) -> None:
    server, admin = admin_server
    api = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.label for op in operations} >= EXCLUDED  # an exclusion that no longer matches is stale
    failures: list[str] = []
    for operation in operations:
        if operation.label in EXCLUDED:
            continue
        try:
            _fuzz(operation, admin)
        except (Exception, BaseExceptionGroup) as exc:  # every route is fuzzed; their failures are reported together
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def _fuzz(operation: schemathesis.APIOperation, admin: str) -> None:
    # Valid requests, and requests that break the schema (which must be refused with a documented status).
    cases = st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases)
    @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {admin}"}, checks=CHECKS, timeout=30)

    call()


def test_the_schema_documents_the_refusals_as_they_are_made(admin_server: tuple[Server, str]) -> None:
    server, _ = admin_server
    paths = httpx.get(f"{server.url}/openapi.json", timeout=30).json()["paths"]
    documented = {
        f"{method.upper()} {path}": set(op["responses"]) for path, ops in paths.items() for method, op in ops.items()
    }
    open_routes = {"GET /health", "GET /livez", "GET /readyz"}
    assert all("401" in statuses for label, statuses in documented.items() if label not in open_routes)
    # A bad parameter is a 400 with a JSON error, never FastAPI's 422.
    assert not [label for label, statuses in documented.items() if "422" in statuses]

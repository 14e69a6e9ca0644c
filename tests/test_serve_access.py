"""Who may see what, route by route, and what the read routes answer, against a real server."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from healthdeck.api.tokens import Role
from tests.test_serve_server import NDJSON, Server, jsonl, make_tokens, request_event, tenant

CALLERS = ("none", "viewer", "operator", "admin", "viewer@t-1", "operator@t-1", "revoked", "forged")


@dataclass
class Deployment:
    server: Server
    tokens: dict[str, str]
    # When the fixture's requests happened: ten minutes ago, whole seconds.
    events_at: datetime

    def call(
        self, caller: str, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.tokens[caller]}"} if caller in self.tokens else {}
        return httpx.request(
            method, f"{self.server.url}{path}", headers={**auth, **(headers or {})}, timeout=60, **kwargs
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    db = tmp_path_factory.mktemp("access") / "store.duckdb"
    specs = [
        (Role.viewer, None),
        (Role.operator, None),
        (Role.admin, None),
        (Role.viewer, "t-1"),
        (Role.operator, "t-1"),
    ]
    texts = make_tokens(db, *specs)
    tokens = dict(zip(["viewer", "operator", "admin", "viewer@t-1", "operator@t-1"], texts, strict=True))
    [tokens["revoked"]] = make_tokens(db, (Role.admin, None))
    tokens["forged"] = tokens["admin"][:-4] + "AAAA"
    server = Server(db).start()
    deployed = Deployment(server, tokens, (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0))
    try:
        _seed(deployed)
        yield deployed
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0, stderr


def _seed(deployed: Deployment) -> None:
    """Two tenants, 20 requests each at `events_at`, and the revoked token revoked."""
    at = deployed.events_at.isoformat()
    records = [tenant("t-1"), tenant("t-2")] + [{**request_event(n, f"t-{1 + n % 2}"), "ts": at} for n in range(40)]
    assert deployed.call("operator", "POST", "/v1/events", content=jsonl(records), headers=NDJSON).status_code == 200
    revoked_id = deployed.tokens["revoked"].split("_")[1]
    assert deployed.call("admin", "DELETE", f"/v1/tokens/{revoked_id}").status_code == 200


def _expected(caller: str, needed: Role, every_tenant: bool) -> int:
    if caller in ("none", "revoked", "forged"):
        return 401
    role, _, project = caller.partition("@")
    if not Role(role).allows(needed):
        return 403
    return 403 if every_tenant and project else 200


ROUTES = [
    ("GET", "/v1/health?pack=daily_ops_morning&area=service", Role.viewer),  # a small pack keeps this test quick
    ("GET", "/v1/kpis/api_latency_p95", Role.viewer),
    ("GET", "/v1/catalog", Role.viewer),
    ("GET", "/v1/store", Role.viewer),
    ("GET", "/v1/history", Role.viewer),
    ("GET", "/metrics", Role.viewer),
    ("POST", "/v1/events", Role.operator),
    ("GET", "/v1/tokens", Role.admin),
    ("POST", "/v1/sql", Role.viewer),
    ("GET", "/v1/metrics/export?name=api_latency_p95&start=2%20hours%20ago", Role.viewer),
    ("GET", "/v1/metrics/compare?name=api_latency_p95&period1=yesterday&period2=today", Role.viewer),
    ("GET", "/v1/kpis/api_latency_p95/history", Role.viewer),
]
BODIES: dict[str, dict[str, Any]] = {
    "/v1/events": {"content": jsonl([tenant("t-3")]), "headers": NDJSON},
    "/v1/sql": {"json": {"query": "SELECT count(*) AS n FROM requests"}},
}


@pytest.mark.parametrize("caller", CALLERS)
def test_routes_over_every_tenant_by_role(deployment: Deployment, caller: str) -> None:
    answers = {}
    for method, path, needed in ROUTES:
        answer = deployment.call(caller, method, path, **BODIES.get(path, {}))
        answers[path] = (answer.status_code, _expected(caller, needed, every_tenant=True))
        if answer.status_code != 200:
            assert set(answer.json()) == {"error"}, answer.text  # a refusal carries no data
    assert {path: got for path, (got, _) in answers.items()} == {path: want for path, (_, want) in answers.items()}


def _expected_for_project(caller: str, project: str) -> int:
    """A viewer route naming a project: 404 for a project that does not exist or lies outside the
    token's scope (a token limited to t-1 sees t-1 only, not even `_all`)."""
    expected = _expected(caller, Role.viewer, every_tenant=False)
    scope = caller.partition("@")[2]
    if expected == 200 and (project == "t-404" or (scope and project != scope)):
        return 404
    return expected


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("project", ["t-1", "t-2", "t-404", "_all"])
def test_project_routes_by_scope(deployment: Deployment, caller: str, project: str) -> None:
    answer = deployment.call(caller, "GET", f"/v1/projects/{project}")
    expected = _expected_for_project(caller, project)
    assert answer.status_code == expected, answer.text
    if expected == 404:
        assert answer.json() == {"error": f"no project {project!r}"}  # not even a count
    if expected == 200 and project != "_all":
        assert answer.json()["records"]["requests"] == 20


@pytest.mark.parametrize("caller", ["none", "viewer@t-1", "forged"])
@pytest.mark.parametrize("path", ["/health", "/livez", "/readyz"])
def test_probes_need_no_token(deployment: Deployment, caller: str, path: str) -> None:
    assert deployment.call(caller, "GET", path).status_code == 200


def test_sql_answers_one_select_as_the_sql_command_does(deployment: Deployment) -> None:
    query = "SELECT tenant_id, count(*) AS n, min(ts) AS first FROM requests GROUP BY tenant_id ORDER BY tenant_id"
    answer = deployment.call("viewer", "POST", "/v1/sql", json={"query": query})
    assert answer.status_code == 200, answer.text
    assert answer.json()["columns"] == ["tenant_id", "n", "first"]
    assert [(r["tenant_id"], r["n"]) for r in answer.json()["rows"]] == [("t-1", 20), ("t-2", 20)]
    assert answer.json()["rows"][0]["first"] == deployment.events_at.isoformat()
    for bad in ({"query": "DELETE FROM requests"}, {"query": "SELECT 1", "timeout": 3600}):
        refused = deployment.call("admin", "POST", "/v1/sql", json=bad)
        assert refused.status_code == 400 and set(refused.json()) == {"error"}, refused.text


def test_only_admins_create_and_revoke_tokens(deployment: Deployment) -> None:
    for caller in ("viewer", "operator", "operator@t-1"):
        assert deployment.call(caller, "POST", "/v1/tokens", json={"role": "viewer"}).status_code == 403
    created = deployment.call("admin", "POST", "/v1/tokens", json={"role": "viewer", "name": "dash"})
    assert created.status_code == 201
    listed = deployment.call("admin", "GET", "/v1/tokens").json()
    assert "dash" in [t["name"] for t in listed]
    assert all("token" not in t for t in listed)  # secrets are never listed
    assert deployment.call("admin", "DELETE", "/v1/tokens/nope").status_code == 404


def test_health_report_matches_the_cli_shape_and_takes_its_parameters(deployment: Deployment) -> None:
    full = deployment.call("viewer", "GET", "/v1/health").json()
    assert set(full) >= {"score", "status", "at", "areas", "explanation"}
    service = deployment.call("viewer", "GET", "/v1/health", params={"area": "service"}).json()
    assert list(service["areas"]) == ["service"]
    at = deployment.call("viewer", "GET", "/v1/health", params={"at": "2026-11-20T00:00:00Z", "window": "1h"}).json()
    assert at["at"] == "2026-11-20T00:00:00+00:00"
    bad = deployment.call("viewer", "GET", "/v1/health", params={"area": "moon"})
    assert bad.status_code == 400 and "moon" in bad.json()["error"]
    assert deployment.call("viewer", "GET", "/v1/health", params={"at": "soonish"}).status_code == 400
    future = deployment.call("viewer", "GET", "/v1/health", params={"at": "2999-01-01T00:00:00Z"})
    assert future.status_code == 400 and "in the future" in future.json()["error"]
    assert deployment.call("viewer", "GET", "/v1/health", params={"pack": "nope"}).status_code == 400


def test_kpi_catalog_and_store_routes(deployment: Deployment) -> None:
    just_after = (deployment.events_at + timedelta(minutes=1)).isoformat()
    kpi = deployment.call("viewer", "GET", "/v1/kpis/api_latency_p95", params={"at": just_after}).json()
    assert kpi["id"] == "api_latency_p95" and kpi["value"] == 12.5
    missing = deployment.call("viewer", "GET", "/v1/kpis/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    catalog = deployment.call("viewer", "GET", "/v1/catalog").json()
    assert "api_latency_p95" in [k["id"] for k in catalog]
    store = deployment.call("viewer", "GET", "/v1/store").json()
    assert store["tables"]["requests"] >= 40 and store["schema_version"] >= 3


def test_quick_health_is_the_morning_check(deployment: Deployment) -> None:
    quick = deployment.call("none", "GET", "/health").json()
    assert set(quick) == {"status", "score", "newest_event", "stale", "panels", "auth"}
    assert quick["auth"] == "on"
    assert quick["newest_event"] is not None
    assert {p["id"] for p in quick["panels"]} >= {"morning_api_uptime_24h", "morning_error_rate_1h"}


def test_prometheus_metrics_are_bounded_and_count_ingest(deployment: Deployment) -> None:
    text = deployment.call("viewer", "GET", "/metrics").text
    assert 'healthdeck_records_ingested_total{kind="requests"}' in text
    assert "# TYPE healthdeck_score gauge" in text and "# TYPE healthdeck_area_score gauge" in text
    assert 'healthdeck_kpi_status{kpi="api_latency_p95",status="GOOD"}' in text
    assert "healthdeck_evaluation_seconds_count" in text
    assert "t-1" not in text and "tenant_id" not in text  # no per-tenant series


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("project", ["_all", "t-1", "t-2", "t-404"])
def test_dashboard_routes_by_scope(deployment: Deployment, caller: str, project: str) -> None:
    answer = deployment.call(caller, "GET", f"/api/projects/{project}/metrics/dashboard")
    expected = _expected_for_project(caller, project)
    assert answer.status_code == expected, answer.text
    if expected == 404:
        assert answer.json() == {"error": f"no project {project!r}"}
    if expected == 200:
        assert set(answer.json()) == {"project", "at", "score", "status", "areas", "kpis"}
        assert answer.json()["project"] == project


def test_query_and_query_range_over_every_tenant(deployment: Deployment) -> None:
    base, at = "/api/projects/_all/metrics", deployment.events_at
    one = deployment.call(
        "viewer",
        "GET",
        f"{base}/query",
        params={"kpi": "api_latency_p95", "at": (at + timedelta(minutes=1)).isoformat()},
    )
    assert one.json()["value"] == 12.5
    span = {"start": (at - timedelta(minutes=5)).isoformat(), "end": (at + timedelta(minutes=5)).isoformat()}
    curve = deployment.call(
        "viewer", "GET", f"{base}/query_range", params={"kpi": "api_latency_p95", "step": "5m", **span}
    )
    assert [p["value"] for p in curve.json()["points"]] == [None, None, 12.5]  # from start to end; windows [start, end)
    assert deployment.call("viewer", "GET", f"{base}/query", params={"kpi": "nope"}).status_code == 404
    backwards = {"start": span["end"], "end": span["start"]}
    backwards_answer = deployment.call(
        "viewer", "GET", f"{base}/query_range", params={"kpi": "api_latency_p95", **backwards}
    )
    assert backwards_answer.status_code == 400 and "end must be after its start" in backwards_answer.json()["error"]
    assert deployment.call("viewer@t-1", "GET", f"{base}/query", params={"kpi": "api_latency_p95"}).status_code == 404


TENANT_ROUTES = [
    "/api/projects/{project}/metrics/query?kpi=api_latency_p95",
    "/api/projects/{project}/metrics/query_range?kpi=api_latency_p95&start=1%20hour%20ago&step=30m",
    "/v1/health?pack=daily_ops_morning&area=service&project={project}",
    "/v1/kpis/api_latency_p95?project={project}",
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("project", ["_all", "t-1", "t-2", "t-404"])
@pytest.mark.parametrize("route", TENANT_ROUTES)
def test_routes_naming_a_project_by_scope(deployment: Deployment, caller: str, project: str, route: str) -> None:
    answer = deployment.call(caller, "GET", route.format(project=project))
    expected = _expected_for_project(caller, project)
    assert answer.status_code == expected, answer.text
    if expected == 404:
        assert answer.json() == {"error": f"no project {project!r}"}  # not even a count


def test_a_scoped_token_naming_no_project_is_refused(deployment: Deployment) -> None:
    for path in ("/v1/health", "/v1/kpis/api_latency_p95"):
        refused = deployment.call("viewer@t-1", "GET", path)
        assert refused.status_code == 403 and "?project=t-1" in refused.json()["error"], refused.text


def test_one_tenants_kpi_sees_only_its_requests(deployment: Deployment) -> None:
    at = {"at": (deployment.events_at + timedelta(minutes=1)).isoformat()}
    every = deployment.call("viewer", "GET", "/v1/kpis/api_request_rate", params=at).json()["value"]
    by_path = deployment.call(
        "viewer@t-1", "GET", "/api/projects/t-1/metrics/query", params={"kpi": "api_request_rate", **at}
    )
    by_query = deployment.call("viewer@t-1", "GET", "/v1/kpis/api_request_rate", params={"project": "t-1", **at})
    for answer in (by_path, by_query):
        assert answer.status_code == 200, answer.text
        # The fixture's 20 requests of t-1 of the 40 of both, over the same (whole-store) coverage.
        assert answer.json()["value"] == pytest.approx(every / 2) and every > 0
    dashboard = deployment.call("viewer@t-1", "GET", "/api/projects/t-1/metrics/dashboard").json()
    cpu = next(k for k in dashboard["kpis"] if k["id"] == "cpu_utilization")
    assert cpu["status"] == "NO_DATA" and cpu["value"] is None

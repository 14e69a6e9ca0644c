"""The web console over plain HTTP: signing in, what a cookie may do, the frame, errors as pages.

The browser tests (tests/web/) drive the same pages in Chromium; these check the rules a browser
cannot see, against a real `healthdeck serve` on a simulated store.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from healthdeck.api.tokens import Role
from tests.conftest import run_cli
from tests.test_serve_server import NDJSON, Server, jsonl, make_tokens, request_event


@dataclass
class Console:
    server: Server
    tokens: dict[str, str]
    tenant: str

    def get(self, path: str, *, token: str | None = None, **kwargs: object) -> httpx.Response:
        cookies = {"healthdeck_token": self.tokens[token]} if token else {}
        return httpx.get(f"{self.server.url}{path}", cookies=cookies, timeout=60, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.post(f"{self.server.url}{path}", timeout=60, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    db = tmp_path_factory.mktemp("console") / "store.duckdb"
    run_cli("simulate", "--tenants", "12", "--days", "3", "--db", str(db), "-q").check_returncode()
    tenant = _first_tenant(db)
    specs = [(Role.viewer, None), (Role.operator, None), (Role.viewer, tenant)]
    tokens = dict(zip(["viewer", "operator", "tenant"], make_tokens(db, *specs), strict=True))
    server = Server(db).start()
    try:
        yield Console(server, tokens, tenant)
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0, stderr


def _first_tenant(db: Path) -> str:
    out = run_cli("sql", "SELECT min(tenant_id) AS t FROM tenants", "--db", str(db), "--output", "json")
    return str(re.search(r'"t":\s*"([^"]+)"', out.stdout).group(1))  # type: ignore[union-attr]


def test_a_page_without_a_token_sends_the_browser_to_sign_in(console: Console) -> None:
    answer = console.get("/ui/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2F"
    form = console.get("/ui/login")
    assert form.status_code == 200 and 'name="token"' in form.text and 'type="password"' in form.text


def test_signing_in_keeps_the_token_in_a_strict_http_only_cookie(console: Console) -> None:
    answer = console.post("/ui/login", data={"token": console.tokens["viewer"], "next": "/ui/areas/service"})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/areas/service"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"healthdeck_token={console.tokens['viewer']};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie


@pytest.mark.parametrize("token", ["", "hd_not-a-token"])
def test_a_wrong_token_is_refused_on_the_form_and_sets_nothing(console: Console, token: str) -> None:
    answer = console.post("/ui/login", data={"token": token})
    assert answer.status_code == 401
    assert "That token is unknown or revoked." in answer.text and "set-cookie" not in answer.headers


@pytest.mark.parametrize("target", ["https://evil.example/ui/", "//evil.example/ui/", "/v1/tokens", "/\\evil"])
def test_after_signing_in_the_browser_goes_only_to_a_console_page(console: Console, target: str) -> None:
    answer = console.post("/ui/login", data={"token": console.tokens["viewer"], "next": target})
    assert answer.headers["location"] == "/ui/"


def test_a_form_posted_from_another_site_is_refused(console: Console) -> None:
    answer = console.post(
        "/ui/login", data={"token": console.tokens["viewer"]}, headers={"Origin": "https://x.example"}
    )
    assert answer.status_code == 403 and "set-cookie" not in answer.headers
    assert "text/html" in answer.headers["content-type"]


def test_the_cookie_reads_but_never_writes(console: Console) -> None:
    cookies = {"healthdeck_token": console.tokens["operator"]}
    assert httpx.get(f"{console.server.url}/v1/health", cookies=cookies, timeout=60).status_code == 200
    event = jsonl([request_event(1, console.tenant)])
    posted = httpx.post(f"{console.server.url}/v1/events", content=event, headers=NDJSON, cookies=cookies, timeout=60)
    assert posted.status_code == 401  # the same token in the Authorization header may ingest
    headers = {**NDJSON, "Authorization": f"Bearer {console.tokens['operator']}"}
    assert httpx.post(f"{console.server.url}/v1/events", content=event, headers=headers, timeout=60).status_code == 200


def test_the_overview_shows_the_summary_of_the_latest_evaluation(console: Console) -> None:
    page = console.get("/ui/", token="viewer")
    assert page.status_code == 200
    at = re.search(r'class="live-meta" data-at="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    report = httpx.get(
        f"{console.server.url}/v1/health",
        params={"at": at},
        headers={"Authorization": f"Bearer {console.tokens['viewer']}"},
        timeout=60,
    ).json()
    shown = re.search(r'data-testid="score">([^<]+)<', page.text).group(1)  # type: ignore[union-attr]
    assert shown == f"{report['score']:.1f}"
    assert f"</span> {report['status']}</span>" in page.text


def test_points_lost_add_up_to_what_the_score_misses(console: Console) -> None:
    summary = console.get("/v1/summary?since=1h", token="viewer").json()
    lost = [kpi["points_lost"] for kpi in summary["pulled_down"]]
    assert lost == sorted(lost, reverse=True) and all(points > 0 for points in lost)
    assert sum(lost) == pytest.approx(100 - summary["score"], abs=0.02 * len(lost) + 0.01)
    assert [kpi["id"] for kpi in summary["headline"]] == ["mrr", "dau", "uptime", "error_rate_5xx", "api_latency_p95"]


def test_the_live_part_alone_is_what_the_page_swaps_in(console: Console) -> None:
    whole = console.get("/ui/", token="viewer")
    part = console.get("/ui/", token="viewer", headers={"X-Healthdeck-Partial": "1"})
    assert part.status_code == 200 and "<html" not in part.text and "<main" not in part.text
    assert 'class="live-meta"' in part.text and "<h1>Health overview</h1>" in part.text
    assert "<h1>Health overview</h1>" in whole.text and 'id="live"' in whole.text


def test_pages_forbid_inline_script_framing_and_caching(console: Console) -> None:
    headers = console.get("/ui/", token="viewer").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"


def test_a_tenants_token_is_sent_to_its_tenant_and_kept_from_every_tenant_pages(console: Console) -> None:
    home = console.get("/ui/", token="tenant", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == f"/ui/tenants/{console.tenant}"
    summary = console.get("/v1/summary", token="tenant")
    assert summary.status_code == 403


def test_the_persona_is_remembered_and_sets_the_ranges(console: Console) -> None:
    chosen = console.post("/ui/choices", data={"persona": "devops", "next": "/ui/?range=30d"})
    assert chosen.status_code == 303 and chosen.headers["location"] == "/ui/"  # the new persona's own range
    persona = chosen.cookies["healthdeck_persona"]
    cookies = {"healthdeck_token": console.tokens["viewer"], "healthdeck_persona": persona}
    page = httpx.get(f"{console.server.url}/ui/", cookies=cookies, timeout=60).text
    assert re.search(r'href="/ui/\?range=1h" aria-current="true"', page)
    assert 'href="/ui/?range=6h"' in page and 'data-refresh="10"' in page
    manager = console.get("/ui/", token="viewer").text
    assert re.search(r'href="/ui/\?range=7d" aria-current="true"', manager) and 'data-refresh="30"' in manager


def test_a_range_not_offered_is_a_page_that_says_which_are(console: Console) -> None:
    answer = console.get("/ui/?range=5y", token="viewer")
    assert answer.status_code == 400 and "text/html" in answer.headers["content-type"]
    assert "range: &#39;5y&#39; is not offered; use one of 1h, 6h, 24h, 7d, 30d" in answer.text


def test_unknown_pages_are_pages_and_the_root_opens_the_console(console: Console) -> None:
    missing = console.get("/ui/no-such-page", token="viewer")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    root = console.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    assert console.get("/v1/no-such-route").headers["content-type"] == "application/json"


def test_a_gauge_spans_both_bounds_and_the_value_with_their_gap_either_side() -> None:
    from healthdeck.api.routes.summary import gauge_scale
    from healthdeck.engine.session import load_checked_catalog

    kpis = load_checked_catalog().kpis
    # Uptime: good > 99.9, critical < 99.5 — a gap of 0.4 either side, cut at 100 (a percentage).
    assert gauge_scale(kpis["uptime"], 99.58) == pytest.approx(
        {"minimum": 99.1, "maximum": 100.0, "good": 99.9, "critical": 99.5, "higher_is_better": True}
    )
    # P95 latency: good < 100, critical > 200 ms; a value of 450 widens the top: 450 + 100.
    assert gauge_scale(kpis["api_latency_p95"], 450.0) == pytest.approx(
        {"minimum": 0.0, "maximum": 550.0, "good": 100.0, "critical": 200.0, "higher_is_better": False}
    )
    assert gauge_scale(kpis["gradient_norm"], 1.0) is None  # a band (0.1..10) is not one bound each way
    assert gauge_scale(kpis["dau"], 70.0) is None  # its thresholds judge the change, not the value

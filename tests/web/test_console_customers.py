"""The customer pages in Chromium: the at-risk list opens a tenant's page with the engine's factors and
churn risk, a tenant's token sees its own page only, the keyboard reaches a tenant, and new events show
without a reload.

The factors are compared with `GET /v1/customers/{id}/health` (the route over `Engine.customer_health`):
the server holds the store's DuckDB file open for writing, and DuckDB lets no other process open it
meanwhile, not even read-only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from healthdeck.api.tokens import Role
from tests.conftest import run_cli
from tests.test_serve_server import NDJSON, Server, bearer, jsonl, make_tokens, request_event
from tests.web.conftest import TOKEN_COOKIE, ConsoleServer, axe_check, new_context, screenshot

FACTORS = ("usage", "engagement", "adoption", "support")


def _health(server: ConsoleServer, tenant: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{server.url}/v1/customers/{tenant}/health", headers=bearer(server.tokens["viewer"]), timeout=60
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _expect_factors_of(page: Page, health: dict[str, Any]) -> None:
    expect(page.get_by_test_id("score")).to_have_text(f"{health['health_score']:.1f}")
    expect(page.get_by_test_id("status")).to_contain_text(health["health_status"].replace("_", " "))
    for factor in FACTORS:
        card = page.get_by_test_id(f"factor-{factor}")
        expect(card.locator(".points")).to_have_text(f"{health['factors'][factor]:.1f}")
        expect(card.locator(".rule")).to_contain_text(health["rules"][factor])
    _expect_churn_of(page, health["churn_risk"])


def _expect_churn_of(page: Page, risk: dict[str, Any]) -> None:
    expect(page.get_by_test_id("churn-score")).to_have_text(str(risk["score"]))
    expect(page.get_by_test_id("churn-level")).to_contain_text(risk["level"])
    expect(page.locator('[data-testid^="indicator-"]')).to_have_count(len(risk["indicators"]))
    for indicator in risk["indicators"]:
        card = page.get_by_test_id(f"indicator-{indicator['name']}")
        expect(card.locator(".points")).to_have_text(f"+{indicator['points']}")
        expect(card.locator(".fact")).to_have_text(indicator["fact"])


def test_the_first_tenant_at_risk_opens_its_page_with_the_engines_factors(
    page_as: Any, console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/customers")
    counts = httpx.get(
        f"{console_server.url}/v1/customers/health", headers=bearer(console_server.tokens["viewer"]), timeout=60
    )
    for status, count in counts.json()["counts"].items():
        expect(page.get_by_test_id(f"count-{status}")).to_have_text(str(count))
    for line in counts.json()["tenants"]:  # the churn-risk column: the JSON's points and level
        row = page.locator(f'table.all-tenants tr[data-tenant="{line["tenant_id"]}"]')
        expect(row.locator('[data-field="churn"]')).to_have_text(str(line["churn_risk"]["score"]))
        expect(row.locator('[data-field="churn-level"]')).to_contain_text(line["churn_risk"]["level"])
    first = page.locator("table.at-risk tbody a").first
    expect(first).to_be_visible()
    axe_check(page)
    screenshot(page, "customers")
    first.click()
    # The page follows the server's evaluations, which may re-rank the tenants between reading the
    # first link and clicking it: the page checked is the one the click opened.
    page.wait_for_url(re.compile(rf"^{re.escape(console_server.url)}/ui/tenants/[^/]+$"))
    tenant = page.url.rsplit("/", 1)[1]
    health = _health(console_server, tenant)
    assert health["health_status"] in ("AT_RISK", "CRITICAL")
    _expect_factors_of(page, health)
    expect(page.locator("#tenant-traffic canvas").first).to_be_visible()  # the chart is drawn...
    expect(page.locator("#tenant-traffic details table")).to_have_count(1)  # ...and its table is there
    axe_check(page)
    screenshot(page, "tenant")
    assert page.context.outside_requests == []  # type: ignore[attr-defined]


def test_a_tenants_token_gets_404_for_another_tenant_and_its_own_page_works(
    page_as: Any, console_server: ConsoleServer
) -> None:
    page = page_as("viewer_a")
    own, other = console_server.tenants
    refused = page.goto(f"{console_server.url}/ui/tenants/{other}")
    assert refused is not None and refused.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("404: Not found")
    every = page.goto(f"{console_server.url}/ui/customers")
    assert every is not None and every.status == 403
    shown = page.goto(f"{console_server.url}/ui/tenants/{own}")
    assert shown is not None and shown.status == 200
    _expect_factors_of(page, _health(console_server, own))
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link")).to_have_text([f"Tenant {own}"])


def test_the_keyboard_alone_opens_the_first_tenant_at_risk(page_as: Any, console_server: ConsoleServer) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/customers")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#live")).to_be_focused()
    target = page.locator("table.at-risk tbody a").first
    href = target.get_attribute("href")
    for _ in range(20):  # from the top of the content: the status cards, the filter, then the list
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == href:
            break
    expect(target).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console_server.url}{href}")
    expect(page.get_by_test_id("factor-usage")).to_be_visible()


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str], str]]:
    """A server of this module's own (its new events would change the shared one's numbers): admin and
    viewer tokens, and the tenant whose page the test watches."""
    db = tmp_path_factory.mktemp("tenant-live") / "store.duckdb"
    end = datetime.now(UTC).replace(microsecond=0).isoformat()
    result = run_cli("simulate", "--tenants", "8", "--days", "2", "--end", end, "--db", str(db), "-q")
    assert result.returncode == 0, result.stderr
    admin, viewer = make_tokens(db, (Role.admin, None), (Role.viewer, None))
    tokens = {"admin": admin, "viewer": viewer}
    server = Server(db, "--evaluate-every", "1s").start()
    try:  # stopped even when what follows fails: a server must never outlive its test run
        health = httpx.get(f"{server.url}/v1/customers/health", headers=bearer(tokens["viewer"]), timeout=60).json()
        yield server, tokens, health["tenants"][0]["tenant_id"]
    finally:
        server.stop()


def test_new_events_of_the_tenant_show_on_its_page_without_a_reload(
    browser: Browser, own_server: tuple[Server, dict[str, str], str]
) -> None:
    server, tokens, tenant = own_server
    context = new_context(browser)
    context.add_cookies([{"name": TOKEN_COOKIE, "value": tokens["viewer"], "url": server.url}])
    page = context.new_page()
    page.goto(f"{server.url}/ui/tenants/{tenant}")
    before = page.get_by_test_id("requests").inner_text()
    page.evaluate("window.notReloaded = true")
    now = datetime.now(UTC).isoformat()
    events = [{**request_event(n, tenant), "event_id": f"tenant-live-{n}", "ts": now} for n in range(250)]
    answer = httpx.post(
        f"{server.url}/v1/events", content=jsonl(events), headers={**NDJSON, **bearer(tokens["admin"])}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    expected = f"{int(before.replace(',', '')) + 250:,}"
    expect(page.get_by_test_id("requests")).to_have_text(expected)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#updated")).to_have_text(re.compile(r"updated \d+ s ago"))
    context.close()

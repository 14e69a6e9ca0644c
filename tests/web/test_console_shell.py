"""The console's frame in Chromium: level 0, signing in, personas, live updates, the banners, the keyboard."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import run_cli
from tests.test_serve_server import NDJSON, Server, bearer, jsonl, request_event
from tests.web.conftest import ConsoleServer, axe_check, new_context, screenshot


def test_level_0_shows_the_score_and_light_of_the_report_it_was_made_from(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/")
    # Read in one step: the page swaps in each new evaluation (every 2 s here) while a test looks.
    shown = page.evaluate(
        """() => ({
            at: document.querySelector('.live-meta').dataset.at,
            score: document.querySelector('[data-testid=score]').textContent,
            light: document.querySelector('[data-testid=light]').textContent,
            areas: Object.fromEntries([...document.querySelectorAll('main .cards a[href^="/ui/areas/"]')]
                .map(a => [a.getAttribute('href').split('/').pop(), a.querySelector('.card-score').textContent])),
        })"""
    )
    report = httpx.get(
        f"{console_server.url}/v1/health",
        params={"at": shown["at"]},
        headers=bearer(console_server.tokens["viewer"]),
        timeout=60,
    ).json()
    assert shown["score"] == f"{report['score']:.1f}"
    assert report["status"] in shown["light"]
    assert shown["areas"] == {area: f"{body['score']:.1f}" for area, body in report["areas"].items()}
    expect(page.locator("#score-history canvas").first).to_be_visible()  # the chart is drawn...
    expect(page.locator("#score-history details table")).to_have_count(1)  # ...and its table is there
    axe_check(page)
    screenshot(page, "overview")
    assert page.context.outside_requests == []  # type: ignore[attr-defined]


def test_the_link_serve_demo_prints_signs_the_browser_in(browser: Browser, console_server: ConsoleServer) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{console_server.url}/ui/login#token={console_server.tokens['viewer']}")
    page.wait_for_url(f"{console_server.url}/ui/")
    expect(page.get_by_test_id("score")).to_be_visible()
    assert "token" not in page.url
    [cookie] = context.cookies(console_server.url)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    context.close()


def test_a_wrong_token_on_the_sign_in_form_says_so(browser: Browser, console_server: ConsoleServer) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{console_server.url}/ui/")
    page.wait_for_url(re.compile(r"/ui/login\?next="))
    page.get_by_label("API token").fill("hd_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")
    axe_check(page)
    screenshot(page, "login")
    context.close()


def test_the_persona_switch_changes_range_and_refresh_and_is_remembered(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/?range=30d")
    assert page.locator("body").get_attribute("data-refresh") == "30"
    page.get_by_role("button", name="DevOps").click()
    page.wait_for_url(f"{console_server.url}/ui/")
    ranges = page.get_by_role("navigation", name="Time range")
    expect(ranges.get_by_role("link")).to_have_text(["1h", "6h"])
    expect(ranges.get_by_role("link", name="1h")).to_have_attribute("aria-current", "true")
    assert page.locator("body").get_attribute("data-refresh") == "10"
    expect(page.get_by_role("img", name=re.compile(r"^Uptime: "))).to_be_visible()  # DevOps reads gauges
    morning = httpx.get(f"{console_server.url}/health", timeout=60).json()  # and the morning check, as GET /health says
    expect(page.get_by_test_id("morning-score")).to_have_text(f"{morning['score']:.1f}/100")
    expect(page.get_by_test_id("morning-light")).to_contain_text(morning["status"])
    page.goto(f"{console_server.url}/ui/")  # a new visit: the persona was kept
    expect(page.get_by_role("button", name="DevOps")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Manager").click()
    expect(page.get_by_role("navigation", name="Time range").get_by_role("link")).to_have_text(["7d", "30d"])


def test_the_dark_theme_is_chosen_and_passes_axe(page_as: Callable[[str], Page], console_server: ConsoleServer) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/")
    page.get_by_role("button", name="Dark").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator("body")).to_have_css("background-color", "rgb(18, 20, 23)")  # the dark --bg
    axe_check(page)
    screenshot(page, "overview-dark")


def test_the_console_works_from_the_keyboard_alone(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#live")).to_be_focused()
    href = page.locator("ol.pulled a").first.get_attribute("href")
    target = page.locator(f'ol.pulled a[href="{href}"]')  # that KPI's line, wherever a live update ranks it
    for _ in range(40):  # from the top of the content, Tab reaches the worst KPI's line
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == href:
            break
    expect(target).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console_server.url}{href}")


SHARED_ADDRESS = """() => Array.from(document.querySelectorAll("ol.pulled a"), (a) => a.getAttribute("href"))
  .find((href) => !document.querySelector(`main a[href="${href}"]`).closest("ol.pulled"))"""


def test_a_live_update_keeps_the_focus_on_the_link_that_had_it(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/")
    # A KPI's line that shares its address with an earlier link (its headline card or morning panel):
    # the case where the focus used to jump to the first link of that address on each live update.
    href = page.evaluate(SHARED_ADDRESS)
    assert href, "no line of 'What pulled the score down' shares its address with an earlier link"
    line = page.locator(f'ol.pulled a[href="{href}"]')
    line.focus()
    page.evaluate("() => new Promise((done) => document.addEventListener('healthdeck:swapped', done, {once: true}))")
    expect(line).to_be_focused()


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of this module's own (its events would change the shared one's numbers), evaluating every second."""
    db = tmp_path_factory.mktemp("live") / "store.duckdb"
    end = datetime.now(UTC).replace(microsecond=0).isoformat()
    result = run_cli("simulate", "--tenants", "12", "--days", "2", "--end", end, "--db", str(db), "-q")
    assert result.returncode == 0, result.stderr
    server = Server(db, "--no-auth", "--evaluate-every", "1s").start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


def _error_rate(page: Page) -> str:
    return page.locator('.headline a[href="/ui/kpis/error_rate_5xx"] .value').inner_text()


def test_an_event_ingested_through_the_api_shows_without_a_reload(browser: Browser, own_server: Server) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{own_server.url}/ui/")
    before = _error_rate(page)
    page.evaluate("window.notReloaded = true")
    now = datetime.now(UTC).isoformat()
    query = {"query": "SELECT min(tenant_id) AS t FROM tenants"}
    tenant = httpx.post(f"{own_server.url}/v1/sql", json=query, timeout=60).json()["rows"][0]["t"]
    failures = [{**request_event(n, tenant), "event_id": f"live-{n}", "ts": now, "status": 503} for n in range(400)]
    answer = httpx.post(f"{own_server.url}/v1/events", content=jsonl(failures), headers=NDJSON, timeout=60)
    assert answer.status_code == 200, answer.text
    expect(page.locator('.headline a[href="/ui/kpis/error_rate_5xx"] .value')).not_to_have_text(before)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#updated")).to_have_text(re.compile(r"updated \d+ s ago"))
    context.close()


def test_a_lost_connection_shows_a_banner(browser: Browser, own_server: Server) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{own_server.url}/ui/")
    banner = page.locator("#connection")
    expect(banner).to_be_hidden()
    own_server.stop()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Connection to the server lost")
    context.close()


def test_stale_data_is_a_banner_on_the_page(browser: Browser, tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    end = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0).isoformat()
    assert run_cli("simulate", "--tenants", "6", "--days", "2", "--end", end, "--db", str(db), "-q").returncode == 0
    server = Server(db, "--no-auth").start()
    try:
        context = new_context(browser)
        page = context.new_page()
        page.goto(f"{server.url}/ui/")
        expect(page.get_by_role("status").filter(has_text="Stale data:")).to_be_visible()
        context.close()
    finally:
        server.stop()

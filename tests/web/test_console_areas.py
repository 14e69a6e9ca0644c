"""The area and KPI pages in Chromium: reached from level 0 by click and by keyboard; numbers, axe, screenshots."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from healthdeck.engine.explain import format_value
from tests.conftest import run_cli
from tests.test_serve_server import Server
from tests.web.conftest import NARROW, ConsoleServer, axe_check, new_context, screenshot

# Read in one go: the page swaps its live part in on every evaluation, and its numbers go with its data-at.
SHOWN = """() => [document.querySelector('.live-meta').dataset.at,
                 document.querySelector('[data-testid=kpi-value]').innerText]"""


@pytest.fixture(scope="module")
def kept_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose store has two days of kept evaluations (hourly), so every chart and sparkline has points."""
    db = tmp_path_factory.mktemp("kept") / "store.duckdb"
    end = datetime.now(UTC).replace(microsecond=0).isoformat()
    assert run_cli("simulate", "--tenants", "12", "--days", "3", "--end", end, "--db", str(db), "-q").returncode == 0
    assert run_cli("history", "backfill", "--since", "2d", "--step", "1h", "--db", str(db)).returncode == 0
    server = Server(db, "--no-auth").start()
    yield server
    server.stop()


@pytest.fixture
def kept_page(browser: Browser) -> Iterator[Page]:
    context = new_context(browser)
    yield context.new_page()
    context.close()


def test_the_worst_kpi_of_level_0_opens_its_page_with_the_same_value(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/")
    worst = page.locator("ol.pulled a").first
    expect(worst).to_have_attribute("href", re.compile(r"^/ui/kpis/[^/]+$"))
    worst.click()
    # The server evaluates every 2 s and the page follows: the KPIs may be ranked again between
    # reading the first link and clicking it, so the page checked is the one the click opened.
    page.wait_for_url(re.compile(rf"^{re.escape(console_server.url)}/ui/kpis/[^/]+$"))
    at, shown = page.evaluate(SHOWN)
    kpi_id = page.url.rsplit("/", 1)[1]
    kpi = httpx.get(
        f"{console_server.url}/v1/kpis/{kpi_id}",
        params={"at": at},
        headers={"Authorization": f"Bearer {console_server.tokens['viewer']}"},
        timeout=60,
    ).json()
    assert kpi["value"] is not None and shown == format_value(kpi["value"], kpi["unit"])
    expect(page.get_by_role("heading", level=1)).to_have_text(kpi["title"])
    assert page.context.outside_requests == []  # type: ignore[attr-defined]


def test_an_area_page_is_reached_and_left_with_the_keyboard_alone(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/")
    _tab_to(page, 'main a[href="/ui/areas/service"]')
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console_server.url}/ui/areas/service")
    expect(page.get_by_role("heading", level=1)).to_have_text("Service health")
    first = page.locator("table.kpis tbody th a").first
    href = first.get_attribute("href")
    _tab_to(page, f'table.kpis a[href="{href}"]')
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console_server.url}{href}")


def _tab_to(page: Page, selector: str, *, presses: int = 80) -> None:
    """Press Tab until the element `selector` has the focus."""
    target = page.locator(selector).first
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    pytest.fail(f"{presses} presses of Tab never reached {selector}")


def test_the_area_page_draws_its_trends_and_passes_axe(kept_server: Server, kept_page: Page) -> None:
    kept_page.goto(f"{kept_server.url}/ui/areas/service?range=7d")
    area = httpx.get(f"{kept_server.url}/v1/areas/service", params={"since": "7d"}, timeout=60).json()
    expect(kept_page.get_by_test_id("area-score")).to_have_text(f"{area['score']:.1f}")
    judged = [k for k in area["kpis"] if k["status"] != "NO_DATA"]
    rows = kept_page.locator("table.kpis tbody tr")
    expect(rows).to_have_count(len(judged))
    label = re.compile(rf"^{re.escape(judged[0]['title'])}, last 7d: from ")
    expect(rows.first.get_by_role("img")).to_have_attribute("aria-label", label)
    expect(kept_page.locator("#area-history canvas").first).to_be_visible()
    axe_check(kept_page)
    _fits(kept_page)
    screenshot(kept_page, "area-service")


def test_the_kpi_page_draws_its_history_with_the_thresholds_and_passes_axe(
    kept_server: Server, kept_page: Page
) -> None:
    kept_page.goto(f"{kept_server.url}/ui/kpis/uptime?range=7d")
    expect(kept_page.locator("#kpi-history canvas").first).to_be_visible()
    kept_page.locator("#kpi-history summary").click()
    expect(kept_page.locator("#kpi-history table tbody tr").first).to_be_visible()
    expect(kept_page.get_by_test_id("promql")).to_contain_text("avg_over_time(up")
    kept_page.get_by_test_id("area-link").click()
    kept_page.wait_for_url(f"{kept_server.url}/ui/areas/service")
    kept_page.goto(f"{kept_server.url}/ui/kpis/uptime?range=7d")
    axe_check(kept_page)
    _fits(kept_page)
    screenshot(kept_page, "kpi-uptime")


def test_a_kpi_outside_the_score_the_devops_range_and_the_dark_theme(kept_server: Server, kept_page: Page) -> None:
    kept_page.goto(f"{kept_server.url}/ui/kpis/api_error_rate")
    expect(kept_page.get_by_test_id("evaluated")).to_contain_text("Evaluated on request")
    axe_check(kept_page)
    kept_page.get_by_role("button", name="DevOps").click()
    kept_page.goto(f"{kept_server.url}/ui/areas/capacity")
    ranges = kept_page.get_by_role("navigation", name="Time range")
    expect(ranges.get_by_role("link", name="1h")).to_have_attribute("aria-current", "true")
    expect(kept_page.locator("table.kpis th").filter(has_text="Trend, last 1h")).to_have_count(1)
    axe_check(kept_page)
    screenshot(kept_page, "area-capacity-devops")
    kept_page.get_by_role("button", name="Dark").click()
    expect(kept_page.locator("html")).to_have_attribute("data-theme", "dark")
    axe_check(kept_page)
    kept_page.goto(f"{kept_server.url}/ui/kpis/uptime")
    axe_check(kept_page)
    screenshot(kept_page, "kpi-uptime-dark")


def _fits(page: Page) -> None:
    """At 375 px the page scrolls down only: wide tables scroll inside their own region."""
    page.set_viewport_size(NARROW)  # type: ignore[arg-type]
    # Charts follow the new width once their ResizeObserver fires.
    page.wait_for_function(f"document.documentElement.scrollWidth <= {NARROW['width']}")


def test_the_business_page_draws_mrr_movements_and_cohorts_and_passes_axe(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/areas/business?range=7d")
    weeks = httpx.get(
        f"{console_server.url}/v1/business/mrr",
        params={"by": "week", "periods": 8},
        headers={"Authorization": f"Bearer {console_server.tokens['viewer']}"},
        timeout=60,
    ).json()["periods"]
    assert len(weeks) >= 2  # ten days of data: two weeks or more, so a chart
    expect(page.locator("#mrr-movements canvas").first).to_be_visible()
    expect(page.locator("table.movements tbody tr")).to_have_count(len(weeks))
    expect(page.get_by_role("heading", name="Retention by signup week")).to_be_visible()
    axe_check(page)
    screenshot(page, "area-business")

"""Seed 004's three views in Chromium: filters chosen in the form make a link that is the view, the
panels show the numbers of `GET /v1/views/{view}` for those filters, the keyboard alone applies a
filter, axe passes, and the pages fit a 375 px screen."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import NARROW, WIDE, ConsoleServer, axe_check, screenshot

# The page's time and every panel's cells, read in one go: a live update swaps the whole content.
SHOWN = """() => {
  const cells = (row) => Array.from(row.querySelectorAll("th, td"), (cell) => cell.textContent.trim());
  const panels = {};
  for (const article of document.querySelectorAll("article.panel")) {
    const stat = article.querySelectorAll("dl.stat dd");
    panels[article.id.slice("panel-".length)] = stat.length
      ? [Array.from(stat, (value) => value.textContent.trim())]
      : Array.from(article.querySelectorAll(".table-scroll tbody tr"), cells);
  }
  return {at: document.querySelector("main .live-meta").dataset.at, panels: panels};
}"""


def _json(server: ConsoleServer, view: str, **params: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{server.url}/v1/views/{view}",
        params=params,
        headers={"Authorization": f"Bearer {server.tokens['viewer']}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _cell(value: Any) -> str:
    return "–" if value is None else str(value)


def _expected(panel: dict[str, Any]) -> list[list[str]]:
    """The cells the page shows for a panel: a chart's data table (time, then each series), else its rows."""
    if panel["kind"] == "timeseries":
        columns = [[_cell(v) for _, v in s["points"]] for s in panel["series"]]
        return [[_moment(at), *values] for (at, _), *values in zip(panel["series"][0]["points"], *columns, strict=True)]
    return [[_cell(v) for v in row] for row in panel["rows"]]


def _moment(iso: str) -> str:
    return f"{iso[:10]} {iso[11:16]} UTC"


def _shows_the_json(page: Page, server: ConsoleServer, view: str, **filters: str) -> dict[str, Any]:
    """The panels on the page are the JSON's for its filters at the page's time; returns that JSON."""
    shown = page.evaluate(SHOWN)
    since = dict(parse_qsl(urlsplit(page.url).query)).get("range", "7d")
    answer = _json(server, view, since=since, at=shown["at"], **filters)
    with_data = [p for p in answer["panels"] if _has_data(p)]
    assert len(with_data) >= 5 and list(shown["panels"]) == [p["id"] for p in with_data]  # in order, no other
    for panel in with_data:
        assert _alike(shown["panels"][panel["id"]]) == _alike(_expected(panel), close=True), panel["id"]
    return answer


def _alike(rows: list[list[str]], *, close: bool = False) -> list[list[Any]]:
    """Cells as numbers where they are numbers, to the 6 significant digits the API keeps (`close`: the
    expected side, one unit of the sixth digit): DuckDB sums a mean's floats in parallel, so two reads of
    the same rows may differ in the last digit."""
    return [[_number(cell, close=close) for cell in row] for row in rows]


def _number(cell: str, *, close: bool) -> Any:
    try:
        value = float(cell.replace(",", ""))
    except ValueError:
        return cell
    return pytest.approx(value, rel=1e-5) if close else value


def _has_data(panel: dict[str, Any]) -> bool:
    """What the page shows: a chart of two points or more, a table's rows, a stat not all null or zero."""
    if panel["kind"] == "timeseries":
        return bool(panel["series"]) and len(panel["series"][0]["points"]) >= 2
    if panel["kind"] == "stat":
        return any(value not in (None, 0) for value in panel["rows"][0])
    return bool(panel["rows"])


def _query(page: Page) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(page.url).query))


def test_choosing_a_tier_and_an_endpoint_gives_a_link_to_that_view(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/views/api")
    endpoint = _json(console_server, "api", since="7d")["filters"]["endpoint"]["options"][0]
    page.get_by_label("Tier", exact=True).select_option("ENTERPRISE")
    page.get_by_label("Endpoint", exact=True).select_option(endpoint)
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"tier=ENTERPRISE&endpoint="))
    assert _query(page) == {"range": "7d", "tier": "ENTERPRISE", "endpoint": endpoint}
    answer = _shows_the_json(page, console_server, "api", tier="ENTERPRISE", endpoint=endpoint)
    assert answer["filters"]["tier"]["value"] == "ENTERPRISE"
    expect(page.get_by_test_id("share")).to_have_text(page.url)

    shared = page_as("viewer")  # someone else opens the link
    shared.goto(page.url)
    expect(shared.get_by_label("Tier", exact=True)).to_have_value("ENTERPRISE")
    expect(shared.get_by_label("Endpoint", exact=True)).to_have_value(endpoint)
    _shows_the_json(shared, console_server, "api", tier="ENTERPRISE", endpoint=endpoint)
    assert page.context.outside_requests == []  # type: ignore[attr-defined]


def test_the_pipeline_view_filtered_by_queue(page_as: Callable[[str], Page], console_server: ConsoleServer) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/views/pipeline?range=30d")
    queue = _json(console_server, "pipeline", since="30d")["filters"]["queue"]["options"][0]
    page.get_by_label("Queue", exact=True).select_option(queue)
    page.get_by_role("button", name="Apply").click()
    # The filtered view as rendered: the whole document parsed, its form showing the queue applied
    # (not the page's `load`, which waits for every script and chart besides).
    page.wait_for_url(re.compile(r"queue="), wait_until="domcontentloaded")
    expect(page.get_by_label("Queue", exact=True)).to_have_value(queue)
    assert _query(page) == {"range": "30d", "queue": queue}  # the ETL job left at All is not in the link
    _shows_the_json(page, console_server, "pipeline", queue=queue)
    expect(page.get_by_label("ETL job", exact=True)).to_have_value("")


def test_the_tenants_view_links_each_tenant_to_its_page(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/views/tenants?range=30d")
    answer = _shows_the_json(page, console_server, "tenants")
    health = next(p for p in answer["panels"] if p["id"] == "health_scores")
    tenant, name = health["rows"][0][:2]
    link = page.locator("#panel-health_scores tbody").get_by_role("link", name=name, exact=True)
    expect(link).to_have_attribute("href", f"/ui/tenants/{tenant}")
    link.click()
    page.wait_for_url(f"{console_server.url}/ui/tenants/{tenant}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(tenant)


def test_a_tenant_token_sees_its_own_tenant_view_and_no_other(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    own, other = console_server.tenants
    page = page_as("viewer_a")
    page.goto(f"{console_server.url}/ui/views/tenants?tenant={own}&range=30d")
    expect(page.get_by_label("Tenant", exact=True)).to_have_value(own)
    expect(page.get_by_label("Tenant", exact=True).locator("option")).to_have_text(["All", own])
    assert page.locator("main#live").get_attribute("data-stream") == f"/api/projects/{own}/metrics/stream"
    response = page.goto(f"{console_server.url}/ui/views/tenants?tenant={other}")
    assert response is not None and response.status == 404
    response = page.goto(f"{console_server.url}/ui/views/api")
    assert response is not None and response.status == 403
    expect(page.get_by_test_id("error")).to_contain_text(f"/ui/views/tenants?tenant={own}")


def test_a_filter_is_applied_from_the_keyboard_alone(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/views/api?range=30d")
    tier = page.get_by_label("Tier", exact=True)
    for _ in range(40):  # from the top of the page, Tab reaches the tier select
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "filter-tier":
            break
    expect(tier).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    chosen = tier.input_value()
    assert chosen == tier.locator("option").nth(2).get_attribute("value")  # the second tier after All
    page.keyboard.press("Tab")  # the endpoint select
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Apply")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"tier={chosen}"))
    assert _query(page) == {"range": "30d", "tier": chosen}
    expect(page.get_by_label("Tier", exact=True)).to_have_value(chosen)


@pytest.mark.parametrize(
    ("view", "name"), [("api", "view-api"), ("pipeline", "view-pipeline"), ("tenants", "view-tenants")]
)
def test_each_view_passes_axe_and_fits_a_narrow_screen(
    page_as: Callable[[str], Page], console_server: ConsoleServer, view: str, name: str
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/views/{view}?range=30d")
    expect(page.locator("figure.chart canvas").first).to_be_visible()  # a chart is drawn
    axe_check(page)
    screenshot(page, name)
    page.set_viewport_size(NARROW)  # type: ignore[arg-type]
    page.wait_for_function("() => document.documentElement.scrollWidth <= 375")  # the charts redraw narrower
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    rights = page.evaluate(
        "Array.from(document.querySelectorAll('figure.chart'), f => f.getBoundingClientRect().right)"
    )
    assert rights and max(rights) <= NARROW["width"]
    axe_check(page)
    page.set_viewport_size(WIDE)  # type: ignore[arg-type]


def test_a_live_update_keeps_a_filter_chosen_but_not_yet_applied(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer")
    page.goto(f"{console_server.url}/ui/views/pipeline")
    queue = page.get_by_label("Queue", exact=True)
    chosen = queue.locator("option").nth(1).get_attribute("value")
    assert chosen
    queue.select_option(chosen)
    # The server evaluates every 2 s: each evaluation makes the page fetch and swap in its content.
    # (The view's answer is kept 15 s, so the swapped-in content may be the same: the swap is what matters.)
    page.evaluate("() => new Promise((done) => document.addEventListener('healthdeck:swapped', done, {once: true}))")
    expect(queue).to_have_value(chosen)
    expect(page.get_by_label("ETL job", exact=True)).to_have_value("")

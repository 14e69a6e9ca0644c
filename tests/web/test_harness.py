"""The harness the console's browser tests stand on: axe-core's verdict, screenshots, the token cookie, no CDN."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.test_serve_server import bearer
from tests.web.conftest import TOKEN_COOKIE, ConsoleServer, axe_check, new_context, screenshot


@pytest.fixture
def blank(browser: Browser) -> Iterator[Page]:
    context = new_context(browser)
    yield context.new_page()
    context.close()


def test_axe_check_names_a_serious_violation_and_passes_a_clean_page(blank: Page) -> None:
    blank.set_content('<html lang="en"><title>Clean</title><main><h1>Health</h1><p>92</p></main></html>')
    axe_check(blank)
    blank.set_content(
        '<html lang="en"><title>Bad</title><main><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main>'
    )
    with pytest.raises(AssertionError, match=r"image-alt \(critical\).*\['img'\]"):
        axe_check(blank)


def _png_width(path: Path) -> int:
    # A PNG's IHDR chunk holds the width at bytes 16-20.
    return int(struct.unpack(">I", path.read_bytes()[16:20])[0])


def test_screenshots_are_taken_at_both_widths_into_the_chosen_folder(
    blank: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTHDECK_SCREENSHOTS", str(tmp_path / "shots"))
    blank.set_content('<html lang="en"><title>Tall</title><main style="height:3000px">tall</main></html>')
    wide, narrow = screenshot(blank, "tall")
    assert (wide, narrow) == (tmp_path / "shots" / "tall-1440.png", tmp_path / "shots" / "tall-375.png")
    assert (_png_width(wide), _png_width(narrow)) == (1440, 375)
    assert blank.viewport_size == {"width": 1280, "height": 720}  # put back as it was


def test_a_roles_page_carries_its_token_cookie_and_never_leaves_the_server(
    page_as: Callable[[str], Page], console_server: ConsoleServer
) -> None:
    page = page_as("viewer_a")
    [cookie] = page.context.cookies(console_server.url)
    assert (cookie["name"], cookie["value"]) == (TOKEN_COOKIE, console_server.tokens["viewer_a"])
    # FastAPI's own /docs loads Swagger UI from a CDN: the harness refuses and lists those requests.
    response = page.goto(f"{console_server.url}/docs")
    assert response is not None and response.ok
    assert page.title() == "healthdeck - Swagger UI"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads the token
    outside = page.context.outside_requests  # type: ignore[attr-defined]
    assert outside and all(not url.startswith(console_server.url) for url in outside)


def test_the_simulated_store_gives_each_tenant_token_its_own_tenant(console_server: ConsoleServer) -> None:
    a, b = console_server.tenants
    own = httpx.get(
        f"{console_server.url}/v1/projects/{a}", headers=bearer(console_server.tokens["viewer_a"]), timeout=60
    )
    other = httpx.get(
        f"{console_server.url}/v1/projects/{b}", headers=bearer(console_server.tokens["viewer_a"]), timeout=60
    )
    assert (own.status_code, other.status_code) == (200, 404)

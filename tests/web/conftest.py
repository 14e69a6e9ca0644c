"""The browser harness: a real `healthdeck serve` on a small simulated store, Debian's Chromium driven
by Playwright, axe-core's accessibility check and screenshots at two widths.

Chromium is launched by its executable path (the browser download site is not reachable); a machine
without it fails the web tests, it never skips them.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from healthdeck.store.connection import open_store
from tests.conftest import run_cli
from tests.test_serve_server import Server

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDE, NARROW = {"width": 1440, "height": 900}, {"width": 375, "height": 812}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TOKEN_COOKIE = "healthdeck_token"
# How long a page, an action or an expectation may take: the server computes a page on its request, one
# evaluation at a time (its scheduled one, the past days it fills in at start, the page's own), so on a
# loaded 2-core machine a page took 21 s to be answered, and over Playwright's default 30 s in a full run.
# Every wait is on a state (a URL, an element): this is only how long before a state that never comes fails.
LOADED_MACHINE_MS = 90_000
expect.set_options(timeout=LOADED_MACHINE_MS)


def chromium_path() -> Path:
    """Debian's Chromium ($HEALTHDECK_CHROMIUM, else /usr/bin/chromium); its absence fails the test."""
    path = Path(os.environ.get("HEALTHDECK_CHROMIUM", "/usr/bin/chromium"))
    if not path.is_file():
        pytest.fail(
            f"no Chromium at {path}: install Debian's chromium (.ci/run does) or point HEALTHDECK_CHROMIUM at one"
        )
    return path


@dataclass
class ConsoleServer:
    url: str
    tokens: dict[str, str]  # admin, viewer, and viewer_a / viewer_b limited to tenants[0] / tenants[1]
    db: Path
    tenants: tuple[str, str]


def _simulated_store(folder: Path) -> Path:
    db = folder / "store.duckdb"
    end = datetime.now(UTC).replace(microsecond=0).isoformat()
    result = run_cli("simulate", "--tenants", "40", "--days", "10", "--end", end, "--db", str(db), "-q")
    assert result.returncode == 0, result.stderr
    return db


def _two_tenants(db: Path) -> tuple[str, str]:
    with open_store(db, read_only=True) as store:
        rows = store.con.execute("SELECT tenant_id FROM tenants ORDER BY tenant_id LIMIT 2").fetchall()
    return rows[0][0], rows[1][0]


def _token(db: Path, role: str, project: str | None = None) -> str:
    scope = ["--project", project] if project else []
    result = run_cli("tokens", "create", "--role", role, *scope, "--output", "json", "--db", str(db))
    assert result.returncode == 0, result.stderr
    return str(orjson.loads(result.stdout)["token"])


def _stop(server: Server) -> None:
    """Stop as Ctrl-C does; kill a server that has not stopped in 30 s."""
    process = server.process
    assert process is not None
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """`healthdeck serve` on 40 simulated tenants over 10 days up to now, evaluating every 2 s."""
    db = _simulated_store(tmp_path_factory.mktemp("console"))
    tenants = _two_tenants(db)
    tokens = {
        "admin": _token(db, "admin"),
        "viewer": _token(db, "viewer"),
        "viewer_a": _token(db, "viewer", tenants[0]),
        "viewer_b": _token(db, "viewer", tenants[1]),
    }
    server = Server(db, "--evaluate-every", "2s").start()
    try:
        yield ConsoleServer(url=server.url, tokens=tokens, db=db, tenants=tenants)
    finally:
        _stop(server)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    launched = playwright_driver.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def page_as(browser: Browser, console_server: ConsoleServer) -> Iterator[Callable[[str], Page]]:
    """`page_as("viewer")`: a page in a fresh 1440×900 context holding that role's token cookie.

    The context answers any request beyond the server with an error and lists it in
    `page.context.outside_requests` (the console ships every asset: no CDN).
    """
    contexts: list[BrowserContext] = []

    def open_page(role: str) -> Page:
        context = new_context(browser, viewport=WIDE)
        context.add_cookies([_token_cookie(console_server.url, console_server.tokens[role])])
        _keep_to(context, console_server.url)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    """A browser context whose pages wait as long as a loaded machine needs (`LOADED_MACHINE_MS`)."""
    context = browser.new_context(**options)
    context.set_default_timeout(LOADED_MACHINE_MS)
    return context


def _token_cookie(url: str, token: str) -> Any:
    # As the login page sets it: HttpOnly, SameSite=Strict, for the server's host.
    return {"name": TOKEN_COOKIE, "value": token, "url": url, "httpOnly": True, "sameSite": "Strict"}


def _keep_to(context: BrowserContext, origin: str) -> None:
    outside: list[str] = []
    context.outside_requests = outside  # type: ignore[attr-defined]

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith((origin, "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", route)


def axe_check(page: Page) -> None:
    """Fail on any serious or critical WCAG 2.1 A/AA violation axe-core finds on the page as shown."""
    # Evaluated through the DevTools protocol: the console's CSP forbids inline scripts, and so a script tag.
    page.evaluate(AXE.read_text())
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", AXE_TAGS
    )
    grave = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert not grave, f"axe-core on {page.url}:\n" + "\n".join(_violation(v) for v in grave)


def _violation(found: dict[str, Any]) -> str:
    targets = [" ".join(map(str, node["target"])) for node in found["nodes"][:3]]
    return f"- {found['id']} ({found['impact']}): {found['help']}; at {targets}"


def screenshot(page: Page, name: str) -> list[Path]:
    """Full-page PNGs of the page at 1440 px and 375 px wide, in $HEALTHDECK_SCREENSHOTS (build/screenshots/)."""
    folder = Path(os.environ.get("HEALTHDECK_SCREENSHOTS", ROOT / "build" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size or WIDE
    paths = []
    for size in (WIDE, NARROW):
        page.set_viewport_size(size)  # type: ignore[arg-type]
        # Charts redraw to the new width on their ResizeObserver: wait until the page fits it.
        page.wait_for_function("w => document.documentElement.scrollWidth <= w", arg=size["width"])
        path = folder / f"{name}-{size['width']}.png"
        page.screenshot(path=path, full_page=True)
        paths.append(path)
    page.set_viewport_size(before)  # type: ignore[arg-type]
    return paths

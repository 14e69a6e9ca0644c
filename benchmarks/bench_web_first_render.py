"""Benchmark: time to first render of the console's level 0 in Chromium, against the API doing the same work.

On a simulated store (`healthdeck simulate --tenants 200 --days 30` unless --db is given), a real
`healthdeck serve`, and Debian's Chromium ($HEALTHDECK_CHROMIUM, else /usr/bin/chromium) driven by
Playwright: the median over cold page loads, each in a fresh browser context (no cache, no cookies
but the token), of navigation start -> first contentful paint and -> the `load` event, read from the
page's Performance API. Baseline in the same run: `GET /v1/health` over HTTP with the same token.

    .venv/bin/python benchmarks/bench_web_first_render.py [--db STORE] [--page /ui/] [--loads 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, sync_playwright

from serving import HOST, bench_store, free_port, start_server

PAGE = "/ui/"  # the console's level 0 is /ui/; until it is served, a page the server has
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
CHROMIUM_ARGS += ["--disable-sync", "--no-first-run", "--disable-quic"]
TIMINGS = """() => {
  const navigation = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  return {fcp: paint ? paint.startTime : null, load: navigation.loadEventEnd};
}"""


def _chromium() -> str:
    path = os.environ.get("HEALTHDECK_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).is_file():
        raise SystemExit(f"no Chromium at {path}: install Debian's chromium or set HEALTHDECK_CHROMIUM")
    return path


def _cold_load(browser: Browser, url: str, token: str) -> dict[str, float | None]:
    """One load of `url` in a fresh context; milliseconds from navigation start to FCP and to `load`."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_cookies([{"name": "healthdeck_token", "value": token, "url": url}])
    # Only the server answers: a page that reaches for a CDN is measured without it, as offline users get it.
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url) else route.abort())
    page = context.new_page()
    response = page.goto(url, wait_until="load")
    if response is None or not response.ok:
        raise SystemExit(f"{url} answered {response.status if response else 'nothing'}")
    page.wait_for_function("performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
    timings: dict[str, float | None] = page.evaluate(TIMINGS)
    context.close()
    return timings


def _api_ms(url: str, token: str, repeat: int) -> list[float]:
    times = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        for _ in range(repeat + 1):  # the first one warms the server's caches, as the page's warm-up does
            started = time.perf_counter()
            http.get(f"{url}/v1/health").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times[1:]


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ms(value: float | None) -> str:
    return "none (nothing contentful was painted)" if value is None else f"{value:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", type=Path, help="a store to use (a copy is not made: the server writes its history)")
    parser.add_argument("--page", default=PAGE, help=f"the page to load (default {PAGE})")
    parser.add_argument("--loads", type=int, default=10, help="cold page loads (and API calls) to take the median of")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, token = bench_store(args.db, Path(tmp))
        port = free_port()
        server = start_server(db, port, "--evaluate-every", "1m")
        base = f"http://{HOST}:{port}"
        try:
            api = _api_ms(base, token, args.loads)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
                _cold_load(browser, base + args.page, token)  # warm-up: the server's first evaluation
                loads = [_cold_load(browser, base + args.page, token) for _ in range(args.loads)]
                browser.close()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
    api_ms = statistics.median(api)
    fcp, load = _median([t["fcp"] for t in loads]), _median([t["load"] for t in loads])
    print(f"baseline, GET /v1/health over HTTP: {api_ms:.0f} ms (median of {args.loads}, after one warm-up)")
    print(f"{args.page} in Chromium, first contentful paint: {_ms(fcp)} (median of {args.loads} cold loads)")
    print(f"{args.page} in Chromium, load event: {_ms(load)}; ratio load / API: {(load or 0) / api_ms:.1f}")


if __name__ == "__main__":
    main()

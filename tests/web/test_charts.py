"""charts.js draws each figure's data island with uPlot, in the page's colours, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, Page

from tests.web.conftest import NARROW, WIDE, new_context

STATIC = Path(__file__).resolve().parents[2] / "src" / "healthdeck" / "web" / "static"
COLOURS = ":root { --chart-1: rgb(1, 2, 3); --good: rgb(0, 0, 250); --critical: rgb(250, 0, 0) }"
DARK = "html.dark { --chart-1: rgb(4, 5, 6) }"
START = 1_764_000_000


def figure(data: dict[str, Any]) -> str:
    island = orjson.dumps(data).decode().replace("</", "<\\/")
    return (
        f'<figure class="chart"><div class="chart-canvas" aria-hidden="true"></div>'
        f'<script type="application/json" class="chart-data">{island}</script><figcaption>c</figcaption></figure>'
    )


def flat(values: list[float | None], **extra: Any) -> dict[str, Any]:
    x = [START + 60 * i for i in range(len(values))]
    return {"x": x, "series": [{"label": "p95", "values": values, "unit": "ms"}], "y_label": "latency", **extra}


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = new_context(browser, viewport=WIDE)
    yield context.new_page()
    context.close()


def draw(page: Page, *figures: str) -> None:
    page.set_content(
        f'<html lang="en"><head><style>{COLOURS} {DARK}</style></head><main>{"".join(figures)}</main></html>'
    )
    page.add_style_tag(path=STATIC / "vendor" / "uplot-1.6.32.min.css")
    page.add_script_tag(path=STATIC / "vendor" / "uplot-1.6.32.iife.min.js")
    page.add_script_tag(path=STATIC / "charts.js")


# How many canvas pixels have exactly this colour between two x values (all of it when not given).
COUNT = """([rgb, fromX, toX]) => {
  const plot = healthdeckCharts.plots()[0];
  const canvas = plot.ctx.canvas, ctx = plot.ctx;
  const left = fromX === null ? 0 : Math.ceil(plot.valToPos(fromX, 'x', true));
  const right = toX === null ? canvas.width : Math.floor(plot.valToPos(toX, 'x', true));
  const pixels = ctx.getImageData(left, 0, right - left, canvas.height).data;
  let n = 0;
  for (let i = 0; i < pixels.length; i += 4)
    if (pixels[i] === rgb[0] && pixels[i + 1] === rgb[1] && pixels[i + 2] === rgb[2] && pixels[i + 3] === 255) n++;
  return n;
}"""


def pixels(page: Page, rgb: tuple[int, int, int], between: tuple[int | None, int | None] = (None, None)) -> int:
    return int(page.evaluate(COUNT, [list(rgb), *between]))


def test_each_figure_gets_one_chart_220_px_high_with_a_legend_and_120_px_without_one_when_narrow(page: Page) -> None:
    draw(page, figure(flat([1.0, 2.0, 3.0])), figure(flat([3.0, 2.0, 1.0])))
    assert page.locator("figure.chart .chart-canvas .uplot").count() == 2
    assert page.evaluate("healthdeckCharts.plots().map(p => p.height)") == [220, 220]
    assert page.locator(".u-legend").first.is_visible()
    page.set_viewport_size(NARROW)  # type: ignore[arg-type]
    page.wait_for_function("healthdeckCharts.plots().every(p => p.height === 120)")
    assert page.locator(".u-legend").count() == 0
    widths = page.evaluate("healthdeckCharts.plots().map(p => p.width)")
    assert all(width <= NARROW["width"] for width in widths), widths


def test_series_and_thresholds_take_the_css_colours_and_a_theme_change_redraws(page: Page) -> None:
    draw(page, figure(flat([50.0] * 30, thresholds={"good": 20.0, "critical": 80.0})))
    assert pixels(page, (1, 2, 3)) > 100  # the series, in --chart-1
    assert pixels(page, (0, 0, 250)) > 100  # the good threshold, dashed, in --good
    assert pixels(page, (250, 0, 0)) > 100  # the critical one, in --critical
    page.evaluate("document.documentElement.classList.add('dark')")
    page.wait_for_function("healthdeckCharts.plots().length === 1")
    assert pixels(page, (4, 5, 6)) > 100
    assert pixels(page, (1, 2, 3)) == 0


def test_a_null_is_a_gap_not_a_line(page: Page) -> None:
    values: list[float | None] = [50.0] * 10 + [None] * 10 + [50.0] * 10
    draw(page, figure(flat(values)))
    gap = (START + 60 * 10, START + 60 * 18)  # from the first null to the one before last
    assert pixels(page, (1, 2, 3), gap) == 0
    assert pixels(page, (1, 2, 3), (START, START + 60 * 9)) > 100


def test_new_content_replaces_the_charts_and_destroys_the_old_ones(page: Page) -> None:
    draw(page, figure(flat([1.0, 2.0])), figure(flat([2.0, 1.0])))
    swapped = figure(flat([5.0, 6.0, 7.0]))
    page.evaluate(
        "html => { document.querySelector('main').innerHTML = html;"
        " document.dispatchEvent(new CustomEvent('healthdeck:swapped')); }",
        swapped,
    )
    assert page.evaluate("healthdeckCharts.plots().length") == 1
    assert page.locator(".uplot").count() == 1
    assert page.evaluate("healthdeckCharts.plots()[0].data[0].length") == 3


def test_three_series_of_10000_points_draw_in_well_under_a_second(page: Page) -> None:
    x = [START + 60 * i for i in range(10_000)]
    series = [
        {
            "label": f"s{k}",
            "values": [None if i % 997 == 0 else (i * (k + 1)) % 500 for i in range(10_000)],
            "unit": "ms",
        }
        for k in range(3)
    ]
    draw(page, figure({"x": x, "series": series, "y_label": "latency", "thresholds": {"critical": 400}}))
    timings = [_redraw_ms(page) for _ in range(5)]
    median = sorted(timings)[2]
    print(f"\ncharts.js, 3 series x 10,000 points: draw {median:.1f} ms (median of 5; all {timings})")
    assert median < 1000, timings


def _redraw_ms(page: Page) -> float:
    # From the swap event to the next frame: parsing the island, building the chart and painting it.
    return float(
        page.evaluate(
            """() => new Promise(done => {
                 const started = performance.now();
                 document.dispatchEvent(new CustomEvent('healthdeck:swapped'));
                 requestAnimationFrame(() => done(performance.now() - started));
               })"""
        )
    )


def test_the_page_needs_nothing_but_its_own_files() -> None:
    # charts.js is plain ES2017 run as a classic script: no import, export or network call.
    source = (STATIC / "charts.js").read_text()
    assert not any(word in source for word in ("import ", "export ", "fetch(", "XMLHttpRequest", "http://", "https://"))

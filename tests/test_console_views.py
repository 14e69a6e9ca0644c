"""The console's pages of seed 004's views (`/ui/views/{api,pipeline,tenants}`) over HTTP: every panel's
numbers on the page are the JSON's (`GET /v1/views/{view}` at the page's time), the filter form's fields
are the URL's parameters, and the refusals are pages (400, 403, 404) as the route's."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from healthdeck.engine.explain import format_value

from .console import Console, console

SCOPED = "t-0003"
RANGE = "30d"  # longer than the simulated store: every panel has data whatever the hour


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console(tmp_path_factory.mktemp("view-pages"), scoped=(SCOPED,)) as served:
        yield served


def _page(app: Console, path: str, caller: str = "viewer", **params: str) -> httpx.Response:
    cookie = {"Cookie": f"healthdeck_token={app.tokens[caller]}"}  # as the browser sends it
    return app.client.get(path, params=params, headers=cookie, follow_redirects=False)


def _shown(app: Console, view: str, caller: str = "viewer", **filters: str) -> tuple[str, dict[str, Any]]:
    """The page of `view` for `filters`, and the JSON the route answers for the same filters at the page's time."""
    page = _page(app, f"/ui/views/{view}", caller, range=RANGE, **filters)
    assert page.status_code == 200, page.text
    at = re.search(r'class="live-meta" data-at="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return page.text, app.ok(f"/v1/views/{view}", caller, since=RANGE, at=at, **filters)


def _busiest(app: Console, column: str, table: str) -> str:
    return str(app.sql(f"SELECT {column} FROM {table} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0][0])


def _filtered(app: Console) -> dict[str, dict[str, str]]:
    """A filtered URL of each view."""
    return {
        "api": {"tier": "ENTERPRISE", "endpoint": _busiest(app, "endpoint", "requests")},
        "pipeline": {"queue": _busiest(app, "queue", "jobs")},
        "tenants": {"tier": "ENTERPRISE"},
    }


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def _articles(page: str) -> dict[str, str]:
    found = re.findall(r'<article class="panel" id="panel-([a-z0-9_]+)".*?</article>', page, re.S)
    blocks = re.findall(r'(<article class="panel" id="panel-[a-z0-9_]+".*?</article>)', page, re.S)
    return dict(zip(found, blocks, strict=True))


def _body_rows(block: str) -> list[list[str]]:
    body = re.search(r"<tbody>(.*?)</tbody>", block, re.S).group(1)  # type: ignore[union-attr]
    return [_cells(row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def _cells(row: str) -> list[str]:
    return [_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]


def _shown_value(value: Any) -> str:
    return "–" if value is None else str(value)


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
    if panel["kind"] == "timeseries":
        return len(panel["series"]) > 0 and len(panel["series"][0]["points"]) >= 2
    if panel["kind"] == "stat":
        return any(value not in (None, 0) for value in panel["rows"][0])
    return len(panel["rows"]) > 0


@pytest.mark.parametrize("view", ["api", "pipeline", "tenants"])
def test_every_panel_on_a_filtered_view_shows_the_json_numbers(app: Console, view: str) -> None:
    page, answer = _shown(app, view, **_filtered(app)[view])
    articles = _articles(page)
    expected = [p for p in answer["panels"] if _has_data(p)]
    assert list(articles) == [p["id"] for p in expected]  # in order; a panel without data is left out
    assert len(expected) >= 5
    for panel in expected:
        block = articles[panel["id"]]
        if panel["kind"] == "timeseries":
            values = [[_shown_value(v) for _, v in s["points"]] for s in panel["series"]]
            expected = [list(column) for column in zip(*values, strict=True)]
            assert _alike([row[1:] for row in _body_rows(block)]) == _alike(expected, close=True)
            assert 'data-kind="timeseries"' in block and '<script type="application/json" class="chart-data">' in block
        elif panel["kind"] == "stat":
            shown = [_text(v) for v in re.findall(r'<dd class="num">(.*?)</dd>', block, re.S)]
            assert _alike([shown]) == _alike([[_shown_value(v) for v in panel["rows"][0]]], close=True)
        else:
            expected = [[_shown_value(v) for v in row] for row in panel["rows"]]
            assert _alike(_body_rows(block)) == _alike(expected, close=True), panel["id"]


@pytest.mark.parametrize("view", ["api", "pipeline", "tenants"])
def test_the_kpis_of_the_view_are_the_jsons_with_status_and_threshold(app: Console, view: str) -> None:
    page, answer = _shown(app, view)
    assert answer["kpis"]
    for kpi in answer["kpis"]:
        row = re.search(rf'<tr data-kpi="{kpi["id"]}">(.*?)</tr>', page, re.S).group(1)  # type: ignore[union-attr]
        assert f'<a href="/ui/kpis/{kpi["id"]}">' in row
        cells = _cells(row)
        status = (kpi["status"] or "NO_DATA").replace("_", " ")
        assert cells[1:] == [format_value(kpi["value"], kpi["unit"]), cells[2], kpi["threshold"] or "no threshold"]
        assert cells[2].endswith(status)
    assert html.escape(answer["kpi_scope"], quote=True) in page


def _form(page: str) -> tuple[dict[str, str], dict[str, list[str]], dict[str, str | None]]:
    """The filter form: its hidden fields, each select's options and its selected option (None for All)."""
    form = re.search(r'<form id="filters".*?</form>', page, re.S).group(0)  # type: ignore[union-attr]
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))
    options: dict[str, list[str]] = {}
    selected: dict[str, str | None] = {}
    for name, body in re.findall(r'<select id="filter-\w+" name="(\w+)">(.*?)</select>', form, re.S):
        values = re.findall(r'<option value="([^"]*)"( selected)?>', body)
        options[name] = [html.unescape(v) for v, _ in values]
        chosen = [html.unescape(v) for v, mark in values if mark]
        assert len(chosen) == 1
        selected[name] = chosen[0] or None
    return hidden, options, selected


@pytest.mark.parametrize("view", ["api", "pipeline", "tenants"])
def test_each_filter_round_trips_through_the_form(app: Console, view: str) -> None:
    page, answer = _shown(app, view)
    hidden, options, selected = _form(page)
    assert hidden == {"range": RANGE}
    assert list(options) == list(answer["filters"])  # the fields are the route's query parameters
    for name, spec in answer["filters"].items():
        assert options[name] == ["", *spec["options"]] and selected[name] is None
    for name, spec in answer["filters"].items():
        value = spec["options"][-1]
        # What the browser sends for this choice, the other field left at "All": the empty one is dropped.
        sent = _page(app, f"/ui/views/{view}", **hidden, **{n: (value if n == name else "") for n in options})
        assert sent.status_code == 303
        target = urlsplit(sent.headers["location"])
        assert dict(parse_qsl(target.query)) == {"range": RANGE, name: value}
        again = _page(app, target.path, **dict(parse_qsl(target.query)))
        assert again.status_code == 200
        assert _form(again.text)[2] == {n: (value if n == name else None) for n in options}
        share = re.search(r'data-testid="share">([^<]+)<', again.text).group(1)  # type: ignore[union-attr]
        assert html.unescape(share).endswith(sent.headers["location"])
        assert f"/v1/views/{view}?since={RANGE}" in again.text  # the JSON link keeps the filter too


def test_tenant_names_open_the_tenant_page(app: Console) -> None:
    page, answer = _shown(app, "tenants")
    [health] = [p for p in answer["panels"] if p["id"] == "health_scores"]
    block = _articles(page)["health_scores"]
    for tenant, name, *_ in health["rows"]:
        assert f'<a href="/ui/tenants/{tenant}">{html.escape(name)}</a>' in block
    cross = _articles(page)["cross_tenant"]
    assert all(f'<a href="/ui/tenants/{row[0]}">' in cross for row in _panel(answer, "cross_tenant")["rows"])


def _panel(answer: dict[str, Any], panel: str) -> dict[str, Any]:
    return next(p for p in answer["panels"] if p["id"] == panel)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/ui/views/api?tier=GOLD", "tier: &#39;GOLD&#39; is not a tier of the store; tiers: BUSINESS, ENTERPRISE"),
        ("/ui/views/pipeline?queue=nowhere", "queue: &#39;nowhere&#39; is not a queue of the store; queues: "),
        ("/ui/views/api?queue=default", "queue: not a filter of the api view; its filters: tier, endpoint"),
        ("/ui/views/tenants?range=2d", "range: &#39;2d&#39; is not offered; use one of 1h, 6h, 24h, 7d, 30d"),
    ],
)
def test_a_value_not_offered_is_a_400_page_naming_the_filter_and_its_options(
    app: Console, path: str, message: str
) -> None:
    target = urlsplit(path)
    answer = _page(app, target.path, **dict(parse_qsl(target.query)))
    assert answer.status_code == 400 and "text/html" in answer.headers["content-type"]
    assert message in answer.text


def test_a_tenant_token_opens_its_own_tenant_view_only(app: Console) -> None:
    own = _page(app, "/ui/views/tenants", f"viewer@{SCOPED}", tenant=SCOPED, range=RANGE)
    assert own.status_code == 200
    assert f'data-stream="/api/projects/{SCOPED}/metrics/stream"' in own.text  # its own stream, not _all
    assert _form(own.text)[1]["tenant"] == ["", SCOPED]  # never lists the other tenants
    linked = set(re.findall(r'href="/ui/tenants/([^"]+)"', own.text))
    assert linked == {SCOPED}  # its own tenant's rows only
    other = _page(app, "/ui/views/tenants", f"viewer@{SCOPED}", tenant="t-0004")
    assert other.status_code == 404 and "no project &#39;t-0004&#39;" in other.text
    for path in ("/ui/views/tenants", "/ui/views/api", "/ui/views/pipeline"):
        refused = _page(app, path, f"viewer@{SCOPED}")
        assert refused.status_code == 403, path
        assert f"of the views it may open only /ui/views/tenants?tenant={SCOPED}" in refused.text


def test_an_unknown_view_is_a_404_page(app: Console) -> None:
    for caller in ("viewer", f"viewer@{SCOPED}"):
        answer = _page(app, "/ui/views/billing", caller)
        assert answer.status_code == 404 and "no view &#39;billing&#39;; views: api, pipeline, tenants" in answer.text


def test_the_page_says_which_filters_narrow_which_panels(app: Console) -> None:
    page, answer = _shown(app, "pipeline")
    assert "The queue and ETL job filters narrow every panel below except Queue depth" in page
    depth = _articles(page)["queue_depth"]
    assert "Narrowed by queue." in depth and _panel(answer, "queue_depth")["filtered_by"] == ["queue"]
    page, answer = _shown(app, "api")
    assert "Webhook delivery success rate (by neither)" in html.unescape(page)
    assert "Not narrowed by the filters." in _articles(page)["webhook_delivery"]
    assert "Narrowed by tier and endpoint." in _articles(page)["top_consumers"]

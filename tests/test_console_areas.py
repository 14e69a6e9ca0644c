"""The area pages (`/ui/areas/{area}`) and KPI pages (`/ui/kpis/{id}`) over HTTP, against their JSON routes.

A real `healthdeck serve` on a small simulated store whose health history was backfilled, so the
sparklines and charts have kept points to draw.
"""

from __future__ import annotations

import html
import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from healthdeck.api.tokens import Role
from healthdeck.engine.explain import format_value
from healthdeck.store.connection import open_store
from tests.conftest import run_cli
from tests.test_console_http import Console
from tests.test_serve_server import Server, make_tokens

AREAS = ("service", "customer", "business", "capacity")
KEPT = "2d"  # the history backfilled, one evaluation each whole hour
BEYOND_THE_KEPT = "3d"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    db = tmp_path_factory.mktemp("areas") / "store.duckdb"
    run_cli("simulate", "--tenants", "12", "--days", "3", "--db", str(db), "-q").check_returncode()
    run_cli("history", "backfill", "--since", KEPT, "--step", "1h", "--db", str(db)).check_returncode()
    with open_store(db, read_only=True) as store:
        [(tenant,)] = store.con.execute("SELECT min(tenant_id) FROM tenants").fetchall()
    tokens = dict(zip(["viewer", "tenant"], make_tokens(db, (Role.viewer, None), (Role.viewer, tenant)), strict=True))
    server = Server(db).start()
    try:
        yield Console(server, tokens, tenant)
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0, stderr


def _json(console: Console, path: str) -> dict:  # type: ignore[type-arg]
    answer = console.get(path, token="viewer")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _testid(page: str, name: str) -> str:
    """The text inside the element marked data-testid=NAME, tags stripped and whitespace folded."""
    found = re.search(rf'<(\w+)[^>]*data-testid="{name}"[^>]*>(.*?)</\1>', page, re.S)
    assert found, f"no data-testid={name}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(2))).split())


def _data_at(page: str) -> str:
    return re.search(r'class="live-meta" data-at="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _page_and_area(console: Console, path: str, area: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    """A page and its area's JSON from the same evaluation (the server evaluates again after 5 s)."""
    for _ in range(3):
        page = console.get(path, token="viewer")
        assert page.status_code == 200, page.text
        body = _json(console, f"/v1/areas/{area}?since=7d")
        if body["at"] == _data_at(page.text):
            return page.text, body
    pytest.fail("three pages in a row straddled a new evaluation")


def test_an_area_is_the_latest_evaluation_of_its_kpis_by_points_lost(console: Console) -> None:
    area = _json(console, "/v1/areas/service?since=2d")
    report = _json(console, f"/v1/health?area=service&at={quote(area['at'])}")["areas"]["service"]
    assert (area["score"], area["status"], area["change"], area["weight"]) == (
        report["score"],
        report["status"],
        report["change"],
        report["weight"],
    )
    assert {k["id"]: k["value"] for k in area["kpis"]} == {k["id"]: k["value"] for k in report["kpis"]}
    judged = [k for k in area["kpis"] if k["status"] != "NO_DATA"]
    assert area["kpis"][: len(judged)] == judged  # those without data come last
    lost = [k["points_lost"] or 0 for k in judged]
    assert lost == sorted(lost, reverse=True) and lost[0] > 0
    assert all(k["area"] == "service" for k in area["kpis"])


def test_an_areas_histories_are_the_kept_ones(console: Console) -> None:
    # Each read's span ends at its own now, and the kept points sit on whole hours: over the 2 days kept,
    # the oldest would leave the span between two reads that straddle a whole hour. A span a day longer
    # than what was kept holds every point in all three reads.
    area = _json(console, f"/v1/areas/service?since={BEYOND_THE_KEPT}")
    uptime = next(k for k in area["kpis"] if k["id"] == "uptime")
    kept = _json(console, f"/v1/kpis/uptime/history?since={BEYOND_THE_KEPT}")["points"]
    assert len(kept) >= 48 and uptime["history"] == kept  # fewer points than slices: every one is kept
    scores = _json(console, f"/v1/history?since={BEYOND_THE_KEPT}")["areas"]["service"]
    assert area["history"] == scores


def test_a_history_thinned_to_n_points_keeps_the_last_of_each_slice(console: Console) -> None:
    kept = _json(console, "/v1/kpis/uptime/history?since=2d")["points"]
    thinned = _json(console, "/v1/kpis/uptime/history?since=2d&points=5")["points"]
    assert len(thinned) == 5 and all(point in kept for point in thinned)
    assert thinned[-1] == kept[-1]  # the newest stands for the last slice
    assert console.get("/v1/kpis/uptime/history?points=1", token="viewer").status_code == 400


def test_the_area_page_shows_its_json(console: Console) -> None:
    text, area = _page_and_area(console, "/ui/areas/service?range=7d", "service")
    assert _testid(text, "area-score") == f"{area['score']:.1f}"
    assert area["status"] in _testid(text, "area-light")
    judged = [k for k in area["kpis"] if k["status"] != "NO_DATA"]
    rows = re.findall(r'<tr data-kpi="([^"]+)">(.*?)</tr>', text, re.S)
    assert [kpi_id for kpi_id, _ in rows] == [k["id"] for k in judged]
    for (kpi_id, row), kpi in zip(rows, judged, strict=True):
        assert f'<a href="/ui/kpis/{kpi_id}">{html.escape(kpi["title"])}</a>' in row
        assert html.escape(format_value(kpi["value"], kpi["unit"])) in row
        assert f'<td class="num points">{kpi["points_lost"]:.2f}</td>' in row
        assert html.escape(kpi["threshold"]) in row and html.escape(kpi["source"]) in row
        assert re.search(r'<svg class="sparkline" role="img" aria-label="[^"]+, last 7d: from ', row)
    assert 'href="/v1/areas/service?since=7d"' in text


def test_kpis_without_data_are_listed_last_with_the_reason(console: Console) -> None:
    for name in AREAS:
        area = _json(console, f"/v1/areas/{name}?since=1h")
        missing = [k for k in area["kpis"] if k["status"] == "NO_DATA"]
        if not missing:
            continue
        page = console.get(f"/ui/areas/{name}?range=1h", token="viewer").text
        listed = page[page.index('data-testid="no-data"') :]
        for kpi in missing:
            assert f'<li data-kpi="{kpi["id"]}">' in listed and html.escape(kpi["explanation"]) in listed
        return
    pytest.fail("the simulated store has no KPI without data: this test checks nothing")


def test_an_unknown_area_is_a_page_naming_the_areas(console: Console) -> None:
    page = console.get("/ui/areas/sales", token="viewer")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "no area &#39;sales&#39;; the areas are service, customer, business, capacity" in page.text
    answer = console.get("/v1/areas/sales", token="viewer")
    assert answer.status_code == 404 and answer.json()["error"].startswith("no area 'sales'")
    assert console.get("/v1/areas/service?since=forever", token="viewer").status_code == 400


def test_the_scored_kpis_page_shows_the_latest_evaluation(console: Console) -> None:
    page, area = _page_and_area(console, "/ui/kpis/uptime?range=7d", "service")
    kpi = _json(console, f"/v1/kpis/uptime?at={quote(area['at'])}")
    assert _testid(page, "kpi-value") == format_value(kpi["value"], kpi["unit"])
    assert kpi["status"] in _testid(page, "kpi-status")
    assert _testid(page, "sub-score") == f"{kpi['score']:.2f} of 100"
    lost = next(k["points_lost"] for k in area["kpis"] if k["id"] == "uptime")
    assert _testid(page, "points-lost").startswith(f"{lost:.2f} of the overall score")
    assert _testid(page, "evaluated").startswith("From the server's latest evaluation")


def test_the_kpi_page_states_its_catalog_entry(console: Console) -> None:
    entry = _json(console, "/v1/catalog/uptime")
    assert entry["thresholds"] == {
        "good": "> 99.9",
        "critical": "< 99.5",
        "judges": "value",
        "lines": {"good": 99.9, "critical": 99.5},
    }
    assert (entry["window"], entry["frequency"], entry["reads"]) == ("1d", "1m", ["samples"])
    page = console.get("/ui/kpis/uptime?range=7d", token="viewer").text
    threshold = _testid(page, "threshold")
    assert "GOOD > 99.9" in threshold and "CRITICAL < 99.5" in threshold
    assert _testid(page, "promql") == entry["promql"]
    assert _testid(page, "source") == entry["source"]
    assert "measure: sample" in _testid(page, "definition") and "metric: up" in _testid(page, "definition")
    assert '<a href="/ui/areas/service" data-testid="area-link">' in page
    assert console.get("/v1/catalog/nope", token="viewer").status_code == 404


def test_the_kpi_history_chart_draws_the_kept_values_and_the_thresholds(console: Console) -> None:
    page = console.get("/ui/kpis/uptime?range=7d", token="viewer").text
    island = re.search(
        r'id="kpi-history".*?<script type="application/json" class="chart-data">(.*?)</script>', page, re.S
    )
    assert island
    data = json.loads(html.unescape(island.group(1)))
    kept = _json(console, "/v1/kpis/uptime/history?since=7d&points=300")["points"]
    assert data["series"][0]["values"] == [p["value"] for p in kept]
    assert data["thresholds"] == {"good": 99.9, "critical": 99.5}
    export = re.search(r'<a href="([^"]+)" data-testid="export">', page).group(1)  # type: ignore[union-attr]
    csv = console.get(html.unescape(export), token="viewer")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[1].split(",")[1] == "uptime"


def test_a_kpi_outside_the_score_is_evaluated_on_request(console: Console) -> None:
    assert not next(k for k in _json(console, "/v1/catalog") if k["id"] == "api_error_rate")["scored"]
    page = console.get("/ui/kpis/api_error_rate", token="viewer")
    assert page.status_code == 200, page.text
    kpi = _json(console, f"/v1/kpis/api_error_rate?at={quote(_data_at(page.text))}")
    assert _testid(page.text, "kpi-value") == format_value(kpi["value"], kpi["unit"])
    assert _testid(page.text, "evaluated").startswith("Evaluated on request")
    assert "none: not part of the health score" in _testid(page.text, "points-lost")
    assert 'href="/ui/views/api"' in page.text  # a KPI over requests points to the views that split them


def test_an_unknown_kpi_is_a_page(console: Console) -> None:
    page = console.get("/ui/kpis/no_such_kpi", token="viewer")
    assert page.status_code == 404 and "no KPI with id &#39;no_such_kpi&#39;" in page.text


def test_a_tenants_token_may_not_open_pages_over_every_tenant(console: Console) -> None:
    for path in ("/ui/areas/service", "/ui/kpis/uptime"):
        page = console.get(path, token="tenant")
        assert page.status_code == 403 and "this page covers every tenant" in page.text
    assert console.get("/v1/areas/service", token="tenant").status_code == 403


def test_every_area_and_kpi_link_of_the_overview_opens_its_page(console: Console) -> None:
    overview = console.get("/ui/", token="viewer").text
    links = set(re.findall(r'href="(/ui/(?:areas|kpis)/[a-z0-9_]+)"', overview))
    assert {f"/ui/areas/{name}" for name in AREAS} <= links and any("/ui/kpis/" in link for link in links)
    for link in sorted(links):
        assert console.get(link, token="viewer").status_code == 200, link


def test_the_live_part_of_an_area_page_is_its_main(console: Console) -> None:
    part = console.get("/ui/areas/capacity", token="viewer", headers={"X-Healthdeck-Partial": "1"})
    assert part.status_code == 200 and "<html" not in part.text and "<h1>Capacity health</h1>" in part.text


def test_console_pages_read_the_latest_evaluation_and_evaluate_nothing(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    run_cli("simulate", "--tenants", "6", "--days", "1", "--db", str(db), "-q").check_returncode()
    server = Server(db, "--no-auth", "--evaluate-every", "1h").start()
    try:
        with server.client() as client:
            first = client.get("/v1/areas/service").json()["at"]
            time.sleep(5.5)  # past the 5 s for which /v1/summary reuses an evaluation
            assert client.get("/v1/areas/service").json()["at"] == first
            assert _data_at(client.get("/ui/areas/service").text) == first
            assert _data_at(client.get("/ui/kpis/uptime").text) == first
            assert client.get("/v1/summary").json()["at"] == first  # the overview too
            assert _data_at(client.get("/ui/").text) == first
    finally:
        code, stderr = server.stop(signal.SIGTERM)
        assert code == 0, stderr


def _rows(page: str, css_class: str) -> list[list[str]]:
    """The cells of each body row of the page's table of that class, tags stripped."""
    table = re.search(rf'<table class="{css_class}">(.*?)</table>', page, re.S)
    assert table, f"no table {css_class!r}"
    body = table.group(1).split("<tbody>")[1]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_business_page_shows_mrr_movements_and_cohorts_as_their_routes_answer(console: Console) -> None:
    page = console.get("/ui/areas/business?range=30d", token="viewer").text
    movements = _json(console, "/v1/business/mrr?by=month&periods=12")["periods"]
    keys = ("mrr", "new", "expansion", "reactivation", "contraction", "churn", "net_new")
    expected = [[p["period"], *(format_value(p[k], "usd") for k in keys)] for p in movements]
    assert [row[:8] for row in _rows(page, "movements")] == expected
    assert 'href="/v1/business/mrr?by=month&amp;periods=12"' in page
    assert ('id="mrr-movements"' in page) == (len(movements) >= 2)  # a chart from its second period
    cohorts = _json(console, "/v1/business/cohorts")["cohorts"]
    shown = _rows(page, "cohorts") if cohorts else []
    assert [(row[0], row[1]) for row in shown] == [(c["cohort"], str(c["users"])) for c in cohorts]
    weekly = console.get("/ui/areas/business?range=7d", token="viewer").text
    weeks = _json(console, "/v1/business/mrr?by=week&periods=8")["periods"]  # a week's range: by week
    assert [row[0] for row in _rows(weekly, "movements")] == [p["period"] for p in weeks]

"""The console's customer pages over HTTP: `/ui/customers` and `/ui/tenants/{id}` show the numbers of the
JSON routes they render, keep a tenant's token to its own tenant, and refuse filters they do not offer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from html import unescape
from typing import Any

import pytest

from healthdeck.engine.customers import CustomerHealth
from healthdeck.engine.explain import format_value
from healthdeck.engine.session import Engine
from healthdeck.store.connection import Store
from healthdeck.web.customers import SHOWN_ROWS
from healthdeck.web.render import signed

from .console import CATALOG, Console, console

SCOPED = "t-0003"
FACTORS = ("usage", "engagement", "adoption", "support")
# More tenants than a page's list shows, so that the cap and "show all" are exercised.
TENANTS = SHOWN_ROWS + 6


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("console-customers")
    with console(folder, scoped=(SCOPED,), tenants=TENANTS, days=8, requests_per_day=4_000) as served:
        yield served


def _page(app: Console, path: str, caller: str = "viewer", **params: Any) -> str:
    answer = app.get(path, caller, **params)
    assert answer.status_code == 200, answer.text
    assert "text/html" in answer.headers["content-type"]
    return answer.text


def _data_at(html: str) -> str:
    return re.search(r'class="live-meta" data-at="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _table(html: str, css_class: str) -> list[dict[str, Any]]:
    """The rows of the page's table of that class: tenant, score, status, factors, change (as shown)."""
    match = re.search(rf'<table class="{css_class}">(.*?)</table>', html, re.S)
    assert match, f"no table {css_class!r} on the page"
    rows = []
    for tenant, cells in re.findall(r'<tr data-tenant="([^"]+)">(.*?)</tr>', match.group(1), re.S):
        rows.append(
            {
                "tenant_id": tenant,
                "score": re.search(r'data-field="score">([^<]+)<', cells).group(1),  # type: ignore[union-attr]
                "status": re.search(r"</span> ([A-Z ]+)</span>", cells).group(1),  # type: ignore[union-attr]
                "factors": dict(re.findall(r'data-factor="(\w+)">([^<]+)<', cells)),
                "change": re.search(r'data-field="change">([^<]+)<', cells).group(1),  # type: ignore[union-attr]
                "churn": re.search(r'data-field="churn">([^<]+)<', cells).group(1),  # type: ignore[union-attr]
                "churn_level": re.search(r'data-field="churn-level".*?</span> ([A-Z]+)</span>', cells).group(1),  # type: ignore[union-attr]
                "link": re.search(r'<a href="([^"]+)">', cells).group(1),  # type: ignore[union-attr]
            }
        )
    return rows


def _shown(tenant: dict[str, Any]) -> dict[str, Any]:
    """A tenant of the JSON as the page formats it."""
    return {
        "tenant_id": tenant["tenant_id"],
        "score": f"{tenant['health_score']:.1f}",
        "status": tenant["health_status"].replace("_", " "),
        "factors": {factor: f"{tenant['factors'][factor]:.1f}" for factor in FACTORS},
        "change": signed(tenant["change"]),
        "churn": str(tenant["churn_risk"]["score"]),
        "churn_level": tenant["churn_risk"]["level"],
        "link": f"/ui/tenants/{tenant['tenant_id']}",
    }


def _engine_health(app: Console, at: str) -> list[CustomerHealth]:
    """`Engine.customer_health` on the app's own store, as of `at` (the in-process app shares the file)."""
    with app.store.con.cursor() as cursor:
        engine = Engine(Store(path=app.store.path, con=cursor, read_only=True), CATALOG)
        return engine.customer_health(at=datetime.fromisoformat(at))


def _error(html: str) -> str:
    return unescape(re.search(r'data-testid="error">([^<]*)<', html).group(1))  # type: ignore[union-attr]


def test_the_counts_and_lists_are_the_customer_health_json(app: Console) -> None:
    html = _page(app, "/ui/customers", show="all")
    answer = app.ok("/v1/customers/health", at=_data_at(html))
    for status, count in answer["counts"].items():
        assert f'data-testid="count-{status}">{count}<' in html
    assert sum(answer["counts"].values()) == TENANTS
    at_risk = [t for t in answer["tenants"] if t["health_status"] in ("AT_RISK", "CRITICAL")]
    assert at_risk, "the simulated store should have tenants at risk"
    assert _table(html, "at-risk") == [_shown(t) for t in at_risk]
    assert _table(html, "all-tenants") == [_shown(t) for t in answer["tenants"]]
    assert 'href="/v1/customers/health"' in html
    customers = _engine_health(app, _data_at(html))
    engine = {c.now.tenant_id: c.now for c in customers}
    engine_risk = {c.now.tenant_id: c.risk for c in customers}
    for row in _table(html, "all-tenants"):
        health = engine[row["tenant_id"]]
        # The page shows the JSON's rounded values to one decimal: within 0.05 of the engine's (a
        # value like 0.0499 the JSON rounds to 0.05 shows as 0.1)
        for factor in FACTORS:
            assert float(row["factors"][factor]) == pytest.approx(getattr(health, factor), abs=0.0501)
        assert float(row["score"]) == pytest.approx(health.score, abs=0.0501)
        assert row["status"] == health.status.replace("_", " ")
        risk = engine_risk[row["tenant_id"]]
        assert (int(row["churn"]), row["churn_level"]) == (risk.score, risk.level)
    assert {row["churn_level"] for row in _table(html, "all-tenants")} - {"LOW"}, "some tenant should be at risk"


def test_without_show_all_each_list_stops_at_its_first_rows(app: Console) -> None:
    html = _page(app, "/ui/customers")
    answer = app.ok("/v1/customers/health", at=_data_at(html))
    assert _table(html, "all-tenants") == [_shown(t) for t in answer["tenants"][:SHOWN_ROWS]]
    assert f'<a href="/ui/customers?show=all">Show all {TENANTS} tenants</a>' in html


@pytest.mark.parametrize("status", ["HEALTHY", "AT_RISK", "CRITICAL"])
def test_the_status_filter_shows_that_status_only(app: Console, status: str) -> None:
    html = _page(app, "/ui/customers", status=status)
    answer = app.ok("/v1/customers/health", at=_data_at(html), status=status)
    if answer["tenants"]:
        assert _table(html, "all-tenants") == [_shown(t) for t in answer["tenants"][:SHOWN_ROWS]]
    else:  # the simulated store may have no tenant of this status: the page says so, and shows no table
        assert "The store has no tenant of this status." in html and 'class="all-tenants"' not in html
    assert f'<option value="{status}" selected>' in html
    assert f'href="/v1/customers/health?status={status}"' in html


def test_a_column_sorts_the_table_lowest_first(app: Console) -> None:
    html = _page(app, "/ui/customers", sort="usage", show="all")
    shown = [float(row["factors"]["usage"]) for row in _table(html, "all-tenants")]
    assert shown == sorted(shown) and shown[0] < shown[-1]
    assert re.search(r'<th scope="col" class="num" aria-sort="ascending"><a href="[^"]*sort=usage', html)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "FINE"}, "status: 'FINE' is not offered; use one of HEALTHY, AT_RISK, CRITICAL"),
        ({"status": "at_risk"}, "status: 'at_risk' is not offered"),
        ({"sort": "mrr"}, "sort: 'mrr' is not offered; use one of score, name, tier, change, usage, engagement"),
        ({"show": "100"}, "show: '100' is not offered; use show=all"),
    ],
)
def test_a_filter_not_offered_is_a_400_page_naming_it(app: Console, params: dict[str, str], message: str) -> None:
    refused = app.get("/ui/customers", **params)
    assert refused.status_code == 400 and "text/html" in refused.headers["content-type"]
    assert _error(refused.text).startswith(message)


def _testid(html: str, name: str, *, ends: str = "</") -> str:
    found = re.search(rf'data-testid="{name}">(.*?){ends}', html, re.S)
    assert found, f"no {name!r} on the page"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def _busiest(app: Console) -> str:
    return str(app.sql("SELECT tenant_id FROM requests GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0][0])


def test_a_tenants_page_shows_its_health_factors_and_rules(app: Console) -> None:
    for tenant in (SCOPED, _busiest(app)):
        html = _page(app, f"/ui/tenants/{tenant}")
        health = app.ok(f"/v1/customers/{tenant}/health")  # "now" moves, the score of a simulated past does not
        assert _testid(html, "score") == f"{health['health_score']:.1f}"
        assert health["health_status"].replace("_", " ") in _testid(html, "status", ends="</p>")
        assert _testid(html, "change").startswith(signed(health["change"]) + " points since")
        assert _testid(html, "tier") == health["tier"]
        for factor, most in zip(FACTORS, (30, 25, 25, 20), strict=True):
            card = re.search(rf'data-testid="factor-{factor}">(.*?)</li>', html, re.S).group(1)  # type: ignore[union-attr]
            points = f"{health['factors'][factor]:.1f}"
            assert f'<span class="points">{points}</span>' in card
            assert f"{factor} {points}/{most}: {health['rules'][factor]}" in unescape(card)
        facts = health["facts"]
        assert f"{facts['api_calls_30d']:,} API calls in the last 30 days" in html
        assert f"last active {facts['last_active_date']}" in html
        assert f"{facts['features_used']} features used in the last 30 days" in html
        assert f"{facts['open_tickets']} open support tickets" in html


def test_a_tenants_page_shows_its_churn_risk_and_each_indicator(app: Console) -> None:
    listed = app.ok("/v1/customers/health")["tenants"]
    riskiest = max(listed, key=lambda t: (t["churn_risk"]["score"], t["tenant_id"]))["tenant_id"]
    for tenant in (SCOPED, riskiest):
        html = _page(app, f"/ui/tenants/{tenant}")
        risk = app.ok(f"/v1/customers/{tenant}/health")["churn_risk"]
        assert _testid(html, "churn-score") == str(risk["score"])
        assert _testid(html, "churn-level", ends="</span></span>").endswith(risk["level"])
        change = _testid(html, "churn-change")
        assert change.startswith(signed(risk["change"], 0) + " points since") or risk["change"] is None
        for indicator in risk["indicators"]:
            card = unescape(_testid(html, f"indicator-{indicator['name']}", ends="</li>"))
            assert f"+{indicator['points']}" in card and indicator["fact"] in card
        assert html.count('data-testid="indicator-') == len(risk["indicators"])
        if not risk["indicators"]:
            assert "No churn-risk indicator is active." in html
    assert app.ok(f"/v1/customers/{riskiest}/health")["churn_risk"]["indicators"], "a simulated tenant has some"


@pytest.mark.parametrize(("span", "step"), [("7d", "6h"), ("1h", "5m")])
def test_a_tenants_page_shows_its_usage_totals_and_subscriptions(app: Console, span: str, step: str) -> None:
    tenant = _busiest(app)
    html = _page(app, f"/ui/tenants/{tenant}", range=span)
    usage = app.ok(f"/v1/customers/{tenant}/usage", since=span, step=step)
    totals = usage["totals"]
    assert _testid(html, "requests") == f"{totals['requests']:,}"
    assert _testid(html, "errors") == f"{totals['errors']:,}"
    assert totals["requests"] > 0 or span == "1h"
    if totals["p95_latency_ms"] is not None:
        assert _testid(html, "p95") == format_value(totals["p95_latency_ms"], "ms")
    assert f'href="/v1/customers/{tenant}/usage?since={span}&amp;step={step}"' in html
    for sub in usage["subscriptions"]:
        assert f'<th scope="row">{sub["subscription_id"]}</th><td>{sub["plan"]}</td>' in html
        assert f'<td class="num">{sub["amount"]:,.2f}</td><td>{sub["currency"]}</td><td>{sub["status"]}</td>' in html
    assert usage["subscriptions"], "the busiest tenant should have a subscription"


def test_a_tenants_page_lists_its_own_kpi_evaluation(app: Console) -> None:
    html = _page(app, f"/ui/tenants/{SCOPED}")
    report = app.ok(f"/api/projects/{SCOPED}/metrics/dashboard")
    assert report["at"] == _data_at(html), "the page and the route share one evaluation, kept 5 s"
    rows = dict(re.findall(r'<tr data-kpi="([^"]+)"><th scope="row">[^<]*</th><td class="num">(.*?)</tr>', html, re.S))
    scored = {kpi["id"]: kpi for kpi in report["kpis"] if kpi["status"] in ("GOOD", "WARNING", "CRITICAL")}
    assert scored and set(rows) == set(scored)
    for kpi_id, cells in rows.items():
        kpi = scored[kpi_id]
        assert f'<span class="value">{format_value(kpi["value"], kpi["unit"])}</span>' in cells
        assert f"</span> {kpi['status']}</span>" in cells
    assert f'data-stream="/api/projects/{SCOPED}/metrics/stream"' in html


def test_a_tenants_token_sees_its_own_page_only(app: Console) -> None:
    mine = f"viewer@{SCOPED}"
    own = _page(app, f"/ui/tenants/{SCOPED}", mine)
    nav = re.search(r'<nav class="sections".*?</nav>', own, re.S).group(0)  # type: ignore[union-attr]
    assert re.findall(r'<a href="([^"]+)"', nav) == [f"/ui/tenants/{SCOPED}"]
    other = app.get("/ui/tenants/t-0001", mine)
    assert other.status_code == 404 and _error(other.text) == "no project 't-0001'"
    every = app.get("/ui/customers", mine)
    assert every.status_code == 403 and "every tenant" in _error(every.text)
    for tenant in ("t-0001", SCOPED):
        assert app.get(f"/ui/tenants/{tenant}").status_code == 200  # a viewer over every tenant sees each
    assert app.get("/ui/tenants/t-9999").status_code == 404


@pytest.mark.parametrize(
    ("path", "content"),
    [("/ui/customers", '<table class="all-tenants">'), (f"/ui/tenants/{SCOPED}", 'data-testid="factor-usage"')],
)
def test_the_live_part_alone_renders_for_the_page_to_swap_in(app: Console, path: str, content: str) -> None:
    headers = {"Authorization": f"Bearer {app.tokens['viewer']}", "X-Healthdeck-Partial": "1"}
    part = app.client.get(path, headers=headers)
    assert part.status_code == 200 and "<html" not in part.text and "<main" not in part.text
    assert 'class="live-meta"' in part.text and part.text.count("<h1>") == 1
    assert content in part.text

"""`/v1/customers/…`: tenants' health and one tenant's usage, checked against the specification's
own SQL and hand-written SQL on one simulated store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from healthdeck.engine.measures.churn import tenant_churn_risk
from healthdeck.engine.measures.customers import tenant_health
from healthdeck.engine.session import Engine
from healthdeck.store.connection import Store

from .console import CATALOG, Console, console
from .test_seed_sql import seed_sql

SCOPED = "t-0003"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console(tmp_path_factory.mktemp("customers"), scoped=(SCOPED,)) as served:
        yield served


@pytest.fixture(scope="module")
def at() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _rows(app: Console, query: str, params: Any = None) -> dict[str, tuple[Any, ...]]:
    return {row[0]: row[1:] for row in app.sql(query, params)}


def test_every_tenants_factors_and_score_are_the_specifications_query(app: Console, at: str) -> None:
    listed = app.ok("/v1/customers/health", at=at)
    query = seed_sql("customer_health_score.sql")
    # The query's own CTE, verbatim, gives the four factors; the whole query the score and status.
    metrics = query.split("WITH customer_metrics AS (\n", 1)[1].rsplit("\n)\nSELECT", 1)[0]
    factors = _rows(app, metrics)
    scores = _rows(app, query)
    assert len(listed["tenants"]) == len(scores) == 12
    for line in listed["tenants"]:
        usage, engagement, adoption, support = factors[line["tenant_id"]]
        expected = {"usage": usage, "engagement": engagement, "adoption": adoption, "support": support}
        assert line["factors"] == pytest.approx({k: float(v) for k, v in expected.items()}, abs=1e-4)
        score, status = scores[line["tenant_id"]]
        assert (line["health_score"], line["health_status"]) == (pytest.approx(float(score), abs=1e-4), status)


def test_the_list_is_worst_first_with_counts_per_status(app: Console, at: str) -> None:
    listed = app.ok("/v1/customers/health", at=at)
    order = [(t["health_score"], t["tenant_id"]) for t in listed["tenants"]]
    assert order == sorted(order)
    statuses = [t["health_status"] for t in listed["tenants"]]
    assert listed["counts"] == {s: statuses.count(s) for s in ("HEALTHY", "AT_RISK", "CRITICAL")}
    assert listed["at"] == at
    for status in ("HEALTHY", "AT_RISK", "CRITICAL"):
        only = app.ok("/v1/customers/health", at=at, status=status)
        assert only["counts"] == listed["counts"]
        assert only["tenants"] == [t for t in listed["tenants"] if t["health_status"] == status]
    refused = app.get("/v1/customers/health", status="FINE")
    assert refused.status_code == 400 and "status" in refused.json()["error"]


def test_change_is_the_difference_of_two_evaluations_a_week_apart(app: Console, at: str) -> None:
    moment = datetime.fromisoformat(at)
    with app.store.con.cursor() as cursor:
        ctx = Engine(Store(path=app.store.path, con=cursor, read_only=True), CATALOG).context()
        now = {t.tenant_id: t.score for t in tenant_health(ctx, moment)}
        before = {t.tenant_id: t.score for t in tenant_health(ctx, moment - timedelta(days=7))}
    created = _rows(app, "SELECT tenant_id, created_at FROM tenants")
    listed = app.ok("/v1/customers/health", at=at)["tenants"]
    new = [t["tenant_id"] for t in listed if created[t["tenant_id"]][0] > moment - timedelta(days=7)]
    assert new, "the simulated store should have a tenant younger than a week"
    for line in listed:
        tenant = line["tenant_id"]
        expected = None if tenant in new else pytest.approx(now[tenant] - before[tenant], abs=1e-4)
        assert line["change"] == expected


def test_every_tenants_churn_risk_and_its_change_are_the_engines_a_week_apart(app: Console, at: str) -> None:
    moment = datetime.fromisoformat(at)
    with app.store.con.cursor() as cursor:
        ctx = Engine(Store(path=app.store.path, con=cursor, read_only=True), CATALOG).context()
        now = {r.tenant_id: r for r in tenant_churn_risk(ctx, moment)}
        before = {r.tenant_id: r.score for r in tenant_churn_risk(ctx, moment - timedelta(days=7))}
    listed = app.ok("/v1/customers/health", at=at)["tenants"]
    for line in listed:
        risk, expected = line["churn_risk"], now[line["tenant_id"]]
        indicators = [{"name": i.name, "points": i.points, "fact": i.fact} for i in expected.indicators]
        assert (risk["score"], risk["level"], risk["indicators"]) == (expected.score, expected.level, indicators)
        assert risk["score"] == sum(i["points"] for i in risk["indicators"])
        assert risk["change"] == (None if line["change"] is None else expected.score - before[line["tenant_id"]])
        one = app.ok(f"/v1/customers/{line['tenant_id']}/health", at=at)
        assert one["churn_risk"] == risk
        if one["previous"] is not None:
            assert one["previous"]["churn_risk"]["score"] == before[line["tenant_id"]]
    assert {r["churn_risk"]["level"] for r in listed} - {"LOW"}, "some simulated tenant should be at risk"


def test_one_tenants_health_has_its_facts_and_last_weeks_score(app: Console, at: str) -> None:
    listed = {t["tenant_id"]: t for t in app.ok("/v1/customers/health", at=at)["tenants"]}
    summary = _rows(app, "SELECT * FROM customer_summary")
    names = _rows(app, "SELECT tenant_id, name, tier FROM tenants")
    for tenant, line in listed.items():
        one = app.ok(f"/v1/customers/{tenant}/health", at=at)
        assert {k: one[k] for k in line} == line
        calls, last_active, features, tickets = summary[tenant]
        assert one["facts"] == {
            "api_calls_30d": calls,
            "last_active_date": None if last_active is None else last_active.isoformat(),
            "features_used": features,
            "open_tickets": tickets,
        }
        assert (one["name"], one["tier"]) == names[tenant]
        if line["change"] is None:
            assert one["previous"] is None
        else:
            week_ago = (datetime.fromisoformat(at) - timedelta(days=7)).isoformat()
            assert one["previous"]["at"] == week_ago
            assert one["previous"]["health_score"] == pytest.approx(line["health_score"] - line["change"], abs=1e-3)


ENGAGEMENT_RULES = {
    25.0: "active today",
    20.0: "last active within 7 days",
    15.0: "last active within 14 days",
    10.0: "last active within 30 days",
}


def test_each_factor_says_the_rule_that_gave_its_points(app: Console, at: str) -> None:
    seen = set()
    for line in app.ok("/v1/customers/health", at=at)["tenants"]:
        one = app.ok(f"/v1/customers/{line['tenant_id']}/health", at=at)
        facts, points, rules = one["facts"], one["factors"], one["rules"]
        calls, features, tickets = facts["api_calls_30d"], facts["features_used"], facts["open_tickets"]
        assert rules["usage"].startswith(f"{calls:,} API calls in 30 days")
        assert rules["usage"].endswith("earn all 30") == (points["usage"] == 30)
        idle = "never active" if facts["last_active_date"] is None else "not active in the last 30 days"
        assert rules["engagement"] == ENGAGEMENT_RULES.get(points["engagement"], idle)
        assert rules["adoption"].startswith(f"{features} features used in 30 days")
        assert rules["adoption"].endswith("earn all 25") == (points["adoption"] == 25)
        support = {20: "no open ticket", 15: "1 open ticket", 10: f"{tickets} open tickets (2 or 3)"}
        assert rules["support"] == support.get(int(points["support"]), f"{tickets} open tickets (4 or more)")
        seen.add(rules["engagement"])
    assert len(seen) > 1, "the simulated tenants should not all be equally engaged"


def test_a_tenant_token_reads_its_own_tenant_only(app: Console) -> None:
    mine = f"viewer@{SCOPED}"
    assert app.get(f"/v1/customers/{SCOPED}/health", mine).status_code == 200
    assert app.get(f"/v1/customers/{SCOPED}/usage", mine).status_code == 200
    for path in ("/v1/customers/t-0001/health", "/v1/customers/t-0001/usage", "/v1/customers/_all/health"):
        other = app.get(path, mine)
        assert other.status_code == 404 and other.json() == {"error": f"no project {path.split('/')[3]!r}"}
    assert app.get("/v1/customers/health", mine).status_code == 403
    for unknown in ("/v1/customers/t-9999/health", "/v1/customers/t-9999/usage", "/v1/customers/_all/usage"):
        assert app.get(unknown).status_code == 404
    assert app.client.get(f"/v1/customers/{SCOPED}/health").status_code == 401


def _busiest(app: Console) -> str:
    return str(app.sql("SELECT tenant_id FROM requests GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0][0])


TOTALS = """
SELECT count(*), sum(CASE WHEN status BETWEEN 500 AND 599 THEN 1 ELSE 0 END), quantile_cont(latency_ms, 0.95)
FROM requests WHERE tenant_id = ? AND ts >= ? AND ts < ?
"""


SPANS = [("2d", None, 48, "1h"), ("7d", None, 7, "1d"), ("3d", "6h", 12, "6h")]


@pytest.mark.parametrize(("since", "step", "points", "step_text"), SPANS)
def test_a_tenants_usage_totals_and_points_are_its_requests(
    app: Console, since: str, step: str | None, points: int, step_text: str
) -> None:
    tenant = _busiest(app)
    usage = app.ok(f"/v1/customers/{tenant}/usage", since=since, **({"step": step} if step else {}))
    start = datetime.fromisoformat(usage["since"])
    assert (len(usage["points"]), usage["step"]) == (points, step_text)
    requests, errors, p95 = app.sql(TOTALS, [tenant, start, datetime.now(UTC)])[0]
    assert requests > 0, "the busiest tenant should have requests in the span"
    assert errors > 0 or since != "7d", "and a few 5xx in a week (0 would not test the count)"
    assert usage["totals"] == {
        "requests": requests,
        "errors": errors,
        "error_rate_pct": pytest.approx(100 * errors / requests, abs=1e-4),
        "p95_latency_ms": pytest.approx(p95, abs=1e-4),
    }
    assert sum(p["requests"] for p in usage["points"]) == requests
    every = timedelta(hours=int(step_text[:-1]) * (24 if step_text.endswith("d") else 1))
    for point in usage["points"][-3:]:
        begin = datetime.fromisoformat(point["at"])
        n, bad, q = app.sql(TOTALS, [tenant, begin, begin + every])[0]
        expected_p95 = None if q is None else pytest.approx(q, abs=1e-4)
        assert (point["requests"], point["errors"], point["p95_latency_ms"]) == (n, bad, expected_p95)


def test_a_tenants_subscriptions_are_their_latest_states(app: Console) -> None:
    tenant = _busiest(app)
    latest = app.sql(
        "SELECT subscription_id, arg_max(plan, ts), arg_max(tier, ts), arg_max(interval, ts), arg_max(amount, ts), "
        "arg_max(currency, ts), arg_max(status, ts), max(ts) FROM subscriptions WHERE tenant_id = ? GROUP BY 1",
        [tenant],
    )
    assert latest
    fields = ("subscription_id", "plan", "tier", "interval", "amount", "currency", "status", "since")
    expected = [dict(zip(fields, (*row[:-1], row[-1].isoformat()), strict=True)) for row in latest]
    got = app.ok(f"/v1/customers/{tenant}/usage")["subscriptions"]
    assert sorted(got, key=lambda s: s["subscription_id"]) == sorted(expected, key=lambda s: s["subscription_id"])
    assert (
        app.ok(f"/v1/customers/{tenant}/usage")["tier"]
        == app.sql("SELECT tier FROM tenants WHERE tenant_id = ?", [tenant])[0][0]
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "30d", "step": "1m"}, "step: 30d in steps of 1m is 43200 points, over 2,000; use a larger step"),
        ({"since": "soon"}, "since: "),
        ({"step": "often"}, "step"),
    ],
)
def test_bad_usage_parameters_are_400_naming_them(app: Console, params: dict[str, str], message: str) -> None:
    refused = app.get(f"/v1/customers/{SCOPED}/usage", **params)
    assert refused.status_code == 400
    assert refused.json()["error"].startswith(message)

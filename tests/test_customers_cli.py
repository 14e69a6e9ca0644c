"""`healthdeck customers …` (table and JSON) and their `/v1/customers/…` routes, on hand-built tenants.

The CLI runs first (a subprocess reading the store); the in-process API then opens the same store
and must answer the very same JSON.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from healthdeck.api.app import create_app
from healthdeck.api.owner import StoreOwner
from healthdeck.api.settings import ServeSettings
from healthdeck.api.tokens import Role, create_token
from healthdeck.store.connection import open_store

from .churn_records import AT, EXPECTED, churn_records
from .conftest import ingested, run_cli
from .console import CATALOG, Console
from .test_serve_server import Server

WHEN = AT.isoformat()
COMMANDS = {
    "health": ["customers", "health", "--tenant-id", "several", "--at", WHEN],
    "at-risk": ["customers", "at-risk", "--at", WHEN],
    "churn-analysis": ["customers", "churn-analysis", "--period", "90 days", "--at", WHEN],
    "enterprise-status": ["customers", "enterprise-status", "--period", "30 days", "--at", WHEN],
}
ROUTES = {
    "health": ("/v1/customers/several/health", {"at": WHEN}),
    "at-risk": ("/v1/customers/at-risk", {"at": WHEN}),
    "churn-analysis": ("/v1/customers/churn-analysis", {"period": "90 days", "at": WHEN}),
    "enterprise-status": ("/v1/customers/enterprise-status", {"period": "30 days", "at": WHEN}),
}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingested(tmp_path_factory.mktemp("customers-cli"), churn_records())


@pytest.fixture(scope="module")
def printed(store_path: Path) -> dict[str, tuple[dict[str, Any], str]]:
    """Each command's JSON and its table, as the CLI printed them."""
    answers = {}
    for name, args in COMMANDS.items():
        as_json = run_cli(*args, "--output", "json", "--db", str(store_path))
        as_table = run_cli(*args, "--db", str(store_path), env={"COLUMNS": "200"})
        assert as_json.returncode == as_table.returncode == 0, as_json.stderr + as_table.stderr
        answers[name] = (json.loads(as_json.stdout), as_table.stdout)
    return answers


@pytest.fixture(scope="module")
def app(store_path: Path, printed: dict[str, Any]) -> Iterator[Console]:
    store = open_store(store_path)  # after the CLI's runs: the server holds the store alone
    tokens = {"viewer": create_token(store.con, role=Role.viewer)[1]}
    tokens["viewer@drop"] = create_token(store.con, role=Role.viewer, project="drop")[1]
    owner = StoreOwner(store, CATALOG)
    served = create_app(owner, ServeSettings(evaluate_every=None), spool_dir=store_path.parent)
    try:
        with TestClient(served) as client:
            yield Console(client, store, tokens)
    finally:
        owner.close()


def test_health_json_starts_with_the_issues_keys_and_has_the_hand_computed_scores(printed: dict[str, Any]) -> None:
    answer, table = printed["health"]
    keys = ["tenant_id", "health_score", "health_status", "factors", "churn_risk"]
    assert list(answer)[:5] == keys
    # usage 40 calls / 10,000 × 30 = 0.12; last active 9 days ago: 15; no feature: 0; 4 open tickets: 0
    assert answer["factors"] == {"usage": 0.12, "engagement": 15.0, "adoption": 0.0, "support": 0.0}
    assert (answer["health_score"], answer["health_status"]) == (15.12, "CRITICAL")
    score, level, indicators = EXPECTED["several"]
    risk = answer["churn_risk"]
    assert list(risk)[:3] == ["score", "level", "indicators"]
    assert (risk["score"], risk["level"]) == (score, level)
    assert [(i["name"], i["fact"]) for i in risk["indicators"]] == indicators
    assert [i["points"] for i in risk["indicators"]] == [30, 25, 20, 15, 10]
    # a week before (09-24): 40 calls two days before, nothing else yet -> 0 points; now 100
    assert risk["change"] == 100
    assert "health 15.1 ✗ CRITICAL" in table and "churn risk 100 ✗ HIGH, +100 since a week before" in table
    for _, fact in indicators:
        assert fact in table


def test_at_risk_lists_the_unhealthy_or_churning_tenants_worst_first_with_why(printed: dict[str, Any]) -> None:
    answer, table = printed["at-risk"]
    order = [t["tenant_id"] for t in answer["tenants"]]
    # CRITICAL health or HIGH risk first, by risk score then health: several 100, idletickets 50,
    # idleteam 45, idle 30, tickets 20, doubled 0; then AT_RISK or MEDIUM: drop 25, team 15, payfail 10,
    # then risk 0 by health: quiet 40.003 (1 call: 0.003 + 20 + 0 + 20), retried 40.003, half 40.45 (150 calls),
    # bigco 51 (2,000 calls: 6, active today 25, no feature 0, no ticket 20). healthy scores 100 and LOW.
    assert order[:9] == ["several", "idletickets", "idleteam", "idle", "tickets", "doubled", "drop", "team", "payfail"]
    assert order[9:] == ["quiet", "retried", "half", "bigco"]
    assert (answer["at_risk"], answer["tenants_total"]) == (13, 14)
    drop = answer["tenants"][order.index("drop")]
    assert drop["why"] == [
        f"health AT_RISK: {drop['health_score']:.1f} (under 70)",
        "churn risk MEDIUM: 25 points",
        "API calls down 51% (100 → 49, week on week) (+25)",
    ]
    assert "13 of 14 tenants at risk" in table and "API calls down 51% (100 → 49, week on week) (+25)" in table


def test_churn_analysis_lists_the_periods_churned_tenants_and_their_indicators_before(
    printed: dict[str, Any],
) -> None:
    answer, table = printed["churn-analysis"]
    churned = {t["tenant_id"]: t for t in answer["tenants"]}
    assert list(churned) == ["drop", "idle", "retried", "several"]  # in the order they churned
    # paying at AT - 90 days: several, idle, team, retried; drop began paying later (listed, not in the rate)
    assert (answer["paying_at_start"], answer["churned"], answer["churn_rate_pct"]) == (4, 4, 75.0)
    assert answer["by_tier"] == [
        {"tier": "ENTERPRISE", "paying_at_start": 1, "churned": 1, "churn_rate_pct": 100.0},
        {"tier": "PRO", "paying_at_start": 3, "churned": 3, "churn_rate_pct": 66.6667},
    ]
    assert [churned[t]["paying_at_start"] for t in churned] == [False, True, True, True]
    assert churned["retried"]["paying_at_end"] and not churned["idle"]["paying_at_end"]
    assert churned["several"]["churned_at"] == "2026-10-01T00:00:00+00:00"
    # just before: idle 15 days idle (30); drop never active since creation 102 days before 09-11 (30);
    # retried idle since creation, 119 days, and its latest payment (09-26) failed (40); several all five (100)
    facts = {t: [i["fact"] for i in c["churn_risk"]["indicators"]] for t, c in churned.items()}
    assert facts["idle"] == ["no activity for 15 days (last on 2026-09-11)"]
    assert facts["drop"] == ["no activity since it was created 102 days ago"]
    assert facts["retried"] == [
        "no activity since it was created 119 days ago",
        "latest payment failed (99.00 USD on 2026-09-26)",
    ]
    assert [c["churn_risk"]["score"] for c in churned.values()] == [30, 30, 40, 100]
    assert answer["flagged_before_churn"] == 4
    assert answer["indicators_before_churn"] == {
        "api_calls_down_50pct": 1,
        "failed_payment": 2,
        "no_activity_7d": 4,
        "support_tickets_up_2x": 1,
        "team_members_removed": 1,
    }
    assert "4 churned, churn rate 75.0% of 4 paying at the start" in table
    assert "no activity since it was created 119 days ago (+30)" in table


def test_enterprise_status_counts_24_hour_windows_under_999_as_breaches(printed: dict[str, Any]) -> None:
    answer, table = printed["enterprise-status"]
    bigco, several = answer["tenants"]  # the most breaches first
    assert (bigco["tenant_id"], several["tenant_id"]) == ("bigco", "several")
    assert (bigco["requests"], bigco["uptime_pct"], bigco["sla_breaches"]) == (2000, 99.85, 1)
    assert bigco["breaches"] == [
        {
            "start": "2026-09-29T12:00:00+00:00",
            "end": "2026-09-30T12:00:00+00:00",
            "requests": 1000,
            "errors": 2,
            "uptime_pct": 99.8,
        }
    ]
    assert (several["requests"], several["uptime_pct"], several["sla_breaches"], several["open_tickets"]) == (
        40,
        100.0,
        0,
        4,
    )
    assert several["churn_risk"]["level"] == "HIGH"
    assert answer["sla_uptime_pct"] == 99.9
    assert "99.800% from 2026-09-29T12:00" in table


def test_usage_is_the_routes_answer(store_path: Path) -> None:
    answer = json.loads(
        run_cli(
            "customers", "usage", "--tenant-id", "bigco", "--period", "30 days", "-o", "json", "--db", str(store_path)
        ).stdout
    )
    # AT lies in the past: the last 30 days before now hold none of bigco's requests
    assert (answer["tenant_id"], answer["tier"], answer["step"], len(answer["points"])) == (
        "bigco",
        "BUSINESS",
        "1d",
        30,
    )
    assert answer["totals"]["requests"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["health", "--tenant-id", "nobody"], "error: --tenant-id 'nobody': no such tenant in the store"),
        (["usage", "--tenant-id", "nobody"], "error: --tenant-id 'nobody': no such tenant in the store"),
        (["usage", "--tenant-id", "bigco", "--period", "last week"], "error: --period 'last week' ends before now"),
        (["churn-analysis", "--period", "soon"], "error: cannot read --period 'soon'"),
        (["at-risk", "--at", "2099-01-01T00:00:00Z"], "error: --at '2099-01-01T00:00:00Z' is 2099-01-01"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(store_path: Path, args: list[str], message: str) -> None:
    result = run_cli("customers", *args, "--db", str(store_path))
    assert result.returncode == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr


def test_each_command_prints_the_same_through_a_running_server(
    store_path: Path, printed: dict[str, Any], tmp_path: Path
) -> None:
    copy = tmp_path / "store.duckdb"  # a server of its own: the module's in-process app holds the original
    shutil.copyfile(store_path, copy)
    server = Server(copy).start()
    try:
        for name, args in COMMANDS.items():
            through = run_cli(*args, "--output", "json", "--db", str(copy))
            assert through.returncode == 0, through.stderr
            assert json.loads(through.stdout) == printed[name][0], name
        refused = run_cli("customers", "health", "--tenant-id", "nobody", "--db", str(copy))
        assert (refused.returncode, refused.stderr.splitlines()[0]) == (
            2,
            "error: --tenant-id 'nobody': no such tenant in the store; "
            '`healthdeck sql "SELECT tenant_id, name FROM tenants"` lists them',
        )
    finally:
        server.stop()


def test_each_route_answers_the_commands_json(app: Console, printed: dict[str, Any]) -> None:
    for name, (path, params) in ROUTES.items():
        assert app.ok(path, **params) == printed[name][0], name


def test_a_tenant_token_reads_its_own_health_and_no_list(app: Console) -> None:
    mine = "viewer@drop"
    own = app.ok("/v1/customers/drop/health", mine, at=WHEN)
    assert own["churn_risk"]["score"] == 25
    assert app.get("/v1/customers/drop/usage", mine).status_code == 200
    assert app.get("/v1/customers/several/health", mine).status_code == 404
    for path in ("/v1/customers/at-risk", "/v1/customers/churn-analysis", "/v1/customers/enterprise-status"):
        assert app.get(path, mine).status_code == 403, path
    refused = app.get("/v1/customers/churn-analysis", period="soon")
    assert refused.status_code == 400 and refused.json()["error"].startswith("cannot read period 'soon'")

"""`/v1/business/…`: the same JSON as `healthdeck business`, every tenant's only, and the same
numbers as the catalog's KPIs on one simulated store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from healthdeck.engine.business import summary_json
from healthdeck.engine.revenue_movements import mrr_json
from healthdeck.engine.revenue_options import MrrSettings
from healthdeck.engine.session import Engine

from .console import CATALOG, Console, console
from .test_business_cli import SUMMARY_KEYS

SCOPED = "t-0003"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console(tmp_path_factory.mktemp("business"), scoped=(SCOPED,), days=40) as served:
        yield served


@pytest.fixture(scope="module")
def at() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# The summary's figures and the KPIs they are.
KPIS = {
    "mrr": "mrr",
    "arr": "arr",
    "arpu": "arpu",
    "nrr": "net_revenue_retention",
    "grr": "gross_revenue_retention",
    "logo_churn_rate": "logo_churn_rate",
    "revenue_churn_rate": "revenue_churn_rate",
    "expansion_rate": "expansion_rate",
    "cac": "cac",
    "dau": "dau",
    "mau": "mau",
    "signups": "new_signups_daily",
}


def test_the_summary_is_the_engines_and_agrees_with_the_kpis(app: Console, at: datetime) -> None:
    got = app.ok("/v1/business/summary", at=at.isoformat())
    assert list(got) == SUMMARY_KEYS
    with app.read_view() as store:
        engine = Engine(store, CATALOG)
        assert got == summary_json(engine.business_summary(settings=MrrSettings(), at=at))
        values = {kpi: engine.kpi(kpi, at=at).value for kpi in KPIS.values()}
    for key, kpi in KPIS.items():
        assert got[key] == (None if values[kpi] is None else pytest.approx(values[kpi], abs=0.01)), key
    assert got["mrr"] > 0 and got["mau"] > 0, "the simulated store should have revenue and users"


def test_mrr_movements_are_the_commands_json(app: Console, at: datetime) -> None:
    got = app.ok("/v1/business/mrr", by="week", periods=4, at=at.isoformat())
    with app.read_view() as store:
        rows = Engine(store, CATALOG).business_mrr(by="week", periods=4, at=at, settings=MrrSettings())
    assert got == mrr_json(rows)
    assert len(got["periods"]) == 4
    # 12 months by default, less those over before the store's first subscription record (no data, not 0)
    monthly = app.ok("/v1/business/mrr", at=at.isoformat())["periods"]
    [(began,)] = app.sql("SELECT min(ts) FROM subscriptions")
    assert 0 < len(monthly) <= 12 and all(datetime.fromisoformat(p["end"]) > began for p in monthly)


@pytest.mark.parametrize("path", ["/v1/business/summary", "/v1/business/mrr"])
def test_a_token_limited_to_one_tenant_is_refused(app: Console, path: str) -> None:
    answer = app.get(path, f"viewer@{SCOPED}")
    assert answer.status_code == 403
    assert "covers every tenant" in answer.json()["error"]


def test_a_bad_period_is_a_400_naming_it(app: Console) -> None:
    answer = app.get("/v1/business/mrr", by="year")
    assert answer.status_code == 400
    assert answer.json() == {"error": "query.by: Input should be 'day', 'week' or 'month'"}

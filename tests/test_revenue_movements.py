"""MRR movements per period (engine/revenue_movements.py): hand-computed cases on tiny ingested
stores, and the movements' identity on a simulated store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from healthdeck.engine.measures.base import Window
from healthdeck.engine.revenue_movements import (
    PeriodKind,
    PeriodMovements,
    expansion_rate,
    gross_retention,
    logo_churn_rate,
    ltv,
    movements,
    net_retention,
    revenue_churn_rate,
)
from healthdeck.engine.revenue_options import MrrSettings
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.sim import simulate
from healthdeck.store.connection import Store, open_store
from healthdeck.store.ingest import ingest_files

from .conftest import ingested, write_jsonl
from .test_mrr_rules import at, sub

CATALOG = load_checked_catalog()
MARCH = at("2026-03-01")


def months(
    tmp_path: Path, records: list[dict[str, Any]], settings: MrrSettings | None = None
) -> dict[str, PeriodMovements]:
    """January and February 2026's movements, by month label, in a store that began before them (a free
    plan recorded in 2025: it earns nothing, but the customers of these cases are not the opening book)."""
    tmp_path.mkdir(exist_ok=True)
    opening = sub("zz-free", "2025-06-01T00:00:00Z", 0, sid="zz-free-1")
    with open_store(ingested(tmp_path, [opening, *records]), read_only=True) as store:
        rows = Engine(store, CATALOG).business_mrr(by="month", periods=2, at=MARCH, settings=settings or MrrSettings())
    return {row.label: row for row in rows}


def moved(row: PeriodMovements) -> dict[str, float]:
    m = row.moved
    return {
        "mrr": round(m.end, 2),
        "new": round(m.new, 2),
        "expansion": round(m.expansion, 2),
        "contraction": round(m.contraction, 2),
        "churn": round(m.churn, 2),
        "reactivation": round(m.reactivation, 2),
    }


def test_a_mid_month_upgrade_is_expansion_in_that_month(tmp_path: Path) -> None:
    got = months(
        tmp_path,
        [
            sub("a", "2026-01-05T00:00:00Z", 1200, interval="year"),  # new in January: 1200 / 12 = 100
            sub("a", "2026-02-14T00:00:00Z", 3000, interval="year"),  # 3000 / 12 = 250: +150 in February
        ],
    )
    assert moved(got["2026-01"]) == {**_zero(), "mrr": 100, "new": 100}
    assert moved(got["2026-02"]) == {**_zero(), "mrr": 250, "expansion": 150}


def test_cancelling_one_of_two_subscriptions_is_contraction_not_churn(tmp_path: Path) -> None:
    got = months(
        tmp_path,
        [
            sub("a", "2025-12-01T00:00:00Z", 100, sid="s-1"),
            sub("a", "2025-12-01T00:00:00Z", 40, sid="s-2"),  # 140 at the start of January
            sub("a", "2026-02-10T00:00:00Z", 40, sid="s-2", status="canceled"),  # 140 → 100
        ],
    )
    assert moved(got["2026-01"]) == {**_zero(), "mrr": 140}
    assert moved(got["2026-02"]) == {**_zero(), "mrr": 100, "contraction": 40}


def test_churn_then_return_is_churn_then_reactivation_not_new(tmp_path: Path) -> None:
    got = months(
        tmp_path,
        [
            sub("a", "2025-12-01T00:00:00Z", 100),
            sub("a", "2026-01-20T00:00:00Z", 100, status="canceled"),  # January: 100 → 0, churn 100
            sub("a", "2026-02-03T00:00:00Z", 80),  # February: 0 → 80, it paid before: reactivation
        ],
    )
    assert moved(got["2026-01"]) == {**_zero(), "mrr": 0, "churn": 100}
    assert moved(got["2026-02"]) == {**_zero(), "mrr": 80, "reactivation": 80}
    assert got["2026-02"].moved.new_customers == 0


def test_a_one_off_discounts_end_is_no_movement_and_a_forever_discount_lowers_mrr(tmp_path: Path) -> None:
    got = months(
        tmp_path,
        [
            # 20 % off the first invoice only: MRR 100 throughout, and the discount's end moves nothing.
            sub("once", "2026-01-05T00:00:00Z", 100, discount_pct=20, discount_duration="once"),
            sub("once", "2026-02-05T00:00:00Z", 100),
            # 20 % off forever: MRR 80.
            sub("forever", "2026-01-05T00:00:00Z", 100, discount_pct=20, discount_duration="forever"),
        ],
    )
    assert moved(got["2026-01"]) == {**_zero(), "mrr": 180, "new": 180}
    assert moved(got["2026-02"]) == {**_zero(), "mrr": 180}


def test_a_new_rate_restates_every_period_and_is_never_a_movement(tmp_path: Path) -> None:
    records = [sub("eu", "2025-12-01T00:00:00Z", 100, currency="EUR")]
    old = months(tmp_path / "a", records, MrrSettings(rates={"EUR": 1.10}))
    new = months(tmp_path / "b", records, MrrSettings(rates={"EUR": 1.20}))
    assert moved(old["2026-02"]) == {**_zero(), "mrr": 110}  # 100 EUR × 1.10
    assert moved(new["2026-02"]) == {**_zero(), "mrr": 120}  # 100 EUR × 1.20, and still no movement


def test_nrr_and_grr_on_a_three_customer_cohort(tmp_path: Path) -> None:
    with open_store(
        ingested(
            tmp_path,
            [
                sub("a", "2025-12-01T00:00:00Z", 100),
                sub("a", "2026-01-10T00:00:00Z", 150),  # +50 expansion
                sub("b", "2025-12-01T00:00:00Z", 200),
                sub("b", "2026-01-10T00:00:00Z", 120),  # −80 contraction
                sub("c", "2025-12-01T00:00:00Z", 300),
                sub("c", "2026-01-10T00:00:00Z", 300, status="canceled"),  # −300 churn
                sub("d", "2026-01-10T00:00:00Z", 500),  # new: outside the cohort
            ],
        ),
        read_only=True,
    ) as store:
        book = Engine(store, CATALOG).mrr_book(MrrSettings())
    m = movements(book, Window(at("2026-01-01"), at("2026-01-31")))
    # Start: 100 + 200 + 300 = 600. NRR = (600 + 50 − 80 − 300) / 600 = 270 / 600 = 45 %.
    # GRR = (600 − 80 − 300) / 600 = 220 / 600 = 36.67 %. The seed's formulas leave contraction
    # out: its NRR would be (600 + 50 − 300) / 600 = 58.33 %, its GRR (600 − 300) / 600 = 50 %.
    assert net_retention(m) == pytest.approx(45.0)
    assert gross_retention(m) == pytest.approx(220 / 6)
    assert logo_churn_rate(m) == pytest.approx(100 / 3)  # 1 of 3
    assert revenue_churn_rate(m) == pytest.approx(50.0)  # 300 / 600
    assert expansion_rate(m) == pytest.approx(50 / 6)  # 50 / 600
    # ARPU at the end: (150 + 120 + 500) / 3 = 256.67; monthly logo churn: 1/3 × 30 / 30 days.
    assert ltv(m, Window(at("2026-01-01"), at("2026-01-31"))) == pytest.approx(770 / 3 * 3)


def _zero() -> dict[str, float]:
    return dict.fromkeys(("mrr", "new", "expansion", "contraction", "churn", "reactivation"), 0.0)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(tmp_path_factory.mktemp("sim") / "store.duckdb", create=True)
    simulate(store, tenants=60, days=120, seed=5, requests_per_day=500)
    _reactivate(store, tmp_path_factory.mktemp("returns") / "returns.jsonl")
    try:
        yield store
    finally:
        store.close()


RETURNS_SQL = """
SELECT tenant_id, min(ts) + INTERVAL 20 DAY FROM subscriptions
WHERE status = 'canceled' AND ts < (SELECT max(ts) - INTERVAL 30 DAY FROM subscriptions)
GROUP BY tenant_id ORDER BY tenant_id LIMIT 3
"""


def _reactivate(store: Store, path: Path) -> None:
    """Bring back a few churned tenants 20 days after their cancellation (the simulation has no returns)."""
    returns = store.con.execute(RETURNS_SQL).fetchall()
    assert returns, "the simulation should have churned tenants"
    records = [sub(tenant, when.isoformat(), 77, sid=f"back-{tenant}") for tenant, when in returns]
    ingest_files(store, [str(write_jsonl(path, records))])


@pytest.mark.parametrize(("by", "count"), [("day", 120), ("week", 18), ("month", 5)])
def test_every_periods_movements_add_up_to_its_change_of_mrr(simulated: Store, by: PeriodKind, count: int) -> None:
    engine = Engine(simulated, CATALOG)
    end = simulated.con.execute("SELECT max(ts) + INTERVAL 1 SECOND FROM subscriptions").fetchone()
    assert end is not None
    rows = engine.business_mrr(by=by, periods=count, at=end[0], settings=MrrSettings())
    kinds = {"new": 0, "expansion": 0, "contraction": 0, "churn": 0, "reactivation": 0}
    for row in rows:
        m = row.moved
        assert m.end - m.start == pytest.approx(m.new + m.expansion + m.reactivation - m.contraction - m.churn)
        for kind in kinds:
            kinds[kind] += getattr(m, kind) > 0
    # The simulation has every kind of movement, so the identity is tested on each of them.
    assert all(kinds.values()), kinds
    # The periods follow each other: one's end is the next one's start.
    assert all(a.moved.end == pytest.approx(b.moved.start) for a, b in pairwise(rows))


def test_the_kpis_and_the_movements_are_one_definition(simulated: Store) -> None:
    engine = Engine(simulated, CATALOG)
    end = simulated.con.execute("SELECT max(ts) + INTERVAL 1 SECOND FROM subscriptions").fetchone()
    assert end is not None
    moment: datetime = end[0].astimezone(UTC)
    last = engine.business_mrr(by="month", periods=1, at=moment, settings=MrrSettings())[-1]
    assert engine.kpi("mrr", at=moment).value == pytest.approx(last.moved.end)

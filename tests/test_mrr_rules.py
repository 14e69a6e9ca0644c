"""The MRR rules (engine/mrr.py), each on a tiny store built by the real `healthdeck ingest`.

Every expected number is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import doctest
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from healthdeck.engine import mrr
from healthdeck.engine.mrr import Book, load_states
from healthdeck.engine.revenue_options import MrrSettings, load_rates
from healthdeck.errors import HealthdeckError
from healthdeck.store.connection import open_store
from healthdeck.store.migrations import MIGRATIONS, migrate

from .conftest import ingested

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def sub(tenant: str, ts: str, amount: float, *, sid: str | None = None, **extra: Any) -> dict[str, Any]:
    """One subscription state: monthly, USD, active unless said otherwise."""
    return {
        "kind": "subscriptions",
        "ts": ts,
        "tenant_id": tenant,
        "subscription_id": sid or f"s-{tenant}",
        "plan": "pro",
        "tier": "PRO",
        "interval": "month",
        "amount": amount,
        "currency": "USD",
        "status": "active",
        **extra,
    }


def book(tmp_path: Path, records: list[dict[str, Any]], settings: MrrSettings | None = None) -> Book:
    tmp_path.mkdir(exist_ok=True)
    with open_store(ingested(tmp_path, records), read_only=True) as store:
        return Book.of(load_states(store.con, None), settings or MrrSettings())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_rules_examples_hold() -> None:
    assert doctest.testmod(mrr).failed == 0


def test_intervals_are_normalised_to_a_month_and_seats_multiply(tmp_path: Path) -> None:
    mrr_now = book(
        tmp_path,
        [
            sub("annual", "2026-01-05T00:00:00Z", 2000, interval="year"),  # 2000 / 12 = 166.67
            sub("quarterly", "2026-01-05T00:00:00Z", 300, interval="quarter"),  # 300 / 3 = 100
            sub("seats", "2026-01-05T00:00:00Z", 20, quantity=3),  # 20 × 3 = 60
        ],
    ).tenant_mrr(at("2026-02-01"))
    assert round(mrr_now["annual"], 2) == 166.67
    assert mrr_now["quarterly"] == pytest.approx(100)
    assert mrr_now["seats"] == pytest.approx(60)


def test_trials_free_plans_unpaid_and_canceled_count_nothing_and_past_due_counts(tmp_path: Path) -> None:
    mrr_now = book(
        tmp_path,
        [
            sub("trial", "2026-01-05T00:00:00Z", 99, status="trialing"),
            sub("free", "2026-01-05T00:00:00Z", 0, tier="FREE"),
            sub("unpaid", "2026-01-05T00:00:00Z", 99, status="unpaid"),
            sub("gone", "2026-01-05T00:00:00Z", 99, status="canceled"),
            sub("late", "2026-01-05T00:00:00Z", 99, status="past_due"),  # still owed: counts 99
        ],
    ).tenant_mrr(at("2026-02-01"))
    assert mrr_now == {"late": pytest.approx(99)}


def test_only_a_forever_discount_lowers_mrr_unless_every_discount_is_asked_for(tmp_path: Path) -> None:
    records = [
        sub("forever", "2026-01-05T00:00:00Z", 100, discount_pct=20, discount_duration="forever"),  # 80
        sub("unsaid", "2026-01-05T00:00:00Z", 100, discount_pct=20),  # no duration: forever, 80
        sub("once", "2026-01-05T00:00:00Z", 100, discount_pct=20, discount_duration="once"),  # ignored: 100
        sub("repeating", "2026-01-05T00:00:00Z", 100, discount_pct=50, discount_duration="repeating"),  # 100
    ]
    default = book(tmp_path / "a", records).tenant_mrr(at("2026-02-01"))
    assert default == pytest.approx({"forever": 80, "unsaid": 80, "once": 100, "repeating": 100})
    every = book(tmp_path / "b", records, MrrSettings(discounts="all")).tenant_mrr(at("2026-02-01"))
    assert every == pytest.approx({"forever": 80, "unsaid": 80, "once": 80, "repeating": 50})


def test_a_foreign_currency_is_converted_at_the_files_one_rate(tmp_path: Path) -> None:
    (tmp_path / "rates.csv").write_text("currency,usd_rate\nEUR,1.10\ngbp,1.25\n")
    rates = load_rates(tmp_path / "rates.csv")
    assert rates == {"EUR": 1.10, "GBP": 1.25}
    mrr_now = book(
        tmp_path,
        [
            sub("eu", "2026-01-05T00:00:00Z", 1200, interval="year", currency="EUR"),  # 100 EUR × 1.10 = 110
            sub("uk", "2026-01-05T00:00:00Z", 40, currency="GBP"),  # 40 × 1.25 = 50
        ],
        MrrSettings(rates=rates),
    ).tenant_mrr(at("2026-02-01"))
    assert mrr_now == pytest.approx({"eu": 110, "uk": 50})


def test_a_rates_file_in_yaml_reads_the_same(tmp_path: Path) -> None:
    (tmp_path / "rates.yaml").write_text("EUR: 1.10\nGBP: 1.25\n")
    assert load_rates(tmp_path / "rates.yaml") == {"EUR": 1.10, "GBP": 1.25}


def test_a_currency_without_a_rate_stops_with_the_setting_to_use(tmp_path: Path) -> None:
    with pytest.raises(HealthdeckError, match=r"subscriptions are in EUR .* --rates FILE or HEALTHDECK_FX_RATES"):
        book(tmp_path, [sub("eu", "2026-01-05T00:00:00Z", 100, currency="EUR")])


@pytest.mark.parametrize(
    ("text", "message"),
    [("EUR,abc\n", r"rates.csv:1: 'abc' is not a positive USD rate"), ("EUR,1.1\nGBP,-2\n", r"rates.csv:2: '-2'")],
)
def test_a_bad_rate_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "rates.csv").write_text(text)
    with pytest.raises(HealthdeckError, match=message):
        load_rates(tmp_path / "rates.csv")


def test_a_wrong_setting_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHDECK_MRR_CHURN_AT", "whenever")
    with pytest.raises(HealthdeckError, match="--churn-at / HEALTHDECK_MRR_CHURN_AT: 'whenever' is not one of"):
        MrrSettings.from_environment()


def test_churn_is_recognised_at_cancellation_or_at_the_billing_periods_end(tmp_path: Path) -> None:
    # Billed monthly from Jan 10; canceled Feb 20, inside the period Feb 10 – Mar 10.
    records = [sub("a", "2026-01-10T00:00:00Z", 50), sub("a", "2026-02-20T00:00:00Z", 50, status="canceled")]
    at_cancel = book(tmp_path / "a", records)
    assert at_cancel.tenant_mrr(at("2026-02-21")) == {}
    at_end = book(tmp_path / "b", records, MrrSettings(churn_at="period_end"))
    assert at_end.tenant_mrr(at("2026-03-09")) == pytest.approx({"a": 50})
    assert at_end.tenant_mrr(at("2026-03-10T00:00:01")) == {}


def test_a_state_counts_from_just_after_its_time(tmp_path: Path) -> None:
    # Windows are [start, end): a state recorded at midnight belongs to the period starting then.
    records = [sub("a", "2026-01-01T00:00:00Z", 50)]
    assert book(tmp_path, records).tenant_mrr(JAN) == {}


def test_an_older_store_gains_the_discount_duration_column_and_keeps_its_discounts(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    # The version before the migration that adds the column (later migrations came after it).
    migrate(con, target=[m.__name__ for m in MIGRATIONS].index("_add_discount_duration"))
    # Step 1 creates today's tables: drop the column to have the table an older healthdeck made.
    con.execute("ALTER TABLE subscriptions DROP COLUMN discount_duration")
    con.execute(
        "INSERT INTO subscriptions (event_id, ts, tenant_id, subscription_id, plan, tier, interval, amount, "
        "currency, discount_pct, status, _ingested_at) VALUES ('e', '2026-01-05T00:00:00Z', 'a', 's', 'pro', "
        "'PRO', 'month', 100, 'USD', 25, 'active', now())"
    )
    migrate(con)
    # The discount recorded before the field existed is forever: 100 × 0.75.
    assert Book.of(load_states(con, None), MrrSettings()).tenant_mrr(at("2026-02-01")) == {"a": 75.0}

"""`healthdeck business mrr` and `business summary`, run as the real command on tiny stores whose
every figure is worked out by hand in the comments."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from .conftest import ingested, run_cli
from .test_mrr_rules import sub

MARCH = "2026-03-01T00:00:00Z"
SUMMARY_KEYS = [
    "mrr",
    "arr",
    "arpu",
    "nrr",
    "grr",
    "logo_churn_rate",
    "revenue_churn_rate",
    "expansion_rate",
    "quick_ratio",
    "ltv",
    "cac",
    "ltv_cac",
    "dau",
    "mau",
    "signups",
    "conversions",
]
# January: start a 140 + b 100 = 240; b churns (−100), c's $2,000 annual plan is new (+166.67).
# February: a cancels one of its two subscriptions (−40 contraction), b comes back at 80 (reactivation).
MOVES = [
    sub("a", "2025-12-01T00:00:00Z", 100, sid="a-1"),
    sub("a", "2025-12-01T00:00:00Z", 40, sid="a-2"),
    sub("a", "2026-02-10T00:00:00Z", 40, sid="a-2", status="canceled"),
    sub("b", "2025-12-01T00:00:00Z", 100),
    sub("b", "2026-01-20T00:00:00Z", 100, status="canceled"),
    sub("b", "2026-02-03T00:00:00Z", 80),
    sub("c", "2026-01-05T00:00:00Z", 2000, interval="year"),
]


@pytest.fixture(scope="module")
def moves_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingested(tmp_path_factory.mktemp("moves"), MOVES)


def business(*args: str) -> dict:
    result = run_cli("business", *args, "--output", "json")
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def test_mrr_by_month_as_json_is_each_months_movements(moves_db: Path) -> None:
    got = business("mrr", "--by", "month", "--periods", "2", "--at", MARCH, "--db", str(moves_db))
    january, february = got["periods"]
    assert january == {
        "period": "2026-01",
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2026-02-01T00:00:00+00:00",
        "mrr": 306.67,  # a 140 + c 166.67
        "new": 166.67,
        "expansion": 0.0,
        "contraction": 0.0,
        "churn": 100.0,
        "reactivation": 0.0,
        "net_new": 66.67,  # 306.67 − 240
        "arr": 3680.0,  # 306.67 × 12 (2000 + 140 × 12)
        "arpu": 153.33,  # 306.67 / 2
        "quick_ratio": 1.6667,  # 166.67 / 100
    }
    assert february == {
        "period": "2026-02",
        "start": "2026-02-01T00:00:00+00:00",
        "end": "2026-03-01T00:00:00+00:00",
        "mrr": 346.67,  # a 100 + b 80 + c 166.67
        "new": 0.0,
        "expansion": 0.0,
        "contraction": 40.0,
        "churn": 0.0,
        "reactivation": 80.0,
        "net_new": 40.0,
        "arr": 4160.0,  # 346.67 × 12
        "arpu": 115.56,  # 346.67 / 3
        "quick_ratio": 2.0,  # 80 / 40
    }


def test_mrr_by_week_and_day_end_where_asked(moves_db: Path) -> None:
    weeks = business("mrr", "--by", "week", "--periods", "3", "--at", MARCH, "--db", str(moves_db))["periods"]
    # 2026-03-01 is a Sunday: the last week began on Monday 23 February.
    assert [w["period"] for w in weeks] == ["2026-02-09", "2026-02-16", "2026-02-23"]
    assert weeks[0]["contraction"] == 40.0  # a-2 was canceled on Tuesday 10 February
    days = business("mrr", "--by", "day", "--at", MARCH, "--db", str(moves_db))["periods"]
    assert len(days) == 30 and days[-1]["period"] == "2026-02-28" and days[-1]["mrr"] == 346.67


def test_mrr_as_a_table_shows_each_period_with_losses_negative(moves_db: Path) -> None:
    result = run_cli("business", "mrr", "--by", "month", "--periods", "2", "--at", MARCH, "--db", str(moves_db))
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip().startswith("2026-")}
    assert lines["2026-01"][:7] == ["2026-01", "306.67", "166.67", "0.00", "0.00", "0.00", "-100.00"]
    assert lines["2026-02"][:7] == ["2026-02", "346.67", "0.00", "0.00", "80.00", "-40.00", "0.00"]


SUMMED = [
    sub("a", "2025-12-01T00:00:00Z", 100),
    sub("a", "2026-02-10T00:00:00Z", 150),  # +50 expansion
    sub("b", "2025-12-01T00:00:00Z", 1200, interval="year"),  # 100 a month throughout
    sub("c", "2026-02-15T00:00:00Z", 60),  # a new paying customer
    {"kind": "spend", "ts": "2026-02-20T00:00:00Z", "category": "marketing", "amount": 600},
]


def test_the_summary_has_the_dashboards_keys_and_no_ltv_or_quick_ratio_without_losses(tmp_path: Path) -> None:
    got = business("summary", "--at", MARCH, "--db", str(ingested(tmp_path, SUMMED)))
    assert list(got) == SUMMARY_KEYS
    # Over the 30 days to 1 March: start a 100 + b 100 = 200; end 150 + 100 + 60 = 310.
    assert {k: got[k] for k in SUMMARY_KEYS[:12]} == {
        "mrr": 310.0,
        "arr": 3720.0,
        "arpu": 103.33,  # 310 / 3
        "nrr": 125.0,  # (200 + 50) / 200
        "grr": 100.0,  # nothing lost
        "logo_churn_rate": 0.0,
        "revenue_churn_rate": 0.0,
        "expansion_rate": 25.0,  # 50 / 200
        "quick_ratio": None,  # (60 + 50) / 0: no losses
        "ltv": None,  # ARPU / 0 monthly churn: unbounded
        "cac": 600.0,  # $600 marketing / 1 new paying customer (c)
        "ltv_cac": None,
    }
    assert got["conversions"] == 0  # nobody started paying on 28 February


def test_the_summary_table_shows_the_dashboards_cards(tmp_path: Path) -> None:
    result = run_cli("business", "summary", "--at", MARCH, "--db", str(ingested(tmp_path, SUMMED)))
    assert result.returncode == 0, result.stderr
    for shown in ("MRR", "$310.00", "ARR", "$3,720.00", "NRR", "125.0%", "DAU", "MAU", "Conversions", "CAC"):
        assert shown in result.stdout
    assert "✓ GOOD" in result.stdout  # NRR 125 % > 120 %


def test_a_foreign_currency_needs_a_rate_which_the_option_or_the_variable_gives(tmp_path: Path) -> None:
    db = str(ingested(tmp_path, [sub("eu", "2026-01-05T00:00:00Z", 100, currency="EUR")]))
    missing = run_cli("business", "mrr", "--by", "month", "--at", MARCH, "--db", db)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "error: subscriptions are in EUR as well as USD, and no USD rate is given for it: give a rates file "
        "with --rates FILE or HEALTHDECK_FX_RATES (lines `currency,usd_rate`)"
    ]
    (tmp_path / "rates.csv").write_text("EUR,1.1\n")
    args = ("mrr", "--by", "month", "--periods", "1", "--at", MARCH, "--db", db)
    assert business(*args, "--rates", str(tmp_path / "rates.csv"))["periods"][0]["mrr"] == 110.0  # 100 × 1.1
    via_env = run_cli("business", *args, "-o", "json", env={"HEALTHDECK_FX_RATES": str(tmp_path / "rates.csv")})
    assert orjson.loads(via_env.stdout)["periods"][0]["mrr"] == 110.0


def test_churn_at_period_end_is_a_setting_of_the_command(moves_db: Path) -> None:
    # b, billed monthly from 1 December, is canceled on Tuesday 20 January, inside the period that
    # ends on 1 February: at cancellation it churns in the week of 19 January, at period end in the next.
    args = ("mrr", "--by", "week", "--periods", "2", "--at", "2026-02-02T00:00:00Z", "--db", str(moves_db))
    at_cancel = business(*args)["periods"]
    at_end = business(*args, "--churn-at", "period_end")["periods"]
    assert [(w["period"], w["churn"]) for w in at_cancel] == [("2026-01-19", 100.0), ("2026-01-26", 0.0)]
    assert [(w["period"], w["churn"]) for w in at_end] == [("2026-01-19", 0.0), ("2026-01-26", 100.0)]


def test_a_wrong_option_value_is_one_line_and_exit_2(moves_db: Path) -> None:
    result = run_cli("business", "mrr", "--by", "month", "--discounts", "some", "--db", str(moves_db))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: --discounts / HEALTHDECK_MRR_DISCOUNTS: 'some' is not one of forever, all; choose one of them"
    )

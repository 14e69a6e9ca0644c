"""Numbers on a young store: windows the data does not cover, the store's starting book, the
[start, end) rule at a window's edge, and how trends, exports and comparisons say what they judge.

Every expected figure is worked out by hand in the comments from the records each test writes.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from healthdeck.engine.scoring import Status
from healthdeck.engine.serialize import health_json
from healthdeck.store.connection import Store, open_store

from .conftest import run_cli
from .test_engine import CATALOG, activity, iso, load, subscription

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# Activity is recorded from this instant on (a store begun ten and a half days before AT).
FIRST_ACTIVITY = datetime(2026, 11, 10, 0, 0, tzinfo=UTC)


def user(user_id: str, signup: datetime) -> dict[str, Any]:
    return {"kind": "users", "user_id": user_id, "tenant_id": "t1", "signup_at": iso(signup)}


def spend(moment: datetime, amount: float, category: str = "marketing") -> dict[str, Any]:
    return {"kind": "spend", "ts": iso(moment), "category": category, "amount": amount}


def heartbeat(moment: datetime) -> dict[str, Any]:
    """A request at `moment`: the store is reported up to then (a window after the newest event has no data)."""
    return {
        "kind": "requests",
        "event_id": f"heartbeat-{moment:%Y%m%d%H%M%S}",
        "ts": iso(moment),
        "tenant_id": "t1",
        "endpoint": "/v1/infer",
        "method": "GET",
        "status": 200,
        "latency_ms": 1.0,
    }


def test_windows_before_the_first_record_have_no_data_not_zero(store: Store, tmp_path: Path) -> None:
    records = [
        activity("x", FIRST_ACTIVITY),  # the first activity ever recorded
        # Users who signed up before activity was recorded: whether they trained is unknowable.
        *[user(f"old{i}", AT - timedelta(days=45)) for i in range(2)],  # in the previous 30 days
        *[user(f"b{i}", AT - timedelta(days=25)) for i in range(4)],  # in this window, before the data
        user("n1", AT - timedelta(days=5)),
        user("n2", AT - timedelta(days=5)),
        activity("n1", AT - timedelta(days=4), "training_job_completed"),
        heartbeat(AT),
    ]
    engine = load(store, tmp_path, records)
    activation = engine.kpi("activation_rate", at=AT)
    # Measured from the first record on: n1 of the signups n1, n2 (not 1 of 6 with b0..b3).
    assert activation.value == pytest.approx(50.0)
    assert activation.window.start == FIRST_ACTIVITY and activation.window.end == AT
    # The previous 30 days lie before the data: no data, not 0 % (old0, old1 "never activated").
    assert activation.previous is None and activation.previous_score is None
    d1 = engine.kpi("return_rate_d1", at=AT)
    assert d1.previous is None and d1.previous_score is None  # old0, old1's day 1 is unrecorded


def test_return_rate_counts_only_return_days_that_are_over_and_recorded(store: Store, tmp_path: Path) -> None:
    records = [
        activity("x", FIRST_ACTIVITY),
        user("a", datetime(2026, 11, 8, 10, tzinfo=UTC)),  # day 1 is 11-09, before the data: left out
        user("b", datetime(2026, 11, 12, 10, tzinfo=UTC)),
        activity("b", datetime(2026, 11, 13, 9, tzinfo=UTC)),  # came back on day 1
        user("c", datetime(2026, 11, 12, 11, tzinfo=UTC)),  # did not come back on 11-13
        user("d", datetime(2026, 11, 19, 9, tzinfo=UTC)),  # day 1 is today (11-20), still running at AT
        heartbeat(datetime(2026, 11, 21, tzinfo=UTC)),  # events are reported until 11-21 00:00
    ]
    engine = load(store, tmp_path, records)
    # b of {b, c}; counting a and d as "did not return" would give 1 of 4 = 25 %.
    assert engine.kpi("return_rate_d1", at=AT).value == pytest.approx(50.0)
    midnight = datetime(2026, 11, 21, tzinfo=UTC)
    assert engine.kpi("return_rate_d1", at=midnight - timedelta(seconds=1)).value == pytest.approx(50.0)
    # Once 11-20 is over, d's day 1 is known: d did not come back, 1 of {b, c, d}.
    assert engine.kpi("return_rate_d1", at=midnight).value == pytest.approx(100 / 3)


def test_cac_does_not_count_the_starting_book_as_new_customers(store: Store, tmp_path: Path) -> None:
    began = AT - timedelta(days=10)  # the store's first subscription and spend records
    records = [
        *[subscription(t, began, 99) for t in ("A", "B", "C")],  # the starting book: paying at the start
        subscription("D", began, 99, status="trialing"),
        subscription("D", AT - timedelta(days=5), 99),  # converts: a new paying customer
        subscription("E", AT - timedelta(days=3), 99),  # a new paying customer
        spend(began, 7000),
        spend(AT - timedelta(days=2), 500, "compute"),  # not sales or marketing
        heartbeat(AT),
    ]
    engine = load(store, tmp_path, records)
    cac = engine.kpi("cac", at=AT)
    assert cac.value == pytest.approx(7000 / 2)  # D and E; with A, B and C it would read 1,400
    assert cac.status is Status.CRITICAL  # > 3000
    # NRR needs the MRR 30 days ago, before the data: no data, and the explanation says why.
    nrr = health_json(engine.health(at=AT, areas=["business"]))["areas"]["business"]["kpis"]
    said = next(k["explanation"] for k in nrr if k["id"] == "net_revenue_retention")
    why = f"the data covers only {began:%Y-%m-%d %H:%M} to {AT:%Y-%m-%d %H:%M} UTC of the window"
    assert said == f"Net revenue retention: no data ({why}); left out of the score"


def test_a_change_at_a_window_start_belongs_to_that_window(store: Store, tmp_path: Path) -> None:
    start = AT - timedelta(days=30)
    records = [
        subscription("A", AT - timedelta(days=90), 100),
        subscription("A", AT - timedelta(days=1), 100, status="canceled"),
        subscription("E", start, 50),  # starts paying exactly at the 30-day window's start
        spend(AT - timedelta(days=90), 1),
        spend(AT - timedelta(days=10), 1000),
    ]
    engine = load(store, tmp_path, records)
    # The state at an instant is what the records before it left: E is not paying yet at `start`.
    assert engine.kpi("mrr", at=start).value == pytest.approx(100.0)
    # So over [start, AT) E is new: the start has one customer (A), who churns.
    assert engine.kpi("logo_churn_rate", at=AT).value == pytest.approx(100.0)  # 1 of {A}, not 1 of {A, E}
    assert engine.kpi("net_revenue_retention", at=AT).value == pytest.approx(0.0)  # (100 − 100) / 100
    assert engine.kpi("cac", at=AT).value == pytest.approx(1000.0)  # and E is CAC's one new customer
    assert engine.kpi("mrr", at=AT).value == pytest.approx(50.0)


def test_the_scored_pack_judges_each_quantity_once() -> None:
    seen: dict[str, str] = {}
    for kpi in CATALOG.scored():
        if kpi.thresholds is None:
            continue
        quantity = orjson.dumps([kpi.measure, kpi.params, kpi.window.total_seconds()], option=orjson.OPT_SORT_KEYS)
        assert quantity.decode() not in seen, f"{kpi.id} judges what {seen[quantity.decode()]} judges"
        seen[quantity.decode()] = kpi.id
    assert CATALOG.get("ltv").thresholds is None and CATALOG.get("ltv_cac_ratio").thresholds is not None


def growing_slowly(tmp_path: Path) -> Path:
    """A store whose MRR grew from 100 to 103.2 USD in the last 30 days (+3.2 %, CRITICAL under 5 %)."""
    db = tmp_path / "mrr.duckdb"
    with open_store(db, create=True) as store:
        load(
            store,
            tmp_path,
            [
                subscription("A", AT - timedelta(days=90), 100),
                subscription("B", AT - timedelta(days=10), 3.2),
                activity("x", AT - timedelta(hours=1)),  # the store is live: MRR's data is not stale
            ],
        )
    return db


def test_a_trend_kpi_explains_the_growth_it_judged(tmp_path: Path) -> None:
    db = growing_slowly(tmp_path)
    said = "MRR 103.2 USD: growth +3.2% month over month is CRITICAL (good >= 10%, critical < 5%)"
    args = ("health", "--business", "--at", AT.isoformat(), "--db", str(db))
    report = orjson.loads(run_cli(*args, "-o", "json").stdout)
    mrr = next(k for k in report["areas"]["business"]["kpis"] if k["id"] == "mrr")
    assert mrr["explanation"] == said
    assert mrr["threshold"] == "good >= 10%, critical < 5% on growth month over month"
    assert any(said in line for line in report["explanation"])
    assert said in run_cli(*args, "-o", "markdown").stdout
    assert said in " ".join(run_cli(*args, env={"COLUMNS": "250"}).stdout.split())


def test_export_includes_its_start_and_judges_as_get_does(store: Store, tmp_path: Path) -> None:
    records = [activity(f"u{i}", AT - timedelta(hours=2)) for i in range(10)]  # DAU 10
    records += [activity(f"u{i}", AT - timedelta(days=7, hours=2)) for i in range(8)]  # 8 a week before
    records.append(activity("early", AT - timedelta(days=40)))
    engine = load(store, tmp_path, records)
    kpis = [CATALOG.get("dau"), CATALOG.get("stickiness")]
    rows = engine.export(kpis, start=AT - timedelta(hours=1), end=AT, step=timedelta(hours=1))
    assert [(r.at, r.kpi.id) for r in rows] == [
        (AT - timedelta(hours=1), "dau"),
        (AT - timedelta(hours=1), "stickiness"),
        (AT, "dau"),
        (AT, "stickiness"),
    ]
    for row in rows:
        got = engine.kpi(row.kpi.id, at=row.at)
        assert (row.value, row.status) == (got.value, got.status)
    assert rows[2].status is Status.GOOD  # DAU +25 % against a week before, not INFO


def test_compare_measures_periods_of_the_same_length(store: Store, tmp_path: Path) -> None:
    thursday = datetime(2026, 11, 19, 8, 0, tzinfo=UTC)  # this week so far: 3 days and 8 hours
    last_week = (datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))
    this_week = (datetime(2026, 11, 16, tzinfo=UTC), thursday)
    records = [activity("early", datetime(2026, 11, 1, tzinfo=UTC))]
    for week in (last_week[0], this_week[0]):
        for d in range(7):
            noon = week + timedelta(days=d, hours=12)
            records += [activity(f"u{week:%d}-{d}-{i}", noon) for i in range(10) if noon < thursday]
    engine = load(store, tmp_path, records)
    from healthdeck.engine.measures import Window

    result = engine.compare([CATALOG.get("dau")], Window(*last_week), Window(*this_week), at=thursday)
    length = thursday - this_week[0]
    assert result.first == Window(last_week[0], last_week[0] + length) and result.second == Window(*this_week)
    assert result.cut
    row = result.rows[0]
    # Monday to Wednesday of each week: 30 distinct users each (the whole of last week had 70).
    assert (row.first, row.second, row.change_pct) == (30.0, 30.0, 0.0)


def test_kpis_with_data_counts_informational_kpis(tmp_path: Path) -> None:
    db = tmp_path / "signups.duckdb"
    tenant = {"kind": "tenants", "name": "x", "tier": "PRO", "plan": "pro", "enterprise": False}
    with open_store(db, create=True) as store:
        load(store, tmp_path, [{**tenant, "tenant_id": "A", "created_at": iso(AT - timedelta(hours=2))}])
    business = [k for k in CATALOG.scored() if k.area == "business"]
    text = run_cli("health", "--business", "--at", AT.isoformat(), "--db", str(db), env={"COLUMNS": "200"}).stdout
    assert f"1/{len(business)}" in text  # new signups (INFO, 1 today) has data


def test_watch_says_the_store_is_busy(tmp_path: Path) -> None:
    db = tmp_path / "busy.duckdb"
    with open_store(db, create=True):
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(120)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = run_cli(
            "metrics", "watch", "--name", "uptime", "--count", "1", "--db", str(db), env={"COLUMNS": "300"}
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0
    shown = " ".join(result.stdout.split())
    assert "store busy" in shown and f"process {holder.pid}" in shown and "Retrying every 5 s" in shown


def test_mrr_growth_needs_only_the_state_a_month_ago(store: Store, tmp_path: Path) -> None:
    # Recorded for 45 days: too young for a whole 30-day window 30 days ago, but MRR 30 days ago is known.
    records = [
        subscription("A", AT - timedelta(days=45), 100),
        subscription("B", AT - timedelta(days=10), 20),
        activity("x", AT - timedelta(hours=1)),  # the store is live: MRR's data is not stale
    ]
    mrr = load(store, tmp_path, records).kpi("mrr", at=AT)
    assert (mrr.value, mrr.previous) == (120.0, 100.0)
    assert mrr.change_pct == pytest.approx(20.0) and mrr.status is Status.GOOD
    assert mrr.previous_score is None  # MRR growth in the month before needs MRR 60 days ago: unknown

"""Signup-cohort retention and users' lifecycle per period, on tiny stores computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from healthdeck.engine.engagement import cohorts_json, lifecycle_json, period_starts
from healthdeck.errors import HealthdeckError
from healthdeck.store.connection import Store

from .conftest import ingested, run_cli
from .test_engine import load

# A Thursday: the week of Monday 16 November is still running.
AT = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)


def day(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}T10:00:00+00:00")


def user(user_id: str, signup: str, tenant: str = "t1") -> dict[str, Any]:
    return {"kind": "users", "user_id": user_id, "tenant_id": tenant, "signup_at": day(signup).isoformat()}


def act(user_id: str, when: str, tenant: str = "t1", event: str = "login") -> dict[str, Any]:
    return {"kind": "activity", "ts": day(when).isoformat(), "tenant_id": tenant, "user_id": user_id, "event": event}


COHORT_RECORDS = [
    user("a", "11-03"),  # cohort of Mon 2 Nov
    act("a", "11-04"),  # week 0
    act("a", "11-12"),  # week 1
    user("b", "11-05"),  # cohort of 2 Nov
    act("b", "11-10"),  # week 1
    act("b", "11-17"),  # week 2: still running at AT, so unknown
    user("f", "11-04", tenant="t2"),  # cohort of 2 Nov, never active
    user("c", "11-10"),  # cohort of Mon 9 Nov
    act("c", "11-11"),  # week 0; its week 1 (16 Nov) is not over
    user("d", "11-17"),  # signed up in the running week: not a cohort yet
    act("d", "11-17"),
    user("g", "10-28"),  # cohort of Mon 26 Oct
    act("g", "11-12"),  # week 2
    user("e", "10-20"),  # a cohort before the 3 weeks asked for
    act("e", "11-04"),
]


def test_cohort_retention_counts_only_weeks_that_are_over(store: Store, tmp_path: Path) -> None:
    engine = load(store, tmp_path, COHORT_RECORDS)
    answer = cohorts_json(engine.cohorts(weeks=3, at=AT), weeks=3, at=AT)
    assert answer["cohorts"] == [
        {"cohort": "2026-10-26", "users": 1, "retention": [0.0, 0.0, 100.0]},  # g
        # a, b, f: week 0 only a (1 of 3); week 1 a and b (2 of 3); week 2 runs until 23 Nov
        {"cohort": "2026-11-02", "users": 3, "retention": [33.3333, 66.6667, None]},
        {"cohort": "2026-11-09", "users": 1, "retention": [100.0, None, None]},
    ]
    assert answer["weeks"] == 3 and answer["at"] == AT.isoformat()


def test_cohorts_of_one_tenant(store: Store, tmp_path: Path) -> None:
    engine = load(store, tmp_path, COHORT_RECORDS)
    mine = engine.cohorts(weeks=3, at=AT, tenant="t1")
    assert [(c.week.isoformat(), c.users, c.retention) for c in mine] == [
        ("2026-10-26", 1, (0.0, 0.0, 100.0)),
        ("2026-11-02", 2, (50.0, 100.0, None)),  # a and b
        ("2026-11-09", 1, (100.0, None, None)),
    ]
    assert [c.users for c in engine.cohorts(weeks=3, at=AT, tenant="t2")] == [1]
    # One week asked: the last week over, its week 0.
    assert [(c.users, c.retention) for c in engine.cohorts(weeks=1, at=AT)] == [(1, (100.0,))]


def test_a_week_is_over_at_its_last_instant(store: Store, tmp_path: Path) -> None:
    engine = load(store, tmp_path, COHORT_RECORDS)
    monday = datetime(2026, 11, 16, tzinfo=UTC)
    # At Monday 00:00 the week of 9 Nov is over: c's cohort shows its week 0, a and b's their week 1.
    got = [(c.week.isoformat(), c.retention) for c in engine.cohorts(weeks=2, at=monday)]
    assert got == [("2026-11-02", (33.3333, 66.6667)), ("2026-11-09", (100.0, None))]


LIFECYCLE_RECORDS = [
    user("p", "10-01"),
    act("p", "10-20"),  # week of 19 Oct
    act("p", "11-03"),  # week of 2 Nov: back after a week away (resurrecting); dormant on 26 Oct and 9 Nov
    act("p", "11-17"),  # the running week: not shown
    user("r", "10-01"),
    act("r", "10-20"),
    act("r", "10-27"),  # returning in the weeks of 26 Oct, 2 Nov and 9 Nov
    act("r", "11-04"),
    act("r", "11-11"),
    user("q", "11-10"),
    act("q", "11-10"),  # signed up and active in the week of 9 Nov: new
    user("s", "10-01"),
    act("s", "11-12"),  # first active in the week of 9 Nov, weeks after signing up: new too
]


def test_lifecycle_per_week_by_hand(store: Store, tmp_path: Path) -> None:
    engine = load(store, tmp_path, LIFECYCLE_RECORDS)
    answer = lifecycle_json(engine.lifecycle(period="week", periods=3, at=AT), period="week", at=AT)
    assert answer["periods"] == [
        {"period": "2026-10-26", "active": 1, "new": 0, "returning": 1, "resurrecting": 0, "dormant": 1},
        {"period": "2026-11-02", "active": 2, "new": 0, "returning": 1, "resurrecting": 1, "dormant": 0},
        {"period": "2026-11-09", "active": 3, "new": 2, "returning": 1, "resurrecting": 0, "dormant": 1},
    ]
    assert answer["period"] == "week"


def test_lifecycle_per_day_and_month(store: Store, tmp_path: Path) -> None:
    engine = load(store, tmp_path, LIFECYCLE_RECORDS)
    days = engine.lifecycle(period="day", periods=2, at=AT)  # 17 and 18 Nov
    assert [(d.start.isoformat(), d.active, d.resurrecting, d.dormant) for d in days] == [
        ("2026-11-17", 1, 1, 0),  # p comes back
        ("2026-11-18", 0, 0, 1),  # and is gone the next day
    ]
    months = engine.lifecycle(period="month", periods=1, at=AT)  # October: p and r new (first active)
    assert [(m.start.isoformat(), m.active, m.new, m.dormant) for m in months] == [("2026-10-01", 2, 2, 0)]


def test_period_starts_cross_a_year() -> None:
    at = datetime(2026, 1, 15, 8, tzinfo=UTC)
    assert period_starts(at, "month", 2) == [datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC)]
    assert period_starts(at, "day", 1) == [datetime(2026, 1, 14, tzinfo=UTC)]


def test_a_span_out_of_range_is_refused(store: Store, tmp_path: Path) -> None:
    engine = load(store, tmp_path, COHORT_RECORDS)
    with pytest.raises(HealthdeckError, match="--weeks 0: must be between 1 and 520"):
        engine.cohorts(weeks=0, at=AT)
    with pytest.raises(HealthdeckError, match="--periods 521: must be between 1 and 520"):
        engine.lifecycle(period="week", periods=521, at=AT)


# ---------------------------------------------------------------------------------------------- CLI


def test_business_cohorts_prints_the_triangle_and_its_json(tmp_path: Path) -> None:
    db = str(ingested(tmp_path, COHORT_RECORDS))
    shown = run_cli("business", "cohorts", "--weeks", "3", "--at", AT.isoformat(), "--db", db)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    rows = {line.split()[1]: line.split("│")[2:-1] for line in lines if line.startswith("│ 2026")}
    assert [cell.strip() for cell in rows["2026-11-02"]] == ["3", "33.3", "66.7", ""]
    assert [cell.strip() for cell in rows["2026-10-26"]] == ["1", "0.0", "0.0", "100.0"]
    assert "Blank: that week is not over yet" in shown.stdout
    as_json = run_cli("business", "cohorts", "--weeks", "3", "--at", AT.isoformat(), "-o", "json", "--db", db)
    assert orjson.loads(as_json.stdout)["cohorts"][1] == {
        "cohort": "2026-11-02",
        "users": 3,
        "retention": [33.3333, 66.6667, None],
    }
    mine = run_cli(
        "business", "cohorts", "--weeks", "3", "--at", AT.isoformat(), "-o", "json", "--tenant", "t2", "--db", db
    )
    assert orjson.loads(mine.stdout)["cohorts"] == [{"cohort": "2026-11-02", "users": 1, "retention": [0.0, 0.0, None]}]


def test_business_lifecycle_prints_a_table_and_its_json(tmp_path: Path) -> None:
    db = str(ingested(tmp_path, LIFECYCLE_RECORDS))
    args = ("business", "lifecycle", "--periods", "3", "--at", AT.isoformat(), "--db", db)
    shown = run_cli(*args)
    assert shown.returncode == 0, shown.stderr
    rows = [line.replace("│", " ").split() for line in shown.stdout.splitlines() if line.startswith("│ 2026")]
    assert rows == [
        ["2026-10-26", "1", "0", "1", "0", "1"],
        ["2026-11-02", "2", "0", "1", "1", "0"],
        ["2026-11-09", "3", "2", "1", "0", "1"],
    ]
    as_json = orjson.loads(run_cli(*args, "--output", "json").stdout)
    assert as_json["periods"][2] == {
        "period": "2026-11-09",
        "active": 3,
        "new": 2,
        "returning": 1,
        "resurrecting": 0,
        "dormant": 1,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("cohorts", "--weeks", "0"), "error: --weeks 0: must be between 1 and 520"),
        (("lifecycle", "--period", "year"), "error: --period 'year': must be one of day, week, month"),
        (("lifecycle", "--periods", "600"), "error: --periods 600: must be between 1 and 520"),
    ],
)
def test_a_wrong_option_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    db = str(ingested(tmp_path, COHORT_RECORDS))
    result = run_cli("business", *args, "--db", db)
    assert (result.returncode, result.stderr.strip(), result.stdout) == (2, message, "")


# ------------------------------------------------------------------------------ sessions (seed 003 §1.1)


def project(tenant: str, created: str) -> dict[str, Any]:
    return {
        "kind": "tenants",
        "tenant_id": tenant,
        "name": tenant,
        "tier": "PRO",
        "plan": "pro",
        "created_at": f"2026-{created}:00+00:00",
        "enterprise": False,
    }


def session(job: str, tenant: str, start: str, minutes: float, status: str = "succeeded") -> dict[str, Any]:
    began = datetime.fromisoformat(f"2026-{start}:00+00:00")
    return {
        "kind": "jobs",
        "job_id": job,
        "queue": "agentic_sessions",
        "job_type": "interactive",
        "tenant_id": tenant,
        "enqueued_at": began.isoformat(),
        "started_at": began.isoformat(),
        "finished_at": (began + timedelta(minutes=minutes)).isoformat(),
        "status": status,
    }


SESSION_RECORDS = [
    project("P1", "11-01T10:00"),
    session("a1", "P1", "11-01T10:20", 10),  # first completion 30 min after creation
    session("a2", "P1", "11-03T10:00", 10),
    session("a3", "P1", "11-05T10:00", 10),  # 3 sessions in its first week: activated
    project("P2", "11-02T10:00"),
    session("b1", "P2", "11-02T11:00", 10, "failed"),
    session("b2", "P2", "11-04T10:00", 50),  # first completion 2 d 50 min = 2,930 min after creation
    session("b3", "P2", "11-12T10:00", 10),  # after its first week: 2 in week 1, not activated
    project("P3", "11-15T10:00"),  # its first week is not over at AT: not in the activation cohort
    session("c1", "P3", "11-15T11:30", 30),  # first completion 120 min after creation
    project("P4", "10-01T10:00"),  # created before the 30-day window
    session("old", "P4", "10-01T11:00", 5),  # sessions are recorded since before the window
    *(session(f"d{i}", "P4", "11-10T10:00", 5) for i in range(10)),  # 10 sessions in 30 days: a power user
    # The last 24 hours: finished sessions lasting 4, 6, 10 and 20 minutes, one failed.
    session("s1", "P1", "11-19T08:00", 4),
    session("s2", "P1", "11-19T09:00", 6),
    session("s3", "P2", "11-19T10:00", 10, "failed"),
    session("s4", "P2", "11-19T11:00", 20),
    # Data is reported up to AT (a store measures only up to its newest event).
    {"kind": "activity", "ts": "2026-11-19T11:59:00+00:00", "tenant_id": "P1", "user_id": "z", "event": "login"},
]


def test_session_metrics_by_hand(store: Store, tmp_path: Path) -> None:
    engine = load(store, tmp_path, SESSION_RECORDS)
    sessions = dict(engine.engagement(at=AT).groups)["sessions"]
    got = {r.kpi.id: r for r in sessions}
    assert got["agent_sessions_daily"].value == 4  # s1–s4 created in the last 24 h
    assert got["agent_completion_rate"].value == pytest.approx(75.0)  # 3 of 4 finished succeeded
    assert got["agent_completion_rate"].status.value == "WARNING"  # under 80, not under 70
    # Projects created in 30 days: P1 30 min, P2 2,930 min, P3 120 min: the median is 120 (WARNING: not over 120).
    assert got["agent_time_to_first_completion"].value == pytest.approx(120.0)
    assert got["agent_time_to_first_completion"].status.value == "WARNING"
    # 4, 6, 10, 20 min, interpolated: P50 between 6 and 10 = 8; P95 at 0.95 × 3 = 2.85 → 10 + 0.85 × 10 = 18.5.
    assert got["agent_session_duration_p50"].value == pytest.approx(8.0)
    assert got["agent_session_duration_p95"].value == pytest.approx(18.5)
    assert got["agent_power_user_share"].value == pytest.approx(25.0)  # P4 of P1–P4 (P1 5, P2 5, P3 1 sessions)
    assert got["agent_new_project_activation"].value == pytest.approx(50.0)  # P1 of P1 and P2
    assert got["agent_new_project_activation"].status.value == "GOOD"


def test_business_engagement_prints_every_group(tmp_path: Path) -> None:
    db = str(ingested(tmp_path, COHORT_RECORDS + SESSION_RECORDS))
    as_json = orjson.loads(run_cli("business", "engagement", "--at", AT.isoformat(), "-o", "json", "--db", db).stdout)
    assert list(as_json["groups"]) == ["usage", "engagement", "acquisition", "sessions"]
    usage = {k["id"]: k["value"] for k in as_json["groups"]["usage"]}
    assert usage["dau"] == 1  # z at 11:59 on 19 Nov; b and d (17 Nov) are not in the last 24 h
    assert usage["wau"] == 3  # z, b and d since 12 Nov 12:00 (a at 10:00 on 12 Nov is just before)
    sessions = {k["id"]: k["value"] for k in as_json["groups"]["sessions"]}
    assert sessions["agent_new_project_activation"] == 50.0
    shown = run_cli("business", "engagement", "--at", AT.isoformat(), "--db", db)
    assert shown.returncode == 0, shown.stderr
    for title in ("Usage at", "Engagement at", "Acquisition at", "Sessions at", "New project", "Stickiness"):
        assert title in shown.stdout


# ------------------------------------------------------------------ engagement KPIs (seed 000 §2.1, §2.2, §3.3)


def at(text: str) -> str:
    return f"2026-{text}:00+00:00"


def login(user_id: str, when: str, tenant: str = "t1", event: str = "login") -> dict[str, Any]:
    return {"kind": "activity", "ts": at(when), "tenant_id": tenant, "user_id": user_id, "event": event}


def request(when: str, n: int = 0) -> dict[str, Any]:
    return {
        "kind": "requests",
        "event_id": f"req-{when}-{n}",
        "ts": at(when),
        "tenant_id": "t1",
        "endpoint": "/v1/train",
        "method": "POST",
        "status": 200,
        "latency_ms": 10.0,
    }


def training(job: str, when: str) -> dict[str, Any]:
    return {"kind": "jobs", "job_id": job, "queue": "training", "job_type": "fine_tune", "tenant_id": "t1"} | {
        "enqueued_at": at(when),
        "status": "queued",
    }


# The data is reported up to AT: without it the KPIs are judged STALE, not on their thresholds.
REPORTED = login("z", "11-19T11:59", tenant="T0")


def values(engine: Any, *ids: str) -> dict[str, tuple[float | None, str]]:
    return {i: (r.value, r.status.value) for i in ids for r in [engine.kpi(i, at=AT)]}


def test_active_users_and_per_user_numbers_by_hand(store: Store, tmp_path: Path) -> None:
    records = [
        # Recorded since long before every window (the 30 days before the MAU's 30 days too).
        login("older", "09-01T10:00"),
        login("old", "10-05T10:00"),  # the MAU's previous 30 days (20 Sep – 20 Oct) had 1 user
        request("09-01T10:00"),
        request("11-19T12:00"),  # reported up to AT (at AT: in the next window)
        login("u1", "11-19T12:00"),
        training("j-now", "11-19T12:00"),
        training("j-old", "09-01T10:00"),
        *(login(u, "11-19T08:00") for u in ("u1", "u2", "u3", "u4")),  # active today
        *(login(u, "11-16T08:00") for u in ("u5", "u6")),  # active 3 days ago
        *(login(u, "10-30T08:00") for u in ("u7", "u8")),  # active 20 days ago
        *(request(f"11-19T{h:02d}:00", n) for h in range(1, 11) for n in range(60)),  # 600 calls today
        *(training(f"j{i}", "11-17T09:00") for i in range(6)),  # 6 training jobs this week
    ]
    engine = load(store, tmp_path, records)
    got = values(engine, "dau", "wau", "mau", "api_calls_per_user", "training_jobs_per_user")
    assert got["dau"][0] == 4  # u1–u4
    assert got["wau"][0] == 6  # and u5, u6
    assert got["mau"][0] == 8  # and u7, u8; against 1 (old) in the 30 days before: +700%, growing
    assert got["mau"][1] == "GOOD"
    assert got["api_calls_per_user"] == (150.0, "GOOD")  # 600 calls / 4 users today; good above 100 a day
    assert got["training_jobs_per_user"] == (1.0, "WARNING")  # 6 jobs / 6 users this week: not above 1


def test_return_rates_d7_and_d30_by_hand(store: Store, tmp_path: Path) -> None:
    def signup(user_id: str, when: str) -> dict[str, Any]:
        return {"kind": "users", "user_id": user_id, "tenant_id": "t1", "signup_at": at(when)}

    records = [
        login("old", "09-01T10:00"),  # activity recorded since before the 30-day window
        REPORTED,
        signup("r1", "11-01T09:00"),
        login("r1", "11-08T15:00"),  # on day 7 (8 Nov): returned
        signup("r2", "11-01T09:00"),
        login("r2", "11-09T10:00"),  # day 8: not a D7 return
        signup("r3", "11-12T09:00"),  # day 7 is 19 Nov, still running at AT: not counted yet
        signup("r4", "10-05T09:00"),
        login("r4", "11-04T20:00"),  # on day 30 (4 Nov): returned
        signup("r5", "09-25T09:00"),  # day 30 is 25 Oct: did not return
    ]
    engine = load(store, tmp_path, records)
    got = values(engine, "return_rate_d7", "return_rate_d30")
    assert got["return_rate_d7"] == (50.0, "GOOD")  # r1 of r1, r2 (their day 7 in the window and over)
    assert got["return_rate_d30"] == (50.0, "GOOD")  # r4 of r4, r5


def test_a_return_on_day_n_is_any_instant_of_that_utc_day_and_no_other(store: Store, tmp_path: Path) -> None:
    def signup(user_id: str, when: str) -> dict[str, Any]:
        return {"kind": "users", "user_id": user_id, "tenant_id": "t1", "signup_at": at(when)}

    records = [
        login("old", "09-01T10:00"),
        REPORTED,
        signup("late", "11-02T23:59"),
        login("late", "11-09T00:00"),  # day 7 begins at midnight, 1 minute after a day-7 signup's day 0 ends
        signup("early", "11-02T00:00"),
        login("early", "11-10T00:00"),  # day 8's first instant: not day 7
        signup("eve", "11-02T12:00"),
        login("eve", "11-08T23:59"),  # day 6's last minute: not day 7
        signup("last", "11-03T00:00"),
        login("last", "11-10T23:59"),  # day 7's last minute
    ]
    engine = load(store, tmp_path, records)
    assert values(engine, "return_rate_d7")["return_rate_d7"][0] == 50.0  # late and last of the four


def test_conversion_and_signup_to_paid_by_hand(store: Store, tmp_path: Path) -> None:
    def tenant(tenant_id: str, created: str) -> dict[str, Any]:
        return project(tenant_id, created) | {"tenant_id": tenant_id}

    def paying(tenant_id: str, when: str) -> dict[str, Any]:
        return {
            "kind": "subscriptions",
            "ts": at(when),
            "tenant_id": tenant_id,
            "subscription_id": f"s-{tenant_id}",
            "plan": "pro",
            "tier": "PRO",
            "interval": "month",
            "amount": 99.0,
            "currency": "USD",
            "status": "active",
        }

    def payment(tenant_id: str, when: str, status: str = "succeeded") -> dict[str, Any]:
        return {"kind": "payments", "ts": at(when), "tenant_id": tenant_id, "amount": 99.0, "currency": "USD"} | {
            "status": status
        }

    records = [
        tenant("T0", "09-01T00:00"),  # before the window: records of every kind since then
        paying("T0", "09-01T00:00"),
        payment("T0", "09-01T00:00"),
        login("x", "09-01T10:00", tenant="T0"),
        REPORTED,
        tenant("T1", "11-01T00:00"),
        login("a", "11-01T12:00", tenant="T1", event="training_job_completed"),
        paying("T1", "11-03T12:00"),
        payment("T1", "11-03T12:00"),  # paid 2.5 days after signing up
        tenant("T2", "11-02T00:00"),
        login("b", "11-02T12:00", tenant="T2", event="training_job_completed"),  # activated, never subscribed
        payment("T2", "11-05T00:00", "failed"),  # a failed payment is not a payment
        payment("T2", "11-12T00:00"),  # paid 10 days after signing up
        tenant("T3", "11-03T00:00"),
        paying("T3", "11-04T00:00"),  # paying without activating: not in the conversion's cohort
    ]
    engine = load(store, tmp_path, records)
    got = values(engine, "conversion_rate", "signup_to_paid")
    assert got["conversion_rate"] == (50.0, "GOOD")  # T1 paying of T1, T2 activated; good above 10
    assert got["signup_to_paid"] == (pytest.approx(6.25), "GOOD")  # median of 2.5 and 10 days; good under 14

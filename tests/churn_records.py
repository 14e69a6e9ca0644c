"""Tenants built to trigger seed 000 §2.4's churn-risk indicators one at a time, and together.

Every tenant but `idle` and `several` makes one request a day before AT (active, and no week-on-week
drop); the expected scores are computed by hand in each tenant's comment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

AT = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
CREATED = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def tenant(tenant_id: str, *, tier: str = "PRO", enterprise: bool = False) -> dict[str, Any]:
    return {
        "kind": "tenants",
        "tenant_id": tenant_id,
        "name": f"{tenant_id} Inc",
        "tier": tier,
        "plan": tier.lower(),
        "created_at": CREATED.isoformat(),
        "enterprise": enterprise,
    }


def calls(tenant_id: str, count: int, at: datetime, *, status: int = 200, tag: str = "") -> list[dict[str, Any]]:
    return [
        {
            "kind": "requests",
            "event_id": f"{tenant_id}-{at:%m%d%H%M}-{tag}{i}",
            "ts": at.isoformat(),
            "tenant_id": tenant_id,
            "endpoint": "/v1/train",
            "method": "POST",
            "status": status,
            "latency_ms": 20.0,
        }
        for i in range(count)
    ]


def tickets(tenant_id: str, count: int, opened: datetime, *, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "kind": "tickets",
            "ticket_id": f"{tenant_id}-{tag}{i}",
            "tenant_id": tenant_id,
            "priority": "P3",
            "opened_at": opened.isoformat(),
            "status": "open",
        }
        for i in range(count)
    ]


def user(tenant_id: str, n: int, *, removed: datetime | None = None) -> dict[str, Any]:
    record = {"kind": "users", "user_id": f"{tenant_id}-u{n}", "tenant_id": tenant_id, "signup_at": CREATED.isoformat()}
    return record | ({"removed_at": removed.isoformat()} if removed else {})


def payment(tenant_id: str, status: str, at: datetime) -> dict[str, Any]:
    return {
        "kind": "payments",
        "event_id": f"{tenant_id}-pay-{at:%m%d}",
        "ts": at.isoformat(),
        "tenant_id": tenant_id,
        "amount": 99.0,
        "currency": "USD",
        "status": status,
    }


def subscription(tenant_id: str, status: str, at: datetime, *, tier: str = "PRO") -> dict[str, Any]:
    return {
        "kind": "subscriptions",
        "event_id": f"{tenant_id}-sub-{at:%m%d%H}-{status}",
        "ts": at.isoformat(),
        "tenant_id": tenant_id,
        "subscription_id": f"{tenant_id}-s1",
        "plan": tier.lower(),
        "tier": tier,
        "interval": "month",
        "amount": 99.0,
        "currency": "USD",
        "status": status,
    }


def active(tenant_id: str) -> list[dict[str, Any]]:
    """One request a day before AT: active this week, nothing the week before to drop from."""
    return calls(tenant_id, 1, AT - DAY, tag="a")


def churn_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    # quiet: active, nothing else -> 0 LOW
    records += [tenant("quiet"), *active("quiet")]
    # idle: last request 20 days ago (before both weeks: no drop) -> no activity 7+ days 30 -> 30 MEDIUM
    records += [tenant("idle"), *calls("idle", 5, AT - 20 * DAY)]
    # drop: 100 calls 10 days ago, 49 a day ago; 49 < 100 * 0.5 -> 25 MEDIUM (the boundary)
    records += [tenant("drop"), *calls("drop", 100, AT - 10 * DAY), *calls("drop", 49, AT - DAY)]
    # half: 100 -> 50 is not below 100 * 0.5 -> 0 LOW
    records += [tenant("half"), *calls("half", 100, AT - 10 * DAY), *calls("half", 50, AT - DAY)]
    # tickets: 1 ticket 40 days ago, 3 five days ago; 3 > 1 * 2 -> 20 LOW
    records += [tenant("tickets"), *active("tickets")]
    records += tickets("tickets", 1, AT - 40 * DAY, tag="old") + tickets("tickets", 3, AT - 5 * DAY, tag="new")
    # doubled: 2 -> 4 is not above 2 * 2 -> 0 LOW
    records += [tenant("doubled"), *active("doubled")]
    records += tickets("doubled", 2, AT - 40 * DAY, tag="old") + tickets("doubled", 4, AT - 5 * DAY, tag="new")
    # team: 3 members since June, one removed 3 days ago: 3 -> 2 -> 15 LOW
    records += [
        tenant("team"),
        *active("team"),
        user("team", 1),
        user("team", 2),
        user("team", 3, removed=AT - 3 * DAY),
    ]
    # payfail: a payment succeeded 40 days ago, the latest (2 days ago) failed -> 10 LOW
    records += [tenant("payfail"), *active("payfail")]
    records += [payment("payfail", "succeeded", AT - 40 * DAY), payment("payfail", "failed", AT - 2 * DAY)]
    # retried: failed 5 days ago, succeeded 2 days ago -> 0 LOW
    records += [tenant("retried"), *active("retried")]
    records += [payment("retried", "failed", AT - 5 * DAY), payment("retried", "succeeded", AT - 2 * DAY)]
    # idleteam: idle (30) + a member removed (15) -> 45 MEDIUM
    records += [tenant("idleteam"), *calls("idleteam", 1, AT - 20 * DAY), user("idleteam", 1)]
    records += [user("idleteam", 2, removed=AT - 10 * DAY)]
    # idletickets: idle (30) + 0 -> 1 ticket (20) -> 50 HIGH (the boundary)
    records += [tenant("idletickets"), *calls("idletickets", 1, AT - 20 * DAY)]
    records += tickets("idletickets", 1, AT - 3 * DAY, tag="new")
    # several: 40 calls 9 days ago, none since: idle 9 days (30) + calls 40 -> 0 (25) + 1 -> 3 tickets (20)
    # + 2 -> 1 members (15) + failed payment (10) -> 100 HIGH
    records += [tenant("several", tier="ENTERPRISE"), *calls("several", 40, AT - 9 * DAY)]
    records += tickets("several", 1, AT - 45 * DAY, tag="old") + tickets("several", 3, AT - 2 * DAY, tag="new")
    records += [user("several", 1), user("several", 2, removed=AT - 4 * DAY), payment("several", "failed", AT - DAY)]
    # healthy: 10,000 calls and 5 features an hour before AT, no ticket -> health 30 + 25 + 25 + 20 = 100, risk 0
    records += [tenant("healthy"), *calls("healthy", 10_000, AT - HOUR)]
    records += [
        {
            "kind": "activity",
            "event_id": f"h-{f}",
            "ts": (AT - HOUR).isoformat(),
            "tenant_id": "healthy",
            "user_id": "h-u",
            "event": f"feature_{f}",
        }
        for f in range(5)
    ]
    # bigco (enterprise flag, tier BUSINESS): 24 h windows ending at AT. [AT-24h, AT): 999 ok + 1 5xx
    # = 99.9% (meets the SLA); [AT-48h, AT-24h): 998 ok + 2 5xx = 99.8% (a breach); period 1,997/2,000 = 99.85%
    records += [tenant("bigco", tier="BUSINESS", enterprise=True)]
    records += calls("bigco", 999, AT - 2 * HOUR) + calls("bigco", 1, AT - 2 * HOUR, status=503, tag="e")
    records += calls("bigco", 998, AT - 30 * HOUR, tag="b") + calls("bigco", 2, AT - 30 * HOUR, status=500, tag="f")
    return records + subscriptions()


def subscriptions() -> list[dict[str, Any]]:
    """Paying at AT - 90 days: several, idle, team, retried (4). In the 90 days before AT: drop (paying
    from AT - 50 days, so not in the rate) churns on 09-11, idle at AT - 5 days, retried at AT - 3 days
    (back at AT - 1 day), several at AT - 12 hours. payfail churned in June, before the period."""
    return [
        subscription("several", "active", CREATED, tier="ENTERPRISE"),
        subscription("several", "canceled", AT - 12 * HOUR, tier="ENTERPRISE"),
        subscription("idle", "active", CREATED),
        subscription("idle", "canceled", AT - 5 * DAY),
        subscription("team", "active", CREATED),
        subscription("drop", "trialing", AT - 60 * DAY),
        subscription("drop", "active", AT - 50 * DAY),
        subscription("drop", "canceled", datetime(2026, 9, 11, tzinfo=UTC)),
        subscription("payfail", "active", CREATED),
        subscription("payfail", "canceled", datetime(2026, 6, 15, tzinfo=UTC)),
        subscription("retried", "active", CREATED),
        subscription("retried", "canceled", AT - 3 * DAY),
        subscription("retried", "active", AT - DAY),
        # ghost has no tenant record: left out of the analysis
        subscription("ghost", "active", CREATED),
        subscription("ghost", "canceled", AT - 2 * DAY),
    ]


# The hand-computed answers: tenant -> (score, level, [(indicator, fact)]).
EXPECTED: dict[str, tuple[int, str, list[tuple[str, str]]]] = {
    "quiet": (0, "LOW", []),
    "healthy": (0, "LOW", []),
    "bigco": (0, "LOW", []),
    "idle": (30, "MEDIUM", [("no_activity_7d", "no activity for 20 days (last on 2026-09-11)")]),
    "drop": (25, "MEDIUM", [("api_calls_down_50pct", "API calls down 51% (100 → 49, week on week)")]),
    "half": (0, "LOW", []),
    "tickets": (20, "LOW", [("support_tickets_up_2x", "support tickets up 3.0× (1 → 3, 30 days on 30 days)")]),
    "doubled": (0, "LOW", []),
    "team": (15, "LOW", [("team_members_removed", "team down 1 member in 30 days (3 → 2)")]),
    "payfail": (10, "LOW", [("failed_payment", "latest payment failed (99.00 USD on 2026-09-29)")]),
    "retried": (0, "LOW", []),
    "idleteam": (
        45,
        "MEDIUM",
        [
            ("no_activity_7d", "no activity for 20 days (last on 2026-09-11)"),
            ("team_members_removed", "team down 1 member in 30 days (2 → 1)"),
        ],
    ),
    "idletickets": (
        50,
        "HIGH",
        [
            ("no_activity_7d", "no activity for 20 days (last on 2026-09-11)"),
            ("support_tickets_up_2x", "support tickets up from none (0 → 1, 30 days on 30 days)"),
        ],
    ),
    "several": (
        100,
        "HIGH",
        [
            ("no_activity_7d", "no activity for 9 days (last on 2026-09-22)"),
            ("api_calls_down_50pct", "API calls down 100% (40 → 0, week on week)"),
            ("support_tickets_up_2x", "support tickets up 3.0× (1 → 3, 30 days on 30 days)"),
            ("team_members_removed", "team down 1 member in 30 days (2 → 1)"),
            ("failed_payment", "latest payment failed (99.00 USD on 2026-09-30)"),
        ],
    ),
}

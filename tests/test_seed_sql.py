"""The specification's own SQL runs verbatim against the store and gives hand-computed answers."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from healthdeck.store.connection import Store
from healthdeck.store.ingest import ingest_files

from .conftest import write_jsonl

SQL_DIR = Path(__file__).parent / "data" / "seed_sql"
# Excerpts of the specification, each headed by the seed file, section and lines it was copied from.
SEED_EXCERPTS = Path(__file__).parent / "data" / "seeds"
TODAY = datetime.combine(datetime.now(UTC).date(), time(0, 0, 1), tzinfo=UTC)
NOW = datetime.now(UTC)


def seed_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


def seed_excerpts() -> dict[str, dict[str, str]]:
    """Each excerpt's header fields (source, section, lines) and its verbatim text, by file name."""
    excerpts = {}
    for path in sorted(SEED_EXCERPTS.glob("*.txt")):
        header, text = path.read_text().split("---\n", 1)
        fields = dict(line.split(": ", 1) for line in header.splitlines())
        excerpts[path.name] = {**fields, "text": text}
    return excerpts


def test_each_seed_excerpt_names_its_source_and_starts_at_that_section() -> None:
    excerpts = seed_excerpts()
    assert excerpts, f"no seed excerpts in {SEED_EXCERPTS}"
    for name, excerpt in excerpts.items():
        assert excerpt["source"].endswith(".txt") and excerpt["source"][:3] == name[:3], name
        first, last = (int(n) for n in excerpt["lines"].split("-"))
        assert excerpt["text"].count("\n") == last - first + 1, name
        assert excerpt["text"].startswith(excerpt["section"] + "\n"), name


@pytest.mark.parametrize("name", sorted(p.name for p in SQL_DIR.glob("*.sql")))
def test_sql_files_are_verbatim_copies_of_the_seeds(name: str) -> None:
    sources = [e for e in seed_excerpts().values() if seed_sql(name) in e["text"]]
    assert len(sources) == 1, f"{name} is not copied verbatim from one excerpt in {SEED_EXCERPTS}"


def _load(store: Store, tmp_path: Path, records: list[dict[str, Any]]) -> None:
    report = ingest_files(store, [str(write_jsonl(tmp_path / "data.jsonl", records))], rejects_path=tmp_path / "r")
    assert report.rejected == 0, [r.describe() for r in report.first_rejects]


def _tenant(tenant: str) -> dict[str, Any]:
    return {
        "kind": "tenants",
        "tenant_id": tenant,
        "name": tenant,
        "tier": "PRO",
        "plan": "pro",
        "created_at": "2026-01-01T00:00:00Z",
        "enterprise": False,
    }


def _calls(tenant: str, count: int, at: datetime) -> list[dict[str, Any]]:
    return [
        {
            "kind": "requests",
            "event_id": f"{tenant}-{i}",
            "ts": at.isoformat(),
            "tenant_id": tenant,
            "endpoint": "/v1/x",
            "method": "GET",
            "status": 200,
            "latency_ms": 5,
        }
        for i in range(count)
    ]


def _uses(tenant: str, features: int, at: datetime) -> list[dict[str, Any]]:
    return [
        {"kind": "activity", "ts": at.isoformat(), "tenant_id": tenant, "user_id": "u", "event": f"f{i}"}
        for i in range(features)
    ]


def _tickets(tenant: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "kind": "tickets",
            "ticket_id": f"{tenant}-T{i}",
            "tenant_id": tenant,
            "priority": "P3",
            "opened_at": "2026-11-01T00:00:00Z",
            "status": "open",
        }
        for i in range(count)
    ]


def test_customer_health_score_query(store: Store, tmp_path: Path) -> None:
    ten_days_ago, three_days_ago = TODAY - timedelta(days=10), TODAY - timedelta(days=3)
    records = [_tenant(t) for t in "ABCD"]
    # A: usage 5000/10000*30 = 15, active today 25, 3 features 15, 1 ticket 15 -> 70 HEALTHY (on the boundary)
    records += _calls("A", 5000, TODAY) + _uses("A", 3, TODAY) + _tickets("A", 1)
    # B: usage 6, active 10 days ago 15, 1 feature 5, 2 tickets 10 -> 36 CRITICAL
    records += _calls("B", 2000, ten_days_ago) + _uses("B", 1, ten_days_ago) + _tickets("B", 2)
    # C: nothing at all, 5 open tickets -> 0 CRITICAL
    records += _tickets("C", 5)
    # D: usage 3, active 3 days ago 20, 2 features 10, no tickets 20 -> 53 AT_RISK
    records += _calls("D", 1000, three_days_ago) + _uses("D", 2, three_days_ago)
    _load(store, tmp_path, records)
    rows = store.con.execute(seed_sql("customer_health_score.sql")).fetchall()
    scores = {tenant: (round(float(score), 6), status) for tenant, score, status in rows}
    assert scores == {"A": (70.0, "HEALTHY"), "B": (36.0, "CRITICAL"), "C": (0.0, "CRITICAL"), "D": (53.0, "AT_RISK")}


def _tier_event(event_type: str, project: str, days_ago: float, **attributes: Any) -> dict[str, Any]:
    return {
        "kind": "tier_events",
        "event_type": event_type,
        "project_id": project,
        "tenant_id": "org",
        "timestamp": (NOW - timedelta(days=days_ago)).isoformat(),
        **attributes,
    }


def test_tier_transitions_for_one_project_in_the_last_week(store: Store, tmp_path: Path) -> None:
    move = {"source_tier": "WARM", "target_tier": "HOT", "reason": "automatic_promotion"}
    _load(
        store,
        tmp_path,
        [
            _tier_event("tier_transition", "proj_abc123", 1, **move),
            _tier_event("tier_transition", "proj_abc123", 3, **{**move, "target_tier": "PERSISTENT"}),
            _tier_event("tier_transition", "proj_abc123", 10, **move),
            _tier_event("tier_transition", "proj_other", 1, **move),
        ],
    )
    cursor = store.con.execute(seed_sql("tier_transitions_for_project.sql"))
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    assert [r["target_tier"] for r in rows] == ["HOT", "PERSISTENT"]
    assert rows[0]["timestamp"] > rows[1]["timestamp"]


def test_upsell_opportunities_need_more_than_five_ceiling_hits_in_30_days(store: Store, tmp_path: Path) -> None:
    hit = {"resource_type": "connections", "hit_count_24h": 3, "upgrade_suggested": True}
    events = [_tier_event("tier_ceiling_hit", "proj_a", d, **hit) for d in range(6)]
    events += [_tier_event("tier_ceiling_hit", "proj_b", d, **hit) for d in range(5)]
    events += [_tier_event("tier_ceiling_hit", "proj_c", d, **hit) for d in (1, 2, 3, 4, 31, 40, 50)]
    _load(store, tmp_path, events)
    assert store.con.execute(seed_sql("upsell_opportunities.sql")).fetchall() == [("proj_a", 6)]


def test_cold_start_impact_per_tier(store: Store, tmp_path: Path) -> None:
    def cold(tier: str, ms: float, days_ago: float = 1) -> dict[str, Any]:
        return _tier_event(
            "cold_start",
            "p",
            days_ago,
            source_tier=tier,
            cache_level="L1_miss",
            startup_duration_ms=ms,
            first_query_latency_ms=ms / 2,
        )

    _load(
        store,
        tmp_path,
        [
            cold("COLD", 100),
            cold("COLD", 200),
            cold("COLD", 300),
            cold("COLD", 400),
            cold("WARM", 50),
            cold("COLD", 10_000, days_ago=8),
        ],
    )
    rows = {
        tier: (avg, p95) for tier, avg, p95 in store.con.execute(seed_sql("cold_start_impact_per_tier.sql")).fetchall()
    }
    # p95 by linear interpolation over [100, 200, 300, 400]: rank 0.95 * 3 = 2.85 -> 300 + 0.85 * 100
    assert rows["COLD"] == pytest.approx((250.0, 385.0))
    assert rows["WARM"] == pytest.approx((50.0, 50.0))

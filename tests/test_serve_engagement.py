"""`/v1/business/cohorts|lifecycle` on a simulated store: the retention table against hand-written
SQL, the lifecycle adding up, and who may ask for which tenant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from .console import Console, console

SCOPED = "t-0002"  # a tenant signing users up every few weeks
AT = datetime.now(UTC).replace(microsecond=0)
# Monday 00:00 of AT's week: the 8 cohorts asked for are the 8 weeks before it.
MONDAY = datetime.combine(AT.date() - timedelta(days=AT.weekday()), datetime.min.time(), tzinfo=UTC)

# Independently of the engine: per cohort week and week since, users signed up that week, and
# those of them with any activity in that week.
RETENTION = """
WITH members AS (
    SELECT user_id, date_trunc('week', signup_at) AS cohort FROM users
    WHERE signup_at < date_trunc('week', $at::TIMESTAMPTZ) AND ($tenant IS NULL OR tenant_id = $tenant)
)
SELECT strftime(cohort, '%Y-%m-%d'), k, count(DISTINCT m.user_id),
       count(DISTINCT a.user_id)
FROM members m CROSS JOIN range(0, 8) AS weeks(k)
LEFT JOIN activity a ON a.user_id = m.user_id
    AND a.ts >= m.cohort + k * INTERVAL 7 DAY AND a.ts < m.cohort + (k + 1) * INTERVAL 7 DAY
GROUP BY ALL
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console(tmp_path_factory.mktemp("engagement"), scoped=(SCOPED,), days=30) as served:
        yield served


def _expected(app: Console, tenant: str | None) -> dict[str, tuple[int, list[float | None]]]:
    cells: dict[str, dict[int, tuple[int, int]]] = {}
    for cohort, k, users, active in app.sql(RETENTION, {"at": AT, "tenant": tenant}):
        cells.setdefault(cohort, {})[k] = (users, active)
    expected = {}
    for cohort, weeks in cells.items():
        start = datetime.fromisoformat(f"{cohort}T00:00:00+00:00")
        if start < MONDAY - timedelta(weeks=8):
            continue
        over = [start + timedelta(weeks=k + 1) <= AT for k in range(8)]
        users = weeks[0][0]
        retention = [round(100 * weeks[k][1] / users, 4) if over[k] else None for k in range(8)]
        expected[cohort] = (users, retention)
    return expected


@pytest.mark.parametrize("tenant", [None, SCOPED])
def test_the_retention_table_is_the_hand_written_querys(app: Console, tenant: str | None) -> None:
    params = {"weeks": 8, "at": AT.isoformat()} | ({"project": tenant} if tenant else {})
    answer = app.ok("/v1/business/cohorts", **params)
    got = {c["cohort"]: (c["users"], c["retention"]) for c in answer["cohorts"]}
    assert got == _expected(app, tenant)
    assert len(got) >= 3 and answer["weeks"] == 8


def test_the_lifecycle_adds_up_to_the_active_users(app: Console) -> None:
    answer = app.ok("/v1/business/lifecycle", period="day", periods=7, at=AT.isoformat())
    assert len(answer["periods"]) == 7
    for row in answer["periods"]:
        start = datetime.fromisoformat(f"{row['period']}T00:00:00+00:00")
        query = "SELECT count(DISTINCT user_id) FROM activity WHERE ts >= ? AND ts < ?"
        active = app.sql(query, [start, start + timedelta(days=1)])[0][0]
        assert row["active"] == active == row["new"] + row["returning"] + row["resurrecting"]


def test_a_tenant_token_asks_for_its_own_tenant_only(app: Console) -> None:
    mine = f"viewer@{SCOPED}"
    for path in ("/v1/business/cohorts", "/v1/business/lifecycle"):
        assert app.get(path, mine).status_code == 403
        assert app.get(path, mine, project=SCOPED).status_code == 200
        assert app.get(path, mine, project="t-0001").status_code == 404
        assert app.get(path, project="t-9999").status_code == 404
        assert app.client.get(path).status_code == 401
    at = AT.isoformat()
    assert app.ok("/v1/business/cohorts", mine, project=SCOPED, at=at) == app.ok(
        "/v1/business/cohorts", project=SCOPED, at=at
    )
    refused = app.get("/v1/business/lifecycle", period="year")
    assert refused.status_code == 400 and refused.json() == {"error": "period 'year': must be one of day, week, month"}


@pytest.mark.parametrize("tenant", [None, SCOPED])
def test_each_engagement_kpi_is_the_kpi_route_answer(app: Console, tenant: str | None) -> None:
    scope = {"project": tenant} if tenant else {}
    answer = app.ok("/v1/business/engagement", at=AT.isoformat(), **scope)
    assert list(answer["groups"]) == ["usage", "engagement", "acquisition", "sessions"]
    for kpis in answer["groups"].values():
        for kpi in kpis:
            assert kpi == app.ok(f"/v1/kpis/{kpi['id']}", at=AT.isoformat(), **scope)
    mine = f"viewer@{SCOPED}"
    assert app.get("/v1/business/engagement", mine).status_code == 403
    assert app.get("/v1/business/engagement", mine, project="t-0001").status_code == 404

"""Churn risk (seed 000 §2.4): hand-computed tenants, and the seed's own expressions on a simulated store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthdeck.engine.measures.churn import risk_level
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store.connection import Store, open_store

from .churn_records import AT, EXPECTED, churn_records
from .conftest import ingested
from .console import CATALOG, Console, console
from .test_seed_sql import seed_excerpts


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = ingested(tmp_path_factory.mktemp("churn"), churn_records())
    with open_store(path, read_only=True) as store:
        yield Engine(store, load_checked_catalog())


def test_each_tenants_score_level_and_indicators_are_the_hand_computed_ones(hand_made: Engine) -> None:
    risks = {r.tenant_id: r for r in hand_made.churn_risk(at=AT)}
    assert set(risks) == set(EXPECTED)
    for tenant, (score, level, indicators) in EXPECTED.items():
        risk = risks[tenant]
        assert (risk.score, risk.level) == (score, level), tenant
        assert [(i.name, i.fact) for i in risk.indicators] == indicators, tenant


def test_one_tenants_churn_risk_is_the_same_alone(hand_made: Engine) -> None:
    (alone,) = hand_made.churn_risk(at=AT, tenant="several")
    assert (alone.score, len(alone.indicators)) == (100, 5)
    assert hand_made.churn_risk(at=AT, tenant="nobody") == []


@pytest.mark.parametrize(("score", "level"), [(0, "LOW"), (24, "LOW"), (25, "MEDIUM"), (49, "MEDIUM"), (50, "HIGH")])
def test_levels_change_at_25_and_50(score: int, level: str) -> None:
    assert risk_level(score) == level


def test_the_tenant_churn_risk_kpi_is_the_share_at_medium_or_worse(hand_made: Engine) -> None:
    # MEDIUM or HIGH: idle, drop, idleteam, idletickets, several = 5 of 14 tenants
    assert hand_made.kpi("tenant_churn_risk", at=AT).value == pytest.approx(100 * 5 / 14)


# --------------------------------------------------------------- the seed's expressions, verbatim


# The seed's "How to Detect" of "No activity 7+ days" is `now() - 7 days`, which no SQL dialect reads
# as a duration: the one change made to run it is the word INTERVAL before "7 days".
def readable(expression: str) -> str:
    return expression.replace("now() - 7 days", "now() - INTERVAL 7 days")


def seed_indicators() -> list[tuple[int, str]]:
    """(weight, expression) of each row of the seed's indicator table, as copied."""
    text = seed_excerpts()["000_2.4_churn_risk_indicators.txt"]["text"]
    rows = re.findall(r"^\| [^|]+ \| (\d+) \| `([^`]+)` \|$", text, flags=re.MULTILINE)
    return [(int(weight), readable(expression)) for weight, expression in rows]


def seed_level(score: int) -> str:
    """The seed's own Python, run as written, on `risk_score`."""
    text = seed_excerpts()["000_2.4_churn_risk_indicators.txt"]["text"]
    code = text.split("```python\n", 1)[1].split("```", 1)[0].replace("risk_score = sum(", "_ = (")
    scope: dict[str, object] = {"risk_score": score, "indicator_weight": 0, "active_indicators": []}
    exec(code, scope)  # the specification's own snippet, copied verbatim
    return str(scope["churn_risk"])


def test_the_seed_table_has_five_indicators_and_the_python_its_levels() -> None:
    assert [w for w, _ in seed_indicators()] == [30, 25, 20, 15, 10]
    assert [seed_level(s) for s in (24, 25, 49, 50)] == ["LOW", "MEDIUM", "MEDIUM", "HIGH"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console(tmp_path_factory.mktemp("churn-sim")) as served:
        yield served


def test_every_simulated_tenant_scores_as_the_seeds_expressions_do(simulated: Console) -> None:
    with simulated.store.con.cursor() as cursor:
        cursor.execute("BEGIN TRANSACTION")  # now() is the transaction's start: one moment for every query
        (moment,) = cursor.execute("SELECT now()").fetchone() or (None,)
        seed: dict[str, int] = {t: 0 for (t,) in cursor.execute("SELECT tenant_id FROM churn_signals").fetchall()}
        fired = set()
        for weight, expression in seed_indicators():
            for (tenant,) in cursor.execute(f"SELECT tenant_id FROM churn_signals WHERE {expression}").fetchall():
                seed[tenant] += weight
                fired.add(weight)
        cursor.execute("COMMIT")
        engine = Engine(Store(path=simulated.store.path, con=cursor, read_only=True), CATALOG)
        ours = {r.tenant_id: r for r in engine.churn_risk(at=moment)}
    assert len(fired) >= 3, f"the simulated store should trigger several indicators, not only {fired}"
    assert len(ours) == len(seed) == 12
    for tenant, score in seed.items():
        assert (ours[tenant].score, ours[tenant].level) == (score, seed_level(score)), tenant


def test_a_store_from_before_churn_signals_gets_the_view_on_upgrade(tmp_path: Path) -> None:
    from healthdeck.store.migrations import SCHEMA_VERSION, migrate

    with open_store(tmp_path / "s.duckdb", create=True) as store:
        store.con.execute("DROP VIEW churn_signals")
        store.con.execute("UPDATE _healthdeck_meta SET value = '4' WHERE key = 'schema_version'")
        assert migrate(store.con) == SCHEMA_VERSION  # on to the newest
        assert store.con.execute("SELECT count(*) FROM churn_signals").fetchone() == (0,)

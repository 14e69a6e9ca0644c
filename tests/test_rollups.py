"""Per-minute rollups and the latency sketch (store/rollups.py, engine/measures/rollup.py) on real stores.

Counts and sums from the rollups must equal raw SQL over any window; quantiles from the sketch must
be within 1% of the exact ones; the rollups must always equal a GROUP BY of the stored requests.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthdeck.engine.measures import rollup
from healthdeck.engine.measures.base import MeasureContext, Window
from healthdeck.engine.measures.generic import Aggregate, where_predicates, windowed_aggregate
from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store import rollups
from healthdeck.store.connection import Store, open_store
from healthdeck.store.ingest import IngestReport, ingest_table
from healthdeck.store.schema import KINDS

from .conftest import run_cli, write_jsonl

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DAY_US = 86400 * 10**6
LONG = rollup.MIN_WINDOW  # the shortest window the engine reads from the rollups
CATALOG = load_checked_catalog()
ENDPOINTS = ("/v1/infer", "/v1/train", "/v1/models")


def requests_table(latencies: list[float], *, start: datetime = T0, spread: timedelta, prefix: str = "r") -> pa.Table:
    """One request per latency, spread evenly from `start` over `spread`, on rotating keys."""
    step = spread / max(len(latencies), 1)
    n = len(latencies)
    return pa.table(
        {
            "event_id": [f"{prefix}{i}" for i in range(n)],
            "ts": [(start + i * step).isoformat() for i in range(n)],
            "tenant_id": [f"t{i % 3}" for i in range(n)],
            "endpoint": [ENDPOINTS[i % 3] for i in range(n)],
            "method": ["GET" if i % 2 else "POST" for i in range(n)],
            "status": [str((200, 404, 503, 200, 500)[i % 5]) for i in range(n)],
            "latency_ms": [repr(x) for x in latencies],
            "request_bytes": [None if i % 4 == 0 else str(i) for i in range(n)],
            "tier": [None if i % 7 == 0 else ("FREE", "PRO")[i % 2] for i in range(n)],
        }
    )


def add(store: Store, table: pa.Table) -> IngestReport:
    report = IngestReport()
    ingest_table(store, KINDS["requests"], table, source="test", sink=None, report=report)
    return report


def exact(store: Store, sql: str, window: Window) -> Any:
    """A raw-SQL reference over the requests of the window."""
    query = f"SELECT {sql} FROM requests WHERE ts >= ? AND ts < ?"
    return store.con.execute(query, [window.start, window.end]).fetchall()[0][0]


def from_rollups(store: Store, spec: Aggregate, window: Window) -> float | None:
    """The engine's answer, from the rollups for a window of a day or more (compiled to a template)."""
    assert window.length >= rollup.MIN_WINDOW, "a shorter window reads raw requests"
    return windowed_aggregate(Engine(store, CATALOG).context(), spec, window)


def from_sketch(store: Store, spec: Aggregate, window: Window) -> float | None:
    """The rollups' answer for any window, even one the engine reads from raw requests for speed."""
    ctx = MeasureContext(store)
    return ctx.scalar(rollup.expression(ctx, spec, window, where=partial(where_predicates, spec=spec)))


def per_key_sums(store: Store) -> dict[str, list[Any]]:
    """The rollups summed per key, their latency buckets per key, and the same GROUP BYs computed from the
    stored requests."""
    keys = ", ".join(("minute", *rollups.KEYS))
    minute_keys = ", ".join(("date_trunc('minute', ts)", *rollups.KEYS))
    bucket = rollups.bucket_sql("latency_ms")
    queries = {
        "rollups": f"SELECT {keys}, sum(requests), sum(errors_5xx), round(sum(latency_sum), 6), sum(request_bytes) "
        f"FROM {rollups.ROLLUPS} GROUP BY ALL ORDER BY ALL",
        "raw": f"SELECT {minute_keys}, count(*), count(*) FILTER (WHERE status >= 500), round(sum(latency_ms), 6), "
        "sum(request_bytes) FROM requests GROUP BY ALL ORDER BY ALL",
        "sketch": f"SELECT {keys}, bucket, sum(requests) FROM {rollups.ROLLUPS} WHERE bucket IS NOT NULL "
        "GROUP BY ALL ORDER BY ALL",
        "raw_sketch": f"SELECT {minute_keys}, {bucket}, count(*) FROM requests GROUP BY ALL ORDER BY ALL",
    }
    return {name: store.con.execute(sql).fetchall() for name, sql in queries.items()}


def assert_rollups_match_raw(store: Store) -> None:
    sums = per_key_sums(store)
    assert sums["rollups"] == sums["raw"]
    assert sums["sketch"] == sums["raw_sketch"]


def within_alpha(estimate: float | None, value: float) -> bool:
    return estimate is not None and abs(estimate - value) <= rollups.ALPHA * abs(value) + 1e-9


# -- the sketch -----------------------------------------------------------------------------------


def test_buckets_and_estimates_by_hand() -> None:
    gamma = rollups.GAMMA
    assert gamma == pytest.approx(1.01 / 0.99)
    assert rollups.bucket_value(1) == pytest.approx(1.01)  # bucket 1 is (1, gamma]: its estimate is 1 + alpha
    assert rollups.bucket_value(rollups.ZERO_BUCKET) == 0.0


def test_bucket_sql_by_hand(store: Store) -> None:
    values = [0.0, 1.0, rollups.GAMMA**1.5, 100.0]
    got = [
        store.con.execute(f"SELECT {rollups.bucket_sql('x')} FROM (SELECT ? AS x)", [v]).fetchall()[0][0]
        for v in values
    ]
    # ln(100) / ln(gamma) = 230.25…: bucket 231 holds (gamma^230, gamma^231].
    assert got == [rollups.ZERO_BUCKET, 0, 2, 231]


def test_small_quantiles_by_hand(store: Store) -> None:
    add(store, requests_table([0.0, 0.0, 0.0, 10.0, 10.0], spread=timedelta(minutes=3)))
    window = Window(T0, T0 + timedelta(minutes=3))
    p50 = from_sketch(store, Aggregate(table="requests", agg="quantile", column="latency_ms", q=0.5), window)
    assert p50 == 0.0  # the zero bucket is exact
    # rank 0.9 × 4 = 3.6: between the 4th and 5th values, 10 and 10: 10 within 1 %
    p90 = from_sketch(store, Aggregate(table="requests", agg="quantile", column="latency_ms", q=0.9), window)
    assert p90 is not None and p90 != 10.0 and within_alpha(p90, 10.0)
    # rank 0.5 × 4 = 2 falls on the third value; 0.625 × 4 = 2.5 is halfway between 0 and 10 (≈ 5)
    mid = from_sketch(store, Aggregate(table="requests", agg="quantile", column="latency_ms", q=0.625), window)
    assert within_alpha(mid, 5.0)


def skewed(kind: str, n: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    if kind == "lognormal":
        values = rng.lognormal(mean=3.0, sigma=1.5, size=n)
    elif kind == "pareto":
        values = (rng.pareto(1.2, size=n) + 1) * 5
    else:  # bimodal: fast cache hits and slow cold starts
        values = np.where(rng.random(n) < 0.8, rng.normal(8, 1, n).clip(0.01), rng.normal(900, 150, n).clip(1))
    return [round(float(v), 3) for v in values]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["lognormal", "pareto", "bimodal"]),
    n=st.integers(min_value=1, max_value=3000),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    cut=st.tuples(st.integers(0, 10**8), st.integers(0, 10**8)),
)
def test_quantiles_from_the_sketch_are_within_1_percent(
    tmp_path_factory: pytest.TempPathFactory, kind: str, n: int, seed: int, cut: tuple[int, int]
) -> None:
    with open_store(tmp_path_factory.mktemp("q") / "store.duckdb", create=True) as store:
        add(store, requests_table(skewed(kind, n, seed), spread=timedelta(minutes=10)))
        # A window cut at arbitrary microseconds: whole minutes from the sketch, edges from raw requests.
        window = Window(T0 + timedelta(microseconds=cut[0]), T0 + timedelta(minutes=10, microseconds=-cut[1]))
        values = sorted(
            v
            for (v,) in store.con.execute(
                "SELECT latency_ms FROM requests WHERE ts >= ? AND ts < ?", [window.start, window.end]
            ).fetchall()
        )
        for q in (0.0, 0.5, 0.9, 0.95, 0.99, 1.0):
            estimate = from_sketch(store, Aggregate(table="requests", agg="quantile", column="latency_ms", q=q), window)
            if not values:
                assert estimate is None
                continue
            rank = q * (len(values) - 1)
            low, high = values[math.floor(rank)], values[math.ceil(rank)]
            interpolated = exact(store, f"quantile_cont(latency_ms, {q})", window)
            assert within_alpha(estimate, interpolated), (q, estimate, interpolated)
            if rank == math.floor(rank):  # on an order statistic: within 1 % of it
                assert within_alpha(estimate, low), (q, estimate, low)
            else:  # between two: within 1 % of the lower and upper ones' range
                assert low * (1 - rollups.ALPHA) - 1e-9 <= estimate <= high * (1 + rollups.ALPHA) + 1e-9


# -- counts and sums are exact over any window ---------------------------------------------------------


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Five days of requests on rotating keys, ingested in batches whose minutes overlap."""
    with open_store(tmp_path_factory.mktemp("traffic") / "store.duckdb", create=True) as opened:
        latencies = skewed("lognormal", 6000, seed=3)
        # Two batches over the same minutes: partial rows, not yet piled up enough to be merged.
        for part in range(2):
            add(opened, requests_table(latencies[part::2], spread=LONG + timedelta(days=2), prefix=f"b{part}-"))
        yield opened


SPECS = [
    Aggregate(table="requests"),
    Aggregate(table="requests", agg="rate_per_min", where={"status": {"gte": 500, "lte": 599}}),
    Aggregate(table="requests", where={"tier": {"is_null": True}}),
    Aggregate(table="requests", agg="sum", column="request_bytes", where={"tenant_id": "t1"}),
    Aggregate(table="requests", agg="sum", column="latency_ms", where={"endpoint": ["/v1/infer", "/v1/models"]}),
    Aggregate(table="requests", agg="avg", column="latency_ms", where={"method": "GET", "status": 200}),
]
REFERENCES = [
    "count(*)",
    "count(*) FILTER (WHERE status BETWEEN 500 AND 599)",
    "count(*) FILTER (WHERE tier IS NULL)",
    "sum(request_bytes) FILTER (WHERE tenant_id = 't1')",
    "sum(latency_ms) FILTER (WHERE endpoint IN ('/v1/infer', '/v1/models'))",
    "avg(latency_ms) FILTER (WHERE method = 'GET' AND status = 200)",
]


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(min_value=-600 * 10**6, max_value=DAY_US),
    length=st.integers(min_value=LONG // timedelta(microseconds=1), max_value=4 * DAY_US),
)
def test_counts_and_sums_equal_raw_sql_for_any_window(traffic: Store, start: int, length: int) -> None:
    window = Window(T0 + timedelta(microseconds=start), T0 + timedelta(microseconds=start + length))
    for spec, reference in zip(SPECS, REFERENCES, strict=True):
        got, want = from_rollups(traffic, spec, window), exact(traffic, reference, window)
        if spec.agg == "rate_per_min" or spec.agg == "count":
            assert (got or 0) == (want or 0), (spec, window)
        elif want is None:
            assert got is None, (spec, window)
        else:
            assert got == pytest.approx(float(want), rel=1e-12), (spec, window)


def test_long_windows_answer_from_the_rollups_and_short_ones_from_raw_requests(traffic: Store) -> None:
    # With the raw requests of the inner minutes gone, only the rollups can give the total back.
    long = Window(T0 + timedelta(seconds=30), T0 + LONG + timedelta(minutes=30, seconds=30))
    short = Window(T0 + timedelta(hours=2), T0 + timedelta(hours=3))  # read from raw requests
    want = exact(traffic, "count(*)", long), exact(traffic, "count(*)", short)
    assert want[1] > 0
    shadow = traffic.path.with_name("shadow.duckdb")
    traffic.con.execute("CHECKPOINT")
    shutil.copy(traffic.path, shadow)
    with open_store(shadow) as copy:
        gone = [T0 + timedelta(minutes=1), T0 + LONG + timedelta(minutes=30)]
        copy.con.execute("DELETE FROM requests WHERE ts >= ? AND ts < ?", gone)
        assert from_rollups(copy, Aggregate(table="requests"), long) == want[0]
        assert windowed_aggregate(MeasureContext(copy), Aggregate(table="requests"), short) == 0
    shadow.unlink()


# -- maintenance at ingest -------------------------------------------------------------------------------


def test_late_and_out_of_order_events_land_in_their_minute(store: Store) -> None:
    add(store, requests_table([10.0] * 300, start=T0 + timedelta(minutes=5), spread=timedelta(minutes=5)))
    late = requests_table([20.0, 30.0, 40.0], start=T0 + timedelta(minutes=1, seconds=10), spread=timedelta(minutes=6))
    add(store, late.set_column(0, "event_id", pa.array(["late0", "late1", "late2"])))
    assert_rollups_match_raw(store)
    minutes = store.con.execute(
        f"SELECT minute, sum(requests) FROM {rollups.ROLLUPS} WHERE minute < ? GROUP BY ALL ORDER BY ALL",
        [T0 + timedelta(minutes=5)],
    ).fetchall()
    assert [(m - T0, n) for m, n in minutes] == [(timedelta(minutes=1), 1), (timedelta(minutes=3), 1)]


def request(i: int, **changes: Any) -> dict[str, Any]:
    record = {
        "event_id": f"e{i}",
        "ts": (T0 + timedelta(seconds=7 * i)).isoformat(),
        "tenant_id": "t1",
        "endpoint": "/v1/infer",
        "method": "GET",
        "status": 200,
        "latency_ms": 10.0 + i,
    }
    return {**record, **changes}


def test_reingesting_a_file_changes_no_rollup(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    data = write_jsonl(tmp_path / "requests.jsonl", [request(i) for i in range(50)])
    assert run_cli("ingest", str(data), "--kind", "requests", "--db", db).returncode == 0
    with open_store(db, read_only=True) as opened:
        before = per_key_sums(opened)
        rows_before = opened.count(rollups.ROLLUPS)
    result = run_cli("ingest", str(data), "--kind", "requests", "--db", db, "--output", "json")
    assert json.loads(result.stdout)["duplicates"] == 50
    with open_store(db, read_only=True) as opened:
        assert per_key_sums(opened) == before
        assert opened.count(rollups.ROLLUPS) == rows_before


def test_conflicts_and_rejected_records_never_reach_a_rollup(tmp_path: Path) -> None:
    db = str(tmp_path / "store.duckdb")
    first = write_jsonl(tmp_path / "a.jsonl", [request(i) for i in range(10)])
    assert run_cli("ingest", str(first), "--kind", "requests", "--db", db).returncode == 0
    second = [
        request(3, latency_ms=999.0),  # conflicts with the stored record
        request(20),
        request(21, status=700),  # rejected: not an HTTP status
        request(22, latency_ms=-1),  # rejected: negative latency
        request(23),
        request(23, latency_ms=55.5),  # conflicts with the line above
    ]
    result = run_cli("ingest", str(write_jsonl(tmp_path / "b.jsonl", second)), "--kind", "requests", "--db", db)
    assert result.returncode == 1, result.stderr
    with open_store(db, read_only=True) as opened:
        assert opened.count("requests") == 12
        assert_rollups_match_raw(opened)
        total, latency = opened.con.execute(
            f"SELECT sum(requests), sum(latency_sum) FROM {rollups.ROLLUPS}"
        ).fetchall()[0]
        assert (total, latency) == (12, sum(10.0 + i for i in range(10)) + 30.0 + 33.0)


def test_small_batches_into_one_minute_are_merged_as_they_pile_up(store: Store) -> None:
    for batch in range(12):
        table = requests_table([float(batch + 1)] * 3, start=T0 + timedelta(seconds=batch), spread=timedelta(seconds=1))
        add(store, table.set_column(0, "event_id", pa.array([f"s{batch}-{i}" for i in range(3)])))
    keys = ", ".join(("minute", *rollups.KEYS, "bucket"))  # a row is the partial aggregate of one of these
    distinct = store.con.execute(f"SELECT count(DISTINCT ({keys})) FROM {rollups.ROLLUPS}").fetchall()[0][0]
    assert store.count(rollups.ROLLUPS) <= rollups.PILE_UP * distinct
    assert_rollups_match_raw(store)


class StatementLog:
    """A store's own connection, keeping the text of every statement run through it: to see which ran."""

    def __init__(self, con: Any) -> None:
        self.con, self.statements = con, []

    def execute(self, sql: str, *args: Any) -> Any:
        self.statements.append(sql)
        return self.con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)

    def counted_keys(self) -> int:
        """How many times the rollups' distinct keys were counted (the costly test for piled-up partials)."""
        return sum(rollups.ROLLUPS in sql and "DISTINCT" in sql for sql in self.statements)


def test_a_stream_of_batches_never_counts_its_keys(store: Store) -> None:
    log = StatementLog(store.con)
    watched = dataclasses.replace(store, con=log)
    for batch in range(4):  # each batch starts in the minute the one before ended: one minute shared
        start = T0 + batch * timedelta(minutes=29, seconds=30)
        add(
            watched, requests_table([5.0 + batch] * 600, start=start, spread=timedelta(minutes=30), prefix=f"s{batch}-")
        )
    assert log.counted_keys() == 0
    assert_rollups_match_raw(store)


def test_a_file_ordered_by_tenant_never_counts_its_keys(store: Store) -> None:
    log = StatementLog(store.con)
    watched = dataclasses.replace(store, con=log)
    for batch in range(4):  # each batch has tenants of its own, over the same minutes as the others
        table = requests_table([5.0 + batch] * 600, spread=timedelta(minutes=30), prefix=f"o{batch}-")
        tenants = pa.array([f"t{batch}-{i % 3}" for i in range(table.num_rows)])
        add(watched, table.set_column(table.schema.get_field_index("tenant_id"), "tenant_id", tenants))
    assert log.counted_keys() == 0
    assert_rollups_match_raw(store)


def test_a_late_request_has_only_its_own_minute_looked_at(store: Store) -> None:
    for part in range(3):  # an hour of traffic: many rows per minute
        add(
            store,
            requests_table([5.0] * 900, start=T0 + timedelta(hours=1), spread=timedelta(hours=1), prefix=f"p{part}-"),
        )
    log = StatementLog(store.con)
    # One request an hour late, one an hour after that traffic: every minute between is skipped.
    add(dataclasses.replace(store, con=log), requests_table([1.0, 2.0], spread=timedelta(hours=6), prefix="late-"))
    assert log.counted_keys() == 0
    assert_rollups_match_raw(store)


def test_the_same_minutes_ingested_again_and_again_are_merged(store: Store) -> None:
    log = StatementLog(store.con)
    watched = dataclasses.replace(store, con=log)
    for again in range(5):  # the same keys, minutes and latency buckets each time, new requests
        add(watched, requests_table([1.0] * 300, spread=timedelta(minutes=10), prefix=f"a{again}-"))
    # 2 rows per key after the second batch is not yet piled up, 3 after the third are: merged into 1,
    # and so again after the fifth; only the third and the fifth batches had their keys counted.
    assert log.counted_keys() == 2
    keys = ", ".join(("minute", *rollups.KEYS, "bucket"))
    distinct = store.con.execute(f"SELECT count(DISTINCT ({keys})) FROM {rollups.ROLLUPS}").fetchall()[0][0]
    assert store.count(rollups.ROLLUPS) == distinct
    assert_rollups_match_raw(store)


def test_compaction_changes_no_answer(traffic: Store) -> None:
    window = Window(T0 + timedelta(seconds=17), T0 + LONG + timedelta(minutes=75, seconds=3))
    specs = [*SPECS, Aggregate(table="requests", agg="quantile", column="latency_ms", q=0.95)]
    before = [from_rollups(traffic, spec, window) for spec in specs]
    rows = traffic.count(rollups.ROLLUPS)
    bounds = f"SELECT min(minute), max(minute), min(tenant_id), max(tenant_id) FROM {rollups.ROLLUPS}"
    everything = rollups.Span(*traffic.con.execute(bounds).fetchall()[0])
    traffic.con.execute("BEGIN TRANSACTION")
    rollups.compact(traffic.con, everything)
    traffic.con.execute("COMMIT")
    assert traffic.count(rollups.ROLLUPS) < rows
    after = [from_rollups(traffic, spec, window) for spec in specs]
    assert after == pytest.approx(before, rel=1e-12)
    assert_rollups_match_raw(traffic)


def test_migration_of_an_existing_store_equals_rollups_built_at_ingest(traffic: Store, tmp_path: Path) -> None:
    traffic.con.execute("CHECKPOINT")
    older = tmp_path / "v6.duckdb"
    shutil.copy(traffic.path, older)
    with open_store(older) as opened:  # made into a version-6 store: no rollups yet
        opened.con.execute(f"DROP TABLE {rollups.ROLLUPS}")
        opened.con.execute("UPDATE _healthdeck_meta SET value = '6' WHERE key = 'schema_version'")
    with open_store(older) as upgraded:
        assert per_key_sums(upgraded) == per_key_sums(traffic)


def test_a_store_of_two_rollup_tables_keeps_every_answer_when_folded_into_one(traffic: Store, tmp_path: Path) -> None:
    """Schema 7 kept the sums per key and the latency buckets per key in two tables. The upgrade moves
    their rows, not the raw requests (these may have expired): every answer stays what it was."""
    specs = [*SPECS, Aggregate(table="requests", agg="quantile", column="latency_ms", q=0.95)]
    traffic.con.execute("CHECKPOINT")
    older = tmp_path / "v7.duckdb"
    shutil.copy(traffic.path, older)
    keys = ", ".join(("minute", *rollups.KEYS))
    with open_store(older) as opened:  # made into a version-7 store, from its rows as schema 7 held them
        opened.con.execute(
            f"CREATE TABLE request_latency_sketch AS SELECT {keys}, bucket, sum(requests) AS count "
            f"FROM {rollups.ROLLUPS} GROUP BY ALL"
        )
        opened.con.execute(
            f"CREATE TABLE old_rollups AS SELECT {keys}, sum(requests) AS requests, sum(errors_5xx) AS errors_5xx, "
            f"sum(latency_sum) AS latency_sum, sum(request_bytes) AS request_bytes, "
            f"sum(response_bytes) AS response_bytes FROM {rollups.ROLLUPS} GROUP BY ALL"
        )
        opened.con.execute(f"DROP TABLE {rollups.ROLLUPS}")
        opened.con.execute(f"ALTER TABLE old_rollups RENAME TO {rollups.ROLLUPS}")
        opened.con.execute("DELETE FROM requests")  # expired: only the rollups hold the answers now
        day_before = T0 - timedelta(days=1)  # and a key in each table only
        opened.con.execute(
            f"INSERT INTO {rollups.ROLLUPS} VALUES (?, 'only-sums', NULL, '/x', 'GET', 500, 5, 2, 50.0, 7, NULL)",
            [day_before],
        )
        opened.con.execute(
            "INSERT INTO request_latency_sketch VALUES (?, 'only-buckets', NULL, '/x', 'GET', 200, 100, 3)",
            [day_before],
        )
        opened.con.execute("UPDATE _healthdeck_meta SET value = '7' WHERE key = 'schema_version'")
    with open_store(older) as upgraded:
        tables = {name for (name,) in upgraded.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert "request_latency_sketch" not in tables and "old_rollups" not in tables
        lone = f"SELECT tenant_id, bucket, requests, errors_5xx, latency_sum, request_bytes FROM {rollups.ROLLUPS} "
        assert upgraded.con.execute(lone + "WHERE tenant_id LIKE 'only-%' ORDER BY 1").fetchall() == [
            ("only-sums", None, 5, 2, 50.0, 7),  # its sums and requests, in no bucket
        ]  # buckets without sums: what an expiry cut short between the two tables left, counted nowhere
        upgraded.con.execute(f"DELETE FROM {rollups.ROLLUPS} WHERE tenant_id LIKE 'only-%'")
        buckets = traffic.con.execute(f"SELECT count(DISTINCT ({keys}, bucket)) FROM {rollups.ROLLUPS}").fetchone()
        assert (upgraded.count(rollups.ROLLUPS),) == buckets  # a row per key and bucket: the sums added none
        rolled = ("rollups", "sketch")  # every key's sums and buckets (its raw requests are gone)
        assert [per_key_sums(upgraded)[name] for name in rolled] == [per_key_sums(traffic)[name] for name in rolled]
        step_back = f"SELECT minute < lag(minute) OVER (ORDER BY rowid) AS back FROM {rollups.ROLLUPS}"
        backwards = f"SELECT count(*) FROM ({step_back}) WHERE back"
        assert upgraded.con.execute(backwards).fetchone() == (0,)  # in time order: zone maps skip other windows
        inner = Window(T0 + timedelta(minutes=1), T0 + LONG + timedelta(minutes=75))  # whole minutes: no raw edge
        assert [from_rollups(upgraded, s, inner) for s in specs] == pytest.approx(
            [from_rollups(traffic, s, inner) for s in specs], rel=1e-12
        )
        p95 = exact(traffic, "quantile_cont(latency_ms, 0.95)", inner)
        assert within_alpha(from_rollups(upgraded, specs[-1], inner), p95)


# -- the engine ------------------------------------------------------------------------------------


def kpi_values(document: Any) -> dict[str, Any]:
    """{KPI id: value} of every KPI anywhere in a `health --output json` document."""
    if isinstance(document, list):
        return {k: v for item in document for k, v in kpi_values(item).items()}
    if not isinstance(document, dict):
        return {}
    found = {document["id"]: document["value"]} if "id" in document and "value" in document else {}
    return found | kpi_values(list(document.values()))


@pytest.mark.parametrize("report", [["--full"], ["--pack", "tiers"]])
def test_the_off_switch_and_the_rollups_give_the_same_report(tmp_path: Path, report: list[str]) -> None:
    db = str(tmp_path / "sim.duckdb")  # 5 days: the tiers pack's 30-day availability covers more than MIN_WINDOW
    end = "2026-11-20T12:00:00Z"
    assert run_cli("simulate", "--tenants", "6", "--days", "5", "--end", end, "-q", "--db", db).returncode == 0
    reports = {}
    for mode in ("on", "off"):
        args = ("health", *report, "--output", "json", "--db", db, "--at", "2026-11-20T11:37:41.5Z")
        result = run_cli(*args, env={"HEALTHDECK_ROLLUPS": mode})
        assert result.returncode in (0, 1), result.stderr
        reports[mode] = kpi_values(json.loads(result.stdout))
    on, off = reports["on"], reports["off"]
    assert on.keys() == off.keys() and on
    latency = {kpi for kpi in on if {"requests", "quantile"} <= set(json.dumps(CATALOG.get(kpi).params).split('"'))}
    for kpi in on:
        if kpi in latency and on[kpi] is not None:
            assert within_alpha(on[kpi], off[kpi]), kpi
        else:
            assert on[kpi] == off[kpi], kpi


def test_a_tenant_scoped_evaluation_reads_only_its_tenants_rollups(traffic: Store) -> None:
    window = Window(T0 + timedelta(seconds=41), T0 + LONG + timedelta(minutes=83, seconds=12))
    ctx = MeasureContext(traffic, tenant="t2")
    for spec, reference in zip(SPECS, REFERENCES, strict=True):
        want = exact(
            traffic,
            reference.replace(")", ") FILTER (WHERE tenant_id = 't2')", 1)
            if "FILTER" not in reference
            else reference.replace("WHERE ", "WHERE tenant_id = 't2' AND "),
            window,
        )
        got = windowed_aggregate(ctx, spec, window)
        assert got == pytest.approx(float(want or 0), rel=1e-12) or (got is None and want is None), spec

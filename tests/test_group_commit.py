"""Group commit (api/group_commit.py, api/ingest.py `ingest_bodies`): bodies stored together as one file
must each get the answer they would have got stored alone, one after the other, and leave the same rows.

Each case stores the same bodies twice, into two copies of one store: together, and one by one with
`ingest_batch` (what the server did before). Answers (accepted, duplicates, rejected, by kind, every
reject's line and reason) and the stored rows must be equal.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from healthdeck.api.group_commit import GroupCommit, _groups, _Waiting
from healthdeck.api.ingest import Body, ingest_batch, ingest_bodies
from healthdeck.api.owner import StoreOwner
from healthdeck.api.tokens import Role
from healthdeck.store.blocks import BOM, FIRST_BLOCK_BYTES, MAX_RECORD_BYTES
from healthdeck.store.connection import open_store
from healthdeck.store.ingest import ingest_files
from tests.console import CATALOG
from tests.test_serve_server import NDJSON, Server, jsonl, make_tokens, request_event
from tests.test_serve_server import tenant as server_tenant

NOW = datetime.now(UTC).replace(microsecond=0)
TABLES = ("requests", "tenants", "samples")


def request(event_id: str, minutes: int = 1, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "requests",
        "event_id": event_id,
        "ts": (NOW - timedelta(minutes=minutes)).isoformat(),
        "tenant_id": "t1",
        "endpoint": "/v1/items",
        "method": "GET",
        "status": 200,
        "latency_ms": 12.5,
        **changes,
    }


def tenant(name: str, tenant_id: str = "t1") -> dict[str, Any]:
    return server_tenant(tenant_id, name=name)


def sample(value: float) -> dict[str, Any]:  # no event_id: identified by its content
    return {
        "kind": "samples",
        "ts": (NOW - timedelta(minutes=2)).isoformat(),
        "metric": "cpu_utilization_pct",
        "value": value,
    }


def text(lines: list[Any]) -> bytes:
    """Body text: records as JSON, strings as they are (malformed lines, blank lines)."""
    return b"\n".join(line.encode() if isinstance(line, str) else orjson.dumps(line) for line in lines) + b"\n"


def both_ways(folder: Path, bodies: list[bytes], *, kind: str | None = None) -> tuple[list[Any], list[Any]]:
    """The answers and rows of storing `bodies` together, and one by one."""
    base = folder / "base.duckdb"
    with open_store(base, create=True) as store:  # one request and one tenant stored before
        earlier = folder / "earlier.jsonl"
        earlier.write_bytes(
            text([request("stored", minutes=30), request("stored2", minutes=30), tenant("Before", "t9")])
        )
        assert ingest_files(store, [str(earlier)], rejects_path=folder / "earlier-rejects").accepted == 3
    results = []
    for way in ("together", "alone"):
        db = folder / f"{way}.duckdb"
        shutil.copy(base, db)
        paths = []
        for number, body in enumerate(bodies):
            path = folder / f"{way}-{number}.jsonl"
            path.write_bytes(body)
            paths.append(Body.spooled(path, kind, folder / f"{way}-{number}-rejects"))
        with open_store(db) as store:
            if way == "together":
                answers = ingest_bodies(store, paths, spool_dir=folder)
            else:
                answers = [
                    ingest_batch(store, lines=body.lines, kind=body.kind, rejects_path=body.rejects_path)
                    for body in paths
                ]
            rows = [
                store.con.execute(f"SELECT * EXCLUDE (_ingested_at) FROM {table} ORDER BY ALL").fetchall()
                for table in TABLES
            ]
        results.append(([answer.as_json() for answer in answers], rows))
    return results[0], results[1]


def test_bodies_stored_together_answer_as_stored_alone(tmp_path: Path) -> None:
    bodies = [
        text([request("a1"), request("a2"), '{"kind": "requests", broken', request("a3", method="FETCH")]),
        text([request("a1"), request("b1"), "", "   "]),  # a1 again, the same: a duplicate of the first body's
        text([request("a2", status=503), request("stored", minutes=30)]),  # a conflict, and a duplicate
        text(["", ""]),  # nothing but blank lines
        text([request("c1"), request("c1"), sample(1.5), tenant("Acme")]),  # an id twice in one body
        text([tenant("Acme Corp"), sample(1.5), request("stored", minutes=30, status=500)]),
        BOM + text([request("d1"), request("d2", colour="red")])[:-1],  # a BOM, no final newline
    ]
    together, alone = both_ways(tmp_path, bodies)
    assert together == alone
    answers, rows = together
    assert [answer["accepted"] for answer in answers] == [2, 1, 0, 0, 3, 1, 1]
    assert answers[3]["rejects"] == [{"line": None, "error": "the file holds no records"}]
    assert (
        answers[2]["rejects"][0]["line"] == 1
        and "conflicts with the stored record" in answers[2]["rejects"][0]["error"]
    )
    assert answers[6]["rejects"][0]["line"] == 2 and "colour" in answers[6]["rejects"][0]["error"]
    assert [name for (_, name, *_) in rows[1]] == ["Acme Corp", "Before"]


def test_a_line_over_the_size_limit_is_told_the_same_size_together_and_alone(tmp_path: Path) -> None:
    # Joined, a body loses its BOM and gains a final newline: neither is part of a line's size.
    huge = orjson.dumps(request("h1", endpoint="/" + "x" * MAX_RECORD_BYTES))
    bodies = [
        BOM + huge + b"\n" + text([request("h2")]),  # over the limit on its first line, after a BOM
        text([request("h3")]) + huge,  # over the limit on its last line, without a final newline
        text([request("h4")]),
    ]
    together, alone = both_ways(tmp_path, bodies)
    assert together == alone
    answers = together[0]
    reason = f"record is {len(huge)} bytes, over the {MAX_RECORD_BYTES}-byte limit"
    assert [answer["rejects"] for answer in answers[:2]] == [
        [{"line": 1, "error": reason}],
        [{"line": 2, "error": reason}],
    ]
    assert [answer["accepted"] for answer in answers] == [1, 1, 1]


def test_bodies_without_a_repeated_id_share_one_batch(tmp_path: Path) -> None:
    """The point of storing them together: one batch of statements (one transaction), not one per body;
    each body's duplicates and conflicts (with records stored before) still counted as its own."""
    bodies = [text([request(f"e{body}-{n}") for n in range(20)] + ["{bad"]) for body in range(5)]
    bodies[1] += text([request("stored", minutes=30, status=500)])
    bodies[3] += text([request("stored2", minutes=30)])
    together, alone = both_ways(tmp_path, bodies)
    assert together == alone
    answers = together[0]
    assert [answer["accepted"] for answer in answers] == [20] * 5
    assert [(answer["duplicates"], answer["rejected"]) for answer in answers] == [
        (0, 1),
        (0, 2),
        (0, 1),
        (1, 1),
        (0, 1),
    ]
    assert [answer["rejects"][0]["line"] for answer in answers] == [21] * 5
    assert "conflicts with the stored record" in answers[1]["rejects"][1]["error"]
    with open_store(tmp_path / "together.duckdb", read_only=True) as store:
        commits = store.con.execute("SELECT count(DISTINCT _ingested_at) FROM requests WHERE event_id LIKE 'e%'")
        assert commits.fetchone() == (1,)


def test_a_kind_named_by_the_request_applies_to_every_body(tmp_path: Path) -> None:
    plain = {key: value for key, value in request("k1").items() if key != "kind"}
    bodies = [text([plain]), text([{**plain, "event_id": "k2"}, {**plain, "event_id": "k1", "status": 404}])]
    together, alone = both_ways(tmp_path, bodies, kind="requests")
    assert together == alone
    assert [answer["accepted"] for answer in together[0]] == [1, 1]


@pytest.mark.parametrize("seed", range(12))
def test_random_bodies_answer_as_stored_alone(tmp_path: Path, seed: int) -> None:
    """Bodies drawn from few ids, tenants and samples, so that they repeat within and across bodies."""
    chance = random.Random(seed)

    def line() -> Any:
        pick = chance.random()
        if pick < 0.55:
            changes = {"status": 503} if chance.random() < 0.15 else {}
            return request(f"r{chance.randrange(12)}", minutes=chance.choice([1, 30]), **changes)
        if pick < 0.7:
            return tenant(chance.choice(["Acme", "Acme Corp"]), f"t{chance.randrange(3)}")
        if pick < 0.85:
            return sample(chance.choice([1.5, 2.5]))
        return chance.choice(["", "{bad", '{"kind": "requests", "event_id": "x"}', '{"kind": "nope"}'])

    bodies = [text([line() for _ in range(chance.randrange(1, 8))]) for _ in range(chance.randrange(2, 7))]
    together, alone = both_ways(tmp_path, bodies)
    assert together == alone


def test_a_real_server_stores_waiting_bodies_together_and_answers_each(tmp_path: Path) -> None:
    """While the writer stores a large body, small ones wait; they are then stored together, and each
    answer is its own: its records, and its bad line numbered from its own first line."""
    db = tmp_path / "store.duckdb"
    [token] = make_tokens(db, (Role.operator, None))
    running = Server(db, "--ingest-queue", "64").start()
    try:
        with running.client(token) as http:
            large = jsonl([{**request_event(n), "event_id": f"large-{n}"} for n in range(100_000)])
            small = [
                jsonl([{**request_event(n), "event_id": f"small{body}-{n}"} for n in range(9)] + [{"kind": "nope"}])
                for body in range(24)
            ]
            with ThreadPoolExecutor(max_workers=25) as pool:
                first = pool.submit(http.post, "/v1/events", content=large, headers=NDJSON, timeout=300)
                time.sleep(0.3)  # the writer is busy with it
                answers = list(pool.map(lambda body: http.post("/v1/events", content=body, headers=NDJSON), small))
                assert first.result().json()["accepted"] == 100_000
            for answer in answers:
                got = answer.json()
                assert answer.status_code == 200, got
                assert (got["accepted"], got["duplicates"], got["rejected"]) == (9, 0, 1), got
                assert [reject["line"] for reject in got["rejects"]] == [10]
            metrics = http.get("/metrics").text
            together = re.search(r'healthdeck_ingest_bodies_total\{stored="together"\} (\d+)', metrics)
            assert together is not None and int(together.group(1)) >= 2, metrics
            assert http.get("/v1/store").json()["tables"]["requests"] == 100_000 + 24 * 9
    finally:
        code, stderr = running.stop(signal.SIGTERM)
        assert code == 0, stderr


def test_a_body_of_refused_records_names_their_kind_and_many_reasons_are_the_first_by_line(tmp_path: Path) -> None:
    """A body whose requests are all refused still says `{"requests": 0}`; a body of more than
    SHOWN_REASONS bad records of two kinds lists its first reasons by line, either way."""
    bad_samples = [{**sample(1.0), "value": "high"} for _ in range(700)]
    bad_requests = [request(f"x{n}", method="FETCH") for n in range(700)]
    interleaved = [record for pair in zip(bad_samples, bad_requests, strict=True) for record in pair]
    bodies = [text([request("ok")]), text([request("refused", method="FETCH")]), text(interleaved)]
    together, alone = both_ways(tmp_path, bodies)
    assert together == alone
    answers = together[0]
    assert answers[1]["by_kind"] == {"requests": 0}
    assert [reject["line"] for reject in answers[2]["rejects"]] == list(range(1, 1001))
    assert answers[2]["rejected"] == 1400


def spooled_waiting(folder: Path, bodies: list[bytes]) -> list[_Waiting]:
    """The bodies as spooled and waiting for the writer (no request awaits them here)."""
    waiting = []
    for number, body in enumerate(bodies):
        path = folder / f"body-{number}.jsonl"
        path.write_bytes(body)
        waiting.append(_Waiting(Body.spooled(path, None, folder / "r"), None, None))  # type: ignore[arg-type]
    return waiting


def test_bodies_go_together_up_to_one_batch_of_lines(tmp_path: Path) -> None:
    """A body's records are never split between two batches of the joined file (a repeat within the
    body would then be answered as a duplicate of a stored record): bodies are joined up to a batch."""
    waiting = spooled_waiting(tmp_path, [b"{}\n" * lines for lines in [4, 5, 2, 9, 1]])
    groups = _groups(waiting, max_lines=10)
    assert [[item.body.lines.name for item in group] for group in groups] == [
        ["body-0.jsonl", "body-1.jsonl"],
        ["body-2.jsonl"],
        ["body-3.jsonl", "body-4.jsonl"],
    ]


def test_bodies_are_joined_only_within_a_files_first_block(tmp_path: Path) -> None:
    """A file's first block (FIRST_BLOCK_BYTES) is stored as a batch of its own: bodies joined past it
    would have the one straddling its end split between two batches, a repeat within it then answered
    as a repeat of a stored record. So bodies are joined only up to it, and joined bodies answer as
    alone, a repeat within one still named by its line."""
    padding = "/" + "x" * 500_000
    lines = FIRST_BLOCK_BYTES // 500_000  # of about 500 kB each: a first block holds this many

    def with_repeat(count: int) -> bytes:  # the same id on its first and last line, differently
        middle = [request(f"b{count}-{n}", endpoint=padding) for n in range(count)]
        return text(
            [request(f"x{count}", endpoint=padding), *middle, request(f"x{count}", endpoint=padding, status=503)]
        )

    first = text([request(f"a{n}", endpoint=padding) for n in range(lines * 6 // 10)])
    waiting = spooled_waiting(tmp_path, [first, with_repeat(lines * 3 // 4), first, with_repeat(lines // 4)])
    assert [len(group) for group in _groups(waiting)] == [1, 1, 2]  # 1.35 first blocks apart, 0.85 together

    together, alone = both_ways(tmp_path, [first, with_repeat(lines // 4)])
    assert together == alone
    assert together[0][1]["rejects"] == [
        {"line": lines // 4 + 2, "error": f'conflicts with line 1 (same event_id "x{lines // 4}", different status)'}
    ]


def test_a_failure_after_records_were_stored_answers_every_body_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storing together stops part-way (a DuckDB error, say) after the requests were committed: each
    body gets the error, none is stored again (a retry gets duplicates, as after a crash). A body whose
    file is gone before anything is stored goes alone, and only it is refused."""
    db = tmp_path / "store.duckdb"
    bodies = [text([request("a1"), tenant("Acme")]), text([request("b1")])]
    paths = []
    for number, body in enumerate(bodies):
        paths.append(tmp_path / f"body-{number}.jsonl")
        paths[-1].write_bytes(body)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is full")

    async def post(group: GroupCommit, names: list[Path]) -> list[Any]:
        work = [group.ingest(Body.spooled(path, None, tmp_path / f"{path.name}-rejects")) for path in names]
        return await asyncio.gather(*work, return_exceptions=True)

    with open_store(db, create=True) as store:
        owner = StoreOwner(store, CATALOG)
        try:
            group = GroupCommit(owner, tmp_path)
            owner.submit(lambda _: time.sleep(0.3))  # the writer busy: both bodies wait, then go together
            monkeypatch.setattr("healthdeck.store.ingest._store_entities", broken)
            answers = asyncio.run(post(group, paths))
            assert [str(answer) for answer in answers] == ["the disk is full"] * 2
            monkeypatch.undo()
            counted = store.con.cursor().execute("SELECT count(*) FROM requests").fetchone()
            assert counted == (2,), "the requests were committed before the tenants failed, and only once"

            gone = tmp_path / "gone.jsonl"
            gone.write_bytes(text([request("c1")]))
            owner.submit(lambda _: (time.sleep(0.3), gone.unlink()))
            answers = asyncio.run(post(group, [gone, paths[1]]))
            assert answers[0].rejects == [{"line": None, "error": "cannot open: No such file or directory"}]
            assert (answers[1].report.accepted, answers[1].report.duplicates) == (0, 1)
        finally:
            owner.close()

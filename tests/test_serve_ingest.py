"""The HTTP ingest contract, case by case, against a real server (queue of 1, 1 MiB bodies)."""

from __future__ import annotations

import gzip
import signal
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from healthdeck.api.ingest import SHOWN_REASONS
from healthdeck.api.tokens import Role
from healthdeck.store.connection import open_store
from healthdeck.store.ingest import ingest_files
from tests.test_serve_server import HOST, NDJSON, Server, jsonl, make_tokens, request_event, tenant

LIMIT = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, httpx.Client]]:
    db = tmp_path_factory.mktemp("ingest") / "store.duckdb"
    [token] = make_tokens(db, (Role.operator, None))
    running = Server(db, "--ingest-queue", "1", "--max-body-mb", "1").start()
    try:
        with running.client(token) as http:
            yield running, http
    finally:
        code, stderr = running.stop(signal.SIGTERM)
        assert code == 0, stderr


def stored(http: httpx.Client, table: str) -> int:
    return int(http.get("/v1/store").json()["tables"][table])


def test_partial_batch_stores_the_good_records_and_names_each_bad_one(server: tuple[Server, httpx.Client]) -> None:
    _, http = server
    body = jsonl([tenant("t-good"), tenant("t-bad", tier="GOLD"), "{not json", tenant("t-late", enterprise="maybe")])
    answer = http.post("/v1/events", content=body, headers=NDJSON)
    assert answer.status_code == 200
    result = answer.json()
    assert (result["accepted"], result["rejected"], result["duplicates"]) == (1, 3, 0)
    assert [r["line"] for r in result["rejects"]] == [2, 3, 4]
    assert 'field "tier": must be one of' in result["rejects"][0]["error"]
    assert result["rejects"][1]["error"].startswith("malformed JSON")
    assert 'field "enterprise"' in result["rejects"][2]["error"]
    assert http.get("/v1/projects/t-good").status_code == 200
    assert http.get("/v1/projects/t-bad").status_code == 404


def test_a_json_array_is_numbered_by_position_and_resending_gives_duplicates(
    server: tuple[Server, httpx.Client],
) -> None:
    _, http = server
    records = [request_event(n, "t-good") for n in range(100, 103)] + [{"kind": "requests", "ts": "yesterday"}]
    first = http.post("/v1/events", json=records).json()
    assert (first["accepted"], first["rejected"]) == (3, 1)
    assert first["rejects"][0]["line"] == 4
    again = http.post("/v1/events", json=records[:3]).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 3, 0)


def test_reasons_are_capped_but_every_reject_is_counted(server: tuple[Server, httpx.Client]) -> None:
    _, http = server
    answer = http.post("/v1/events", content=b"{}\n" * (SHOWN_REASONS + 500), headers=NDJSON).json()
    assert (answer["accepted"], answer["rejected"]) == (0, SHOWN_REASONS + 500)
    assert len(answer["rejects"]) == SHOWN_REASONS
    assert answer["rejects"][0] == {"line": 1, "error": answer["rejects"][0]["error"]}
    assert "no kind given" in answer["rejects"][0]["error"]


def test_kind_comes_from_the_query_like_ingest_kind(server: tuple[Server, httpx.Client]) -> None:
    _, http = server
    record = {k: v for k, v in request_event(200).items() if k != "kind"}
    assert http.post("/v1/events", params={"kind": "requests"}, json=[record]).json()["accepted"] == 1
    unknown = http.post("/v1/events", params={"kind": "nope"}, json=[record])
    assert unknown.status_code == 400 and "unknown kind 'nope'" in unknown.json()["error"]


def test_gzip_bodies_are_accepted(server: tuple[Server, httpx.Client]) -> None:
    _, http = server
    body = gzip.compress(jsonl([request_event(n) for n in range(300, 400)]))
    answer = http.post("/v1/events", content=body, headers={**NDJSON, "Content-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.json()["accepted"] == 100


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"garbage\n[1, 2]\n\n", NDJSON),
        (b"", NDJSON),
        (b'{"kind": "tenants"', {"Content-Type": "application/json"}),
        (b"[]", {"Content-Type": "application/json"}),
        (b"\x1f\x8b not really gzip", {**NDJSON, "Content-Encoding": "gzip"}),
    ],
    ids=["garbage-lines", "empty", "broken-json", "empty-array", "broken-gzip"],
)
def test_nothing_decodable_is_400_and_stores_nothing(
    server: tuple[Server, httpx.Client], body: bytes, headers: dict[str, str]
) -> None:
    _, http = server
    before = stored(http, "tenants")
    answer = http.post("/v1/events", content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]
    assert stored(http, "tenants") == before


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Content-Type": "text/csv"}, "text/csv"),
        ({}, "(none)"),
        ({**NDJSON, "Content-Encoding": "br"}, "'br'"),
    ],
    ids=["csv", "no-type", "brotli"],
)
def test_unknown_content_type_or_encoding_is_415(
    server: tuple[Server, httpx.Client], headers: dict[str, str], named: str
) -> None:
    _, http = server
    answer = http.post("/v1/events", content=jsonl([tenant("t-x")]), headers=headers)
    assert answer.status_code == 415
    assert named in answer.json()["error"]


def test_a_body_over_the_limit_is_413(server: tuple[Server, httpx.Client]) -> None:
    _, http = server
    padding = "x" * 1000
    lines = [tenant(f"t-big-{n}", name=padding) for n in range(1100)]  # about 1.2 MB
    assert len(jsonl(lines)) > LIMIT
    plain = http.post("/v1/events", content=jsonl(lines), headers=NDJSON)
    assert plain.status_code == 413 and "limit" in plain.json()["error"]
    squeezed = gzip.compress(jsonl(lines))  # small on the wire, over the limit once inflated
    assert len(squeezed) < LIMIT
    packed = http.post("/v1/events", content=squeezed, headers={**NDJSON, "Content-Encoding": "gzip"})
    assert packed.status_code == 413
    assert http.get("/v1/projects/t-big-0").status_code == 404


def _gzip_bomb(gib: int) -> bytes:
    """A valid gzip of `gib` GiB of zeros in about 1 MB per GiB, built without compressing it all.

    After a full flush the compressor's output for the same input repeats exactly, so one
    flushed block of 4 MiB of zeros is repeated; the trailer carries the true CRC and size.
    """
    zeros = b"\0" * (1 << 22)
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    blocks = gib * 256
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    end = packer.flush()[:-8] + struct.pack("<II", crc, (blocks * len(zeros)) & 0xFFFFFFFF)
    return head + block * (blocks - 2) + end


def test_a_gzip_bomb_is_refused_quickly_without_inflating_it(server: tuple[Server, httpx.Client]) -> None:
    _, http = server
    bomb = _gzip_bomb(1)  # 1 GiB of zeros in about 1 MB
    started = time.monotonic()
    answer = http.post("/v1/events", content=bomb, headers={**NDJSON, "Content-Encoding": "gzip"})
    assert answer.status_code == 413
    assert time.monotonic() - started < 2.0  # inflating 1 GiB would take longer on this machine
    assert http.get("/livez").status_code == 200


def _raw_request(port: int, token: str, body: bytes, sent: int) -> socket.socket:
    """Start a POST whose body is only partly sent: the batch holds its queue place meanwhile."""
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/x-ndjson\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection((HOST, port))
    sock.sendall(head + body[:sent])
    return sock


def _hold_the_only_place(running: Server, http: httpx.Client, body: bytes) -> tuple[socket.socket, httpx.Response]:
    """A half-sent upload that holds the queue's one place, and the 429 another batch got meanwhile.

    Until the upload is admitted, a probe may take the place first (the upload then gets 429
    itself and is started again); once it is admitted, every probe gets 429.
    """
    token = http.headers["Authorization"].removeprefix("Bearer ")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        slow = _raw_request(running.port, token, body, sent=len(body) // 2)
        probe = http.post("/v1/events", json=[request_event(600)])
        if probe.status_code == 429:
            return slow, probe
        slow.close()
    raise AssertionError("the half-sent upload never held the queue's place")


def test_a_full_queue_answers_429_with_retry_after_and_loses_nothing(server: tuple[Server, httpx.Client]) -> None:
    running, http = server
    body = jsonl([request_event(n) for n in range(500, 510)])
    slow, busy = _hold_the_only_place(running, http, body)
    try:
        assert busy.headers["Retry-After"] == "1"
        assert "queue is full" in busy.json()["error"]
        slow.sendall(body[len(body) // 2 :])
        reply = HTTPResponse(slow)
        reply.begin()
        assert reply.status == 200
        assert orjson.loads(reply.read())["accepted"] == 10
    finally:
        slow.close()
    retried = http.post("/v1/events", json=[request_event(600)]).json()
    assert retried["accepted"] + retried["duplicates"] == 1


def test_the_writer_finds_events_stored_before_the_server_started(tmp_path: Path) -> None:
    """The server keeps the hashes of the ids stored around now (store/recent_ids.py); it reads those
    stored before it started from the store, so their re-sends are still duplicates or conflicts."""
    db = tmp_path / "store.duckdb"
    [token] = make_tokens(db, (Role.operator, None))
    now = datetime.now(UTC).replace(microsecond=0)

    def live(n: int, **changes: Any) -> dict[str, Any]:
        return {**request_event(n, "t-live"), "ts": (now - timedelta(minutes=n)).isoformat(), **changes}

    with open_store(db) as store:
        body = tmp_path / "earlier.jsonl"
        body.write_bytes(jsonl([live(n) for n in range(5)]))
        assert ingest_files(store, [str(body)]).accepted == 5
    running = Server(db).start()
    try:
        with running.client(token) as http:
            # The writer reads the hashes of the five first, before any batch asks (api/owner.py).
            waited = time.monotonic()
            while "healthdeck_recent_id_hashes 5.0" not in http.get("/metrics").text:
                assert time.monotonic() - waited < 30, "the writer did not read the ids stored around now"
                time.sleep(0.1)
            assert (
                http.post("/v1/events", content=jsonl([live(n) for n in range(5, 10)]), headers=NDJSON).json()[
                    "accepted"
                ]
                == 5
            )
            again = [live(1), live(2), live(3, status=503)]  # all three stored before the server started
            result = http.post("/v1/events", content=jsonl(again), headers=NDJSON).json()
            assert (result["accepted"], result["duplicates"], result["rejected"]) == (0, 2, 1)
            assert result["rejects"][0]["line"] == 3
            assert "conflicts with the stored record" in result["rejects"][0]["error"]
            result = http.post("/v1/events", content=jsonl([live(6), live(7)]), headers=NDJSON).json()
            assert (result["accepted"], result["duplicates"], result["rejected"]) == (0, 2, 0)
            metrics = http.get("/metrics").text  # the ten ids, each held once; one batch new, two looked up
            assert "healthdeck_recent_id_hashes 10.0" in metrics
            assert 'healthdeck_id_lookups_total{answer="new"} 1.0' in metrics
            assert 'healthdeck_id_lookups_total{answer="maybe"} 2.0' in metrics
            assert 'healthdeck_id_lookups_total{answer="not_kept"} 0.0' in metrics
            assert stored(http, "requests") == 10
    finally:
        code, stderr = running.stop(signal.SIGTERM)
        assert code == 0, stderr

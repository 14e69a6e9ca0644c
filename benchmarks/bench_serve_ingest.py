"""Benchmark: events/s ingested over HTTP by `healthdeck serve` from 4 concurrent clients.

The baseline, measured in the same run on the same file, is `healthdeck ingest FILE` into a
fresh store. Both paths validate and deduplicate the same way (the server calls the same
function), so the ratio is what HTTP, the body spooling and the single-writer queue cost.

    .venv/bin/python benchmarks/bench_serve_ingest.py [--events 400000] [--batch 10000] [--clients 4]
        [--past-day 8000000]

`--past-day N` first fills the server's store with N requests spread over the past day (a busy
day's worth, random ids): each batch's ids are then looked for among them (store/recent_ids.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

from bench_id_lookup import build  # benchmarks/ is the script's folder
from healthdeck.api.tokens import Role, create_token
from healthdeck.store.connection import open_store
from serving import HOST, free_port, start_server


def _events(count: int) -> list[bytes]:
    start = datetime.now(UTC) - timedelta(hours=6)
    return [
        orjson.dumps(
            {
                "kind": "requests",
                "event_id": f"bench-{n}",
                "ts": (start + timedelta(milliseconds=n * 50)).isoformat(),
                "tenant_id": f"t-{n % 200:04d}",
                "endpoint": f"/v1/items/{n % 17}",
                "method": "GET" if n % 5 else "POST",
                "status": 500 if n % 97 == 0 else 200,
                "latency_ms": 20.0 + n % 300,
            }
        )
        + b"\n"
        for n in range(count)
    ]


def _baseline(file: Path, folder: Path) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "healthdeck", "ingest", str(file), "--db", str(folder / "cli.duckdb")]
    subprocess.run([*command, "--output", "json"], check=True, capture_output=True)
    return time.perf_counter() - started


def _post_all(url: str, token: str, bodies: list[bytes], retried: list[int]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as http:
        for body in bodies:
            while (answer := http.post("/v1/events", content=body)).status_code == 429:
                retried.append(1)
                time.sleep(float(answer.headers["Retry-After"]))
            answer.raise_for_status()


def _read_while_ingesting(url: str, token: str, done: threading.Event, latencies: list[float]) -> None:
    """GET /v1/store over and over while the clients ingest: reads are not queued behind the writer."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600) as http:
        while not done.is_set():
            started = time.perf_counter()
            http.get("/v1/store").raise_for_status()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)


def _over_http(
    lines: list[bytes], folder: Path, *, batch: int, clients: int, past_day: int
) -> tuple[float, int, int, list[float]]:
    db = folder / "serve.duckdb"
    if past_day:
        build(db, past_day, datetime.now(UTC))
    with open_store(db, create=True) as store:
        _, token = create_token(store.con, role=Role.operator, name="bench")
    port = free_port()
    server = start_server(db, port)
    bodies = [b"".join(lines[i : i + batch]) for i in range(0, len(lines), batch)]
    shares, retried = [bodies[c::clients] for c in range(clients)], []  # type: ignore[var-annotated]
    url = f"http://{HOST}:{port}"
    threads = [threading.Thread(target=_post_all, args=(url, token, share, retried)) for share in shares]
    done, reads = threading.Event(), []  # type: ignore[var-annotated]
    reader = threading.Thread(target=_read_while_ingesting, args=(url, token, done, reads))
    started = time.perf_counter()
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    done.set()
    reader.join()
    headers = {"Authorization": f"Bearer {token}"}
    stored = httpx.get(f"{url}/v1/store", headers=headers).json()["tables"]["requests"] - past_day
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=120)
    return elapsed, int(stored), len(retried), reads


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--batch", type=int, default=10_000, help="events per HTTP request")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--past-day", type=int, default=0, help="requests already stored over the past day")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines = _events(args.events)
        file = folder / "events.jsonl"
        file.write_bytes(b"".join(lines))
        print(
            f"{args.events:,} request events, {file.stat().st_size / 1e6:.1f} MB of JSON Lines; {os.cpu_count()} cores"
        )
        cli = _baseline(file, folder)
        http, stored, retried, reads = _over_http(
            lines, folder, batch=args.batch, clients=args.clients, past_day=args.past_day
        )
    assert stored == args.events, f"the server stored {stored:,} of {args.events:,}"
    print(f"baseline `healthdeck ingest FILE`: {cli:.2f} s, {args.events / cli:,.0f} events/s (with start-up)")
    beside = f", beside {args.past_day:,} requests of the past day" if args.past_day else ""
    print(
        f"HTTP, {args.clients} clients × batches of {args.batch:,}{beside}: {http:.2f} s, "
        f"{args.events / http:,.0f} events/s ({retried} answers 429, retried)"
    )
    print(f"ratio HTTP / CLI events/s: {cli / http:.2f}")
    print(
        f"GET /v1/store during the ingest: {len(reads)} reads, median {statistics.median(reads) * 1000:.0f} ms, "
        f"max {max(reads) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()

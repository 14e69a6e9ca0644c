"""Benchmark: the health report on a 100 M-request store, cold, warm, and against hand-written SQL.

    .venv/bin/python benchmarks/bench_scale.py --db /path/to/big.duckdb [--repeat 5] [--calls 50]
    .venv/bin/python benchmarks/bench_scale.py --db /path/to/big.duckdb --build   # simulate it first

`--build` fills a new store with `healthdeck simulate --tenants 5000 --days 30 --requests-per-day
3400000` (about 100 M requests) and prints how long it took and its peak RSS; keep that store
outside any clone and reuse it. Every figure comes with a baseline measured in the same run:

- cold: `healthdeck health --full --output json` in a fresh process (and `--service`, the area whose
  numbers the floor computes, with the service area's score, statuses and explanations), with the compiled SQL templates
  kept beside the store (the usual case) and with `HEALTHDECK_SQL_TEMPLATES=off` (everything
  compiled, as on a first run); against the floor, hand-written DuckDB SQL computing the service
  area's numbers (request rate, 5xx and 4xx rates, p50/p95/p99 latency over the 5-minute window and
  the one before it; every sampled service metric, availability included, over its window and the
  one before) in a fresh process on a read-only connection. And against the full report's own floor:
  the very statements the engine runs for it (recorded in process, with their parameters), run by
  DuckDB alone in a fresh process, which tells what of a cold report is healthdeck's own cost
  (Python's start-up and imports, the catalog, planning, scoring) and what is the engine's queries.
- in process: the engine's full report, and its service area alone, against the floor's queries on
  the same open connection.
- memory: the peak RSS of each cold report, without a limit and with HEALTHDECK_MEMORY_LIMIT=1GiB.
- warm: `healthdeck serve --no-auth` on the store, then `GET /v1/summary` (the latest scheduled
  evaluation, evaluating nothing) `--calls` times; baseline `GET /livez` (no store). The server owns
  the store and writes its history into it: `--no-warm` leaves it out, for a store that must stay as it is.

The report is evaluated at the store's newest request, so that its windows hold data however long
ago the store was simulated. The fresh processes keep Python's bytecode in a temporary folder, as an
installed copy does, even when PYTHONDONTWRITEBYTECODE is set (`--no-bytecode-cache` leaves it: a
checkout then compiles every healthdeck module from source in every process, 0.05–0.07 s of CPU).
Wall and CPU times are medians; CPU time is the process's user + system time (steadier than wall on
a shared machine). It asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import httpx

from healthdeck.engine.session import Engine, load_checked_catalog
from healthdeck.store.connection import open_store
from serving import HOST, free_port, start_server  # benchmarks/ is the script's folder
from timing import timed_runs

BUILD = ["--tenants", "5000", "--days", "30", "--requests-per-day", "3400000"]
# The service area's request KPIs (product_health.yaml): a 5-minute window and the one before it.
REQUESTS_FLOOR = """
SELECT
    count(*) FILTER (ts >= $start) / 300.0 AS request_rate,
    100.0 * count(*) FILTER (ts >= $start AND status BETWEEN 500 AND 599) / count(*) FILTER (ts >= $start),
    100.0 * count(*) FILTER (ts >= $start AND status BETWEEN 400 AND 499) / count(*) FILTER (ts >= $start),
    quantile_cont(latency_ms, [0.5, 0.95, 0.99]) FILTER (ts >= $start),
    count(*) FILTER (ts < $start) / 300.0,
    100.0 * count(*) FILTER (ts < $start AND status BETWEEN 500 AND 599) / count(*) FILTER (ts < $start),
    100.0 * count(*) FILTER (ts < $start AND status BETWEEN 400 AND 499) / count(*) FILTER (ts < $start),
    quantile_cont(latency_ms, [0.5, 0.95, 0.99]) FILTER (ts < $start)
FROM requests
WHERE ts >= $start - INTERVAL 5 MINUTE AND ts < $end
"""
# Every sampled service KPI (availability from `up` over 24 h, pod restarts over 1 h, the rest over
# 5 minutes), each with the window before it: one pass over the last 48 hours of samples.
SAMPLES_FLOOR = """
SELECT
    metric,
    avg(value) FILTER (ts >= $end - INTERVAL 5 MINUTE),
    avg(value) FILTER (ts >= $end - INTERVAL 10 MINUTE AND ts < $end - INTERVAL 5 MINUTE),
    arg_max(value, ts) FILTER (ts >= $end - INTERVAL 5 MINUTE),
    sum(value) FILTER (ts >= $end - INTERVAL 1 HOUR),
    sum(value) FILTER (ts >= $end - INTERVAL 2 HOUR AND ts < $end - INTERVAL 1 HOUR),
    avg(value) FILTER (ts >= $end - INTERVAL 24 HOUR),
    avg(value) FILTER (ts < $end - INTERVAL 24 HOUR)
FROM samples
WHERE ts >= $end - INTERVAL 48 HOUR AND ts < $end
GROUP BY metric
"""
FLOOR_PROCESS = textwrap.dedent(
    """
    import sys, duckdb
    from datetime import datetime, timedelta
    end = datetime.fromisoformat(sys.argv[2])
    con = duckdb.connect(sys.argv[1], read_only=True)
    con.execute(sys.argv[3], {"start": end - timedelta(minutes=5), "end": end}).fetchall()
    con.execute(sys.argv[4], {"end": end}).fetchall()
    """
)


# The full report's own floor: the very statements the engine ran for it (recorded in process by
# `report_statements`), run by DuckDB alone in a fresh process: the engine doing the same work.
SAME_QUERIES_PROCESS = textwrap.dedent(
    """
    import pickle, sys, duckdb
    statements = pickle.loads(open(sys.argv[2], "rb").read())
    con = duckdb.connect(sys.argv[1], read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    for sql, params in statements:
        con.execute(sql, params).fetchall()
    """
)


@dataclass(frozen=True)
class Run:
    """One process: wall and CPU seconds, peak RSS in MB."""

    wall: float
    cpu: float
    peak_mb: float


def run_process(command: list[str], env: dict[str, str] | None = None) -> Run:
    """Run `command` to its end: its wall time, its own CPU time (wait4) and its peak RSS.

    The peak is the kernel's high-water mark of the process's memory after exec (VmHWM, read every
    10 ms until it exits): wait4's ru_maxrss would also count this benchmark's own memory, which a
    child inherits across fork and exec.
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    assert child.stderr is not None
    os.set_blocking(child.stderr.fileno(), False)
    error, peak_kb = b"", 0
    while True:
        peak_kb = max(peak_kb, _high_water_kb(child.pid))
        error += child.stderr.read() or b""
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.01)
    error += child.stderr.read() or b""
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{command[:5]} failed: {error.decode()[-2000:]}")
    return Run(time.perf_counter() - started, usage.ru_utime + usage.ru_stime, peak_kb / 1024)


def _high_water_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:  # exited meanwhile
        pass
    return 0


def warmed_medians(command: list[str], repeat: int, env: dict[str, str] | None = None) -> Run:
    """The medians of `repeat` runs of `command`, after one unmeasured run (it may write the store's
    templates; the OS cache is warm after it)."""
    run_process(command, env)
    return medians([run_process(command, env) for _ in range(repeat)])


def medians(runs: list[Run]) -> Run:
    return Run(*(statistics.median(getattr(r, name) for r in runs) for name in ("wall", "cpu", "peak_mb")))


def build(db: Path) -> None:
    if db.exists():
        raise SystemExit(f"--build: {db} exists; give a new path, or drop --build to reuse it")
    command = [sys.executable, "-m", "healthdeck", "simulate", *BUILD, "--quiet", "--db", str(db)]
    run = run_process(command)
    print(f"built {db} ({' '.join(BUILD)}): {run.wall:.0f} s wall, {run.cpu:.0f} s CPU, peak RSS {run.peak_mb:,.0f} MB")


def newest_request(db: Path) -> datetime:
    with open_store(db, read_only=True) as store:
        row = store.con.execute("SELECT max(ts), count(*), count(DISTINCT tenant_id) FROM requests").fetchone()
    assert row is not None and row[0] is not None, "the store holds no requests"
    print(f"store: {db} ({row[1]:,} requests from {row[2]:,} tenants), evaluated at its newest request {row[0]}")
    return row[0] + timedelta(microseconds=1)  # windows end before their end instant


def cold(db: Path, at: datetime, repeat: int, env: dict[str, str] | None = None, *, area: str = "--full") -> Run:
    command = [sys.executable, "-m", "healthdeck", "health", area, "--output", "json"]
    command += ["--at", at.isoformat(), "--db", str(db)]
    return warmed_medians(command, repeat, env)


def floor_process(db: Path, at: datetime, repeat: int) -> Run:
    command = [sys.executable, "-c", FLOOR_PROCESS, str(db), at.isoformat(), REQUESTS_FLOOR, SAMPLES_FLOOR]
    return warmed_medians(command, repeat)


class Recording:
    """A store connection that keeps each statement run through it, with its parameters."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con, self.statements = con, []

    def execute(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
        self.statements.append((sql, params))
        return self.con.execute(sql, params)

    def __getattr__(self, name: str) -> object:
        return getattr(self.con, name)


def report_statements(db: Path, at: datetime) -> list[tuple[str, object]]:
    """The statements a full report runs on the store, in order, as a fresh engine runs them."""
    with open_store(db, read_only=True) as store:
        Engine(store, load_checked_catalog()).health(at=at)  # the templates compiled, as in a cold run
        recording = Recording(store.con)
        store.con = recording  # type: ignore[assignment]
        Engine(store, load_checked_catalog()).health(at=at)
    return recording.statements


def same_queries_process(db: Path, at: datetime, repeat: int, scratch: Path) -> Run:
    statements = report_statements(db, at)
    recorded = scratch / "statements.pickle"
    recorded.write_bytes(pickle.dumps(statements))
    print(f"the full report's statements: {len(statements)}")
    command = [sys.executable, "-c", SAME_QUERIES_PROCESS, str(db), str(recorded)]
    return warmed_medians(command, repeat)


def timed(repeat: int, action: Callable[[], object]) -> tuple[float, float]:
    """Median wall and CPU seconds of `action`, after one run to warm up."""
    action()
    walls, cpus = timed_runs(repeat, action)
    return statistics.median(walls), statistics.median(cpus)


def in_process(db: Path, at: datetime, repeat: int) -> None:
    with open_store(db, read_only=True) as store:
        engine, con = Engine(store, load_checked_catalog()), store.con
        full = timed(repeat, lambda: engine.health(at=at))
        service = timed(repeat, lambda: engine.health(at=at, areas=["service"]))
        floor = timed(repeat, lambda: _floor(con, at))
    print(f"in process ({repeat} runs, median, wall / CPU):")
    print(f"  floor, the service area's numbers by hand  {floor[0]:6.3f} s / {floor[1]:6.3f} s")
    for name, (wall, cpu) in (("engine, service area", service), ("engine, full report", full)):
        print(f"  {name:<42} {wall:6.3f} s / {cpu:6.3f} s   ratio {wall / floor[0]:5.2f} / {cpu / floor[1]:5.2f}")


def _floor(con: duckdb.DuckDBPyConnection, at: datetime) -> None:
    con.execute(REQUESTS_FLOOR, {"start": at - timedelta(minutes=5), "end": at}).fetchall()
    con.execute(SAMPLES_FLOOR, {"end": at}).fetchall()


def warm(db: Path, calls: int) -> None:
    port = free_port()
    # A day of history: the start-up backfill then evaluates at most one past day beside the calls.
    server = start_server(db, port, "--no-auth", "--history-retention", "1d", "--expire-every", "off")
    url = f"http://{HOST}:{port}"
    try:
        with httpx.Client(base_url=url, timeout=600) as http:
            waited = time.perf_counter()
            while http.get("/v1/summary").status_code != 200:  # until the first scheduled evaluation is kept
                time.sleep(0.5)
            print(f"warm: serve's first evaluation kept after {time.perf_counter() - waited:.1f} s")
            summary = _latencies(http, "/v1/summary", calls)
            livez = _latencies(http, "/livez", calls)
    finally:
        server.terminate()
        server.wait(timeout=120)
    for name, values in (("GET /v1/summary", summary), ("GET /livez (baseline)", livez)):
        p95 = statistics.quantiles(values, n=20)[-1]
        print(f"  {name:<24} median {statistics.median(values) * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms")
    print(f"  ratio summary / livez (median) {statistics.median(summary) / statistics.median(livez):.1f}")


def _latencies(http: httpx.Client, path: str, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        assert http.get(path).status_code == 200
        times.append(time.perf_counter() - started)
    return times


def show(name: str, run: Run, floor: Run) -> None:
    print(
        f"  {name:<44} {run.wall:6.2f} s / {run.cpu:6.2f} s, peak {run.peak_mb:6,.0f} MB"
        f"   ratio {run.wall / floor.wall:5.2f} / {run.cpu / floor.cpu:5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", type=Path, required=True, help="the big store (made by --build, else reused)")
    parser.add_argument("--build", action="store_true", help="simulate the store first (a new path)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--no-warm", action="store_true", help="skip `serve` (it writes its history into the store)")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="leave PYTHONDONTWRITEBYTECODE as it is")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        if not args.no_bytecode_cache:  # the processes' environment: run_process and serve pass it on
            os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
            os.environ["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")
        measure(args, Path(scratch))


def measure(args: argparse.Namespace, scratch: Path) -> None:
    if args.build:
        build(args.db)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    at = newest_request(args.db)
    floor = floor_process(args.db, at, args.repeat)
    print(f"cold, fresh processes ({args.repeat} runs, median, wall / CPU, peak RSS):")
    show("floor: service-area SQL, read-only", floor, floor)
    report = cold(args.db, at, args.repeat)
    show("health --full, templates kept", report, floor)
    show("health --service, templates kept", cold(args.db, at, args.repeat, area="--service"), floor)
    same = same_queries_process(args.db, at, args.repeat, scratch)
    show("the report's own statements, DuckDB alone", same, floor)
    print(f"  ratio health --full / its own statements: {report.wall / same.wall:.2f} / {report.cpu / same.cpu:.2f}")
    show(
        "health --full, HEALTHDECK_SQL_TEMPLATES=off",
        cold(args.db, at, args.repeat, {"HEALTHDECK_SQL_TEMPLATES": "off"}),
        floor,
    )
    show(
        "health --full, HEALTHDECK_MEMORY_LIMIT=1GiB",
        cold(args.db, at, args.repeat, {"HEALTHDECK_MEMORY_LIMIT": "1GiB"}),
        floor,
    )
    in_process(args.db, at, args.repeat)
    if not args.no_warm:
        warm(args.db, args.calls)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()

"""`healthdeck simulate`: fill the store with a realistic, deterministic SaaS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from healthdeck.cli.console import err, out, print_json
from healthdeck.cli.options import DbOption, EngineOption, Output
from healthdeck.cli.remote import find_server, on_store
from healthdeck.errors import HealthdeckError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from healthdeck.engines.url import EngineUrl
    from healthdeck.sim.config import SimConfig
    from healthdeck.sim.provenance import Plan
    from healthdeck.store.connection import Store
    from healthdeck.store.ingest import IngestReport

SCENARIO_HELP = (
    "What the month holds: demo (an incident, a churning segment and a GPU squeeze), healthy, "
    "incident, churn or capacity."
)
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]


def simulate(
    tenants: Annotated[int, typer.Option(min=1, help="How many tenants.")] = 500,
    days: Annotated[int, typer.Option(min=1, help="How many days of history, ending at --end.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same store.")] = 7,
    end: Annotated[
        str | None,
        typer.Option(help="End of simulated time, ISO 8601 with time zone (default: now, or the store's earlier run)."),
    ] = None,
    requests_per_day: Annotated[
        int | None, typer.Option(min=1, help="API requests per day in all (default: about 1,200 per tenant).")
    ] = None,
    scenario: Annotated[str, typer.Option(help=SCENARIO_HELP)] = "demo",
    append: Annotated[
        bool, typer.Option("--append", help="Add to a store that already holds other data (exit 2 without it).")
    ] = False,
    quiet: QuietOption = False,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
    engine_url: EngineOption = None,
) -> None:
    """Simulate a multi-tenant SaaS (traffic, billing, support, tiers, jobs, infrastructure) into the store."""
    from healthdeck.engines.url import resolve_engine
    from healthdeck.sim.config import make_config  # numpy-heavy: load only when used
    from healthdeck.sim.provenance import plan_run
    from healthdeck.sim.run import run_plan
    from healthdeck.store.connection import open_store

    end_at = _parse_end(end)
    cfg = make_config(
        tenants=tenants, days=days, seed=seed, end=end_at, requests_per_day=requests_per_day, scenario=scenario
    )
    started = time.perf_counter()
    url = resolve_engine(engine_url)
    db = Path(url.target) if url is not None and url.kind == "duckdb" else db
    if url is not None and url.kind != "duckdb":
        plan, report = _simulate_into_engine(url, cfg, end_given=end_at is not None, quiet=quiet, output=output)
    elif find_server(db) is not None:  # the server holds the store: it runs the simulation on its writer
        job = partial(_simulate_in, cfg=cfg, end_given=end_at is not None, append=append)
        plan, report = on_store(db, job, write=True)
        if output is Output.text:
            err.print(_announce(plan.mode, plan.cfg.describe()) + " (in the running server)", markup=False)
    else:
        with open_store(db, create=True) as store:
            plan = plan_run(store, cfg, end_given=end_at is not None, append=append)
            if output is Output.text:
                err.print(_announce(plan.mode, plan.cfg.describe()), markup=False)
            with rich_progress(enabled=not quiet) as progress:
                report = run_plan(store, plan, progress)
    seconds = time.perf_counter() - started
    if output is Output.json:
        summary = {"mode": plan.mode, "simulation": plan.cfg.record(), "seconds": round(seconds, 2)}
        print_json({**report.as_json(), **summary})
        return
    _print_summary(report, seconds)


def _simulate_into_engine(
    url: EngineUrl, cfg: SimConfig, *, end_given: bool, quiet: bool, output: Output
) -> tuple[Plan, IngestReport]:
    """Simulate into PostgreSQL or ClickHouse: each batch validated in DuckDB, then stored there.

    The engine keeps no record of earlier runs, so a run again is a run anew whose records the
    engine already holds: they count as duplicates, and nothing is stored twice.
    """
    from healthdeck.engines.ingest import StagingStore
    from healthdeck.engines.store import open_engine_store
    from healthdeck.sim.provenance import plan_run
    from healthdeck.sim.run import run_plan

    target = open_engine_store(url, create=True, read_only=False)
    with StagingStore(target, Path(".healthdeck")) as store:
        plan = plan_run(store, cfg, end_given=end_given, append=False)
        if output is Output.text:
            err.print(_announce(plan.mode, plan.cfg.describe()) + f" into {url.shown}", markup=False)
        with rich_progress(enabled=not quiet) as progress:
            return plan, run_plan(store, plan, progress)


def _simulate_in(store: Store, *, cfg: SimConfig, end_given: bool, append: bool) -> tuple[Plan, IngestReport]:
    """Plan and write a simulation inside the server that holds the store (no progress bars there)."""
    from healthdeck.sim.provenance import plan_run
    from healthdeck.sim.run import run_plan

    plan = plan_run(store, cfg, end_given=end_given, append=append)
    return plan, run_plan(store, plan)


def _announce(mode: str, described: str) -> str:
    return {
        "new": f"simulating {described}",
        "again": f"simulating {described} again: the store holds part of it, so only what is missing is added",
        "complete": f"the store holds {described} complete already: nothing to add",
        "append": f"appending {described} to the data already in the store",
    }[mode]


def _print_summary(report: IngestReport, seconds: float) -> None:
    out.print(
        f"simulated: {report.accepted:,} records added, {report.duplicates:,} already stored, "
        f"{report.rejected:,} rejected, in {seconds:.1f} s"
    )
    counts = sorted(((n, kind) for kind, n in report.by_kind.items() if n), reverse=True)
    added = ", ".join(f"{kind} {n:,}" for n, kind in counts)
    if added:
        out.print(f"  {added}", markup=False)


def _parse_end(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise HealthdeckError(f"--end {text!r} is not an ISO 8601 timestamp (e.g. 2026-11-25T00:00:00Z)") from exc
    if value.tzinfo is None:
        raise HealthdeckError(f"--end {text!r} has no time zone; add Z or +HH:MM")
    return value


class RichProgress:
    """The simulator's progress as Rich bars on standard error: window days, then rows per kind."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars
        self.tasks: dict[str, TaskID] = {}

    def begin(self, days: int, requests: int) -> None:
        self.tasks["_days"] = self.bars.add_task("window days generated", total=days, unit="days")
        self.tasks["requests"] = self.bars.add_task("requests ingested", total=requests, unit="rows")

    def rows(self, kind: str, count: int) -> None:
        if kind not in self.tasks:
            self.tasks[kind] = self.bars.add_task(f"{kind} ingested", total=None, unit="rows")
        self.bars.advance(self.tasks[kind], count)

    def day(self) -> None:
        self.bars.advance(self.tasks["_days"])

    def close(self) -> None:
        """Fill the bars whose total was an estimate (a few requests fall before their tenant signs up)."""
        for task in self.bars.tasks:
            self.bars.update(task.id, total=task.completed)


@contextmanager
def rich_progress(*, enabled: bool) -> Iterator[RichProgress | None]:
    """Progress bars on a terminal (never on standard output); nothing when piped or `--quiet`."""
    if not enabled or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bars:
        progress = RichProgress(bars)
        yield progress
        progress.close()

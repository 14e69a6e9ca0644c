"""`healthdeck simulate`: fill the store with a realistic, deterministic SaaS."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import typer

from healthdeck.cli.console import err, out, print_json
from healthdeck.cli.options import DbOption, Output
from healthdeck.errors import HealthdeckError


def simulate(
    tenants: Annotated[int, typer.Option(min=1, help="How many tenants.")] = 500,
    days: Annotated[int, typer.Option(min=1, help="How many days of history, ending at --end.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same store.")] = 7,
    end: Annotated[
        str | None, typer.Option(help="End of simulated time, ISO 8601 with time zone (default: now).")
    ] = None,
    requests_per_day: Annotated[
        int | None, typer.Option(min=1, help="API requests per day in all (default: about 800 per tenant).")
    ] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
    db: DbOption = None,
) -> None:
    """Simulate a multi-tenant SaaS (traffic, billing, support, tiers, jobs, infrastructure) into the store."""
    from healthdeck.sim import simulate as run_simulation  # numpy-heavy: load only when used
    from healthdeck.store.connection import open_store

    end_at = _parse_end(end)
    started = time.perf_counter()
    with open_store(db, create=True) as store:
        report = run_simulation(
            store,
            tenants=tenants,
            days=days,
            seed=seed,
            end=end_at,
            requests_per_day=requests_per_day,
            progress=_progress_printer() if output is Output.text else None,
        )
    seconds = time.perf_counter() - started
    if output is Output.json:
        print_json({**report.as_json(), "seconds": round(seconds, 2)})
        return
    out.print(
        f"simulated {tenants} tenants × {days} days: {report.accepted:,} records "
        f"({report.duplicates:,} already stored) in {seconds:.1f} s"
    )


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


def _progress_printer() -> Callable[[str, int], None] | None:
    if not err.is_terminal:
        return None

    def show(stage: str, rows: int) -> None:
        err.print(f"  {stage}: {rows:,} rows", end="\r")

    return show

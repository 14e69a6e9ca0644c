"""`healthdeck demo`: the main job on the embedded default — simulate if empty, then show health."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from healthdeck.cli.console import err, out
from healthdeck.cli.engine_access import engine
from healthdeck.cli.options import DbOption
from healthdeck.cli.render import health_view
from healthdeck.cli.simulate_cmd import QuietOption, rich_progress

if TYPE_CHECKING:
    from healthdeck.store.connection import Store


def demo(
    tenants: Annotated[int, typer.Option(min=1, help="Tenants to simulate when the store is empty.")] = 500,
    days: Annotated[int, typer.Option(min=1, help="Days to simulate when the store is empty.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 7,
    quiet: QuietOption = False,
    db: DbOption = None,
) -> None:
    """Fill an empty store with a simulated 30-day SaaS (scenario demo), then print its health (`make demo`)."""
    from healthdeck.store.connection import open_store  # DuckDB loads only when a command runs
    from healthdeck.store.schema import KINDS

    simulated_until = None
    with open_store(db, create=True) as store:
        path = store.path
        if not any(store.count(name) for name in KINDS):
            simulated_until = _simulate_demo(store, tenants=tenants, days=days, seed=seed, quiet=quiet)
    with engine(path, None) as hd:
        # Right after simulating, the health is shown as of the simulation's end: the run takes a
        # minute or two, and 5-minute KPIs measured at the later "now" would see a part-empty window.
        health = hd.health(at=simulated_until)
    out.print(health_view(health, full=False))
    out.print(
        f"\nStore: {path}. Next: `healthdeck health --full`, `healthdeck status --quick`, "
        "`healthdeck metrics get --name api_latency_p95`. What the demo injects: README, Simulated SaaS.",
        markup=False,
    )


def _simulate_demo(store: Store, *, tenants: int, days: int, seed: int, quiet: bool) -> datetime:
    """Simulate the demo scenario into the empty `store`; return where simulated time ends."""
    from healthdeck.sim.config import make_config  # numpy-heavy: load only when needed
    from healthdeck.sim.provenance import plan_run
    from healthdeck.sim.run import run_plan

    cfg = make_config(tenants=tenants, days=days, seed=seed, end=None, requests_per_day=None)
    plan = plan_run(store, cfg, end_given=False, append=False)
    err.print(f"The store {store.path} is empty: simulating {plan.cfg.describe()} …", markup=False)
    started = time.perf_counter()
    with rich_progress(enabled=not quiet) as progress:
        simulated = run_plan(store, plan, progress)
    err.print(f"simulated {simulated.accepted:,} records in {time.perf_counter() - started:.1f} s")
    return plan.cfg.end

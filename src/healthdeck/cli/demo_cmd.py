"""`healthdeck demo`: the main job on the embedded default — simulate if empty, then show health."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from healthdeck.cli.console import err, out
from healthdeck.cli.engine_access import engine
from healthdeck.cli.options import DbOption
from healthdeck.cli.render import health_view


def demo(
    tenants: Annotated[int, typer.Option(min=1, help="Tenants to simulate when the store is empty.")] = 500,
    days: Annotated[int, typer.Option(min=1, help="Days to simulate when the store is empty.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 7,
    db: DbOption = None,
) -> None:
    """Fill an empty store with a simulated 30-day SaaS, then print its health (the `make demo` job)."""
    from healthdeck.store.connection import open_store  # DuckDB loads only when a command runs

    with open_store(db, create=True) as store:
        empty = store.count("requests") == 0
        if empty:
            from healthdeck.sim import simulate  # numpy-heavy: load only when needed

            err.print(f"The store {store.path} is empty: simulating {tenants} tenants × {days} days …")
            started = time.perf_counter()
            simulated = simulate(store, tenants=tenants, days=days, seed=seed)
            err.print(f"simulated {simulated.accepted:,} records in {time.perf_counter() - started:.1f} s")
        path = store.path
    with engine(path, None) as hd:
        health = hd.health()
    out.print(health_view(health, full=False))
    out.print(
        f"\nStore: {path}. Next: `healthdeck health --full`, `healthdeck status --quick`, "
        "`healthdeck metrics get --name api_latency_p95`.",
        markup=False,
    )

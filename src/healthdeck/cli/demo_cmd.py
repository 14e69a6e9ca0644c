"""`healthdeck demo`: the main job on the embedded default — simulate if empty, then show health."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from healthdeck.cli.console import err, out
from healthdeck.cli.engine_access import engine
from healthdeck.cli.options import DbOption
from healthdeck.cli.render import health_view
from healthdeck.cli.simulate_cmd import QuietOption, rich_progress
from healthdeck.errors import HealthdeckError

if TYPE_CHECKING:
    from types import FrameType

    from healthdeck.sim.config import SimConfig
    from healthdeck.sim.provenance import Plan
    from healthdeck.store.connection import Store

DEMO_FEED_TOKEN = "demo-feed"
DEMO_VIEWER_TOKEN = "demo"


def demo(
    tenants: Annotated[int, typer.Option(min=1, help="Tenants to simulate when the store is empty.")] = 500,
    days: Annotated[int, typer.Option(min=1, help="Days to simulate when the store is empty.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 7,
    quiet: QuietOption = False,
    db: DbOption = None,
) -> None:
    """Fill an empty store with a simulated 30-day SaaS (scenario demo), then print its health once.

    `make demo` runs `healthdeck serve --demo` instead: the same simulation, kept going live behind a server.
    """
    from healthdeck.sim.config import make_config  # numpy-heavy: load only when needed
    from healthdeck.sim.provenance import plan_run
    from healthdeck.store.connection import open_store  # DuckDB loads only when a command runs
    from healthdeck.store.schema import KINDS

    simulated_until = None
    with open_store(db, create=True) as store:
        path = store.path
        if not any(store.count(name) for name in KINDS):
            cfg = make_config(tenants=tenants, days=days, seed=seed, end=None, requests_per_day=None)
            plan = plan_run(store, cfg, end_given=False, append=False)
            simulated_until = _simulate(store, plan, quiet=quiet).end
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


def _simulate(store: Store, plan: Plan, *, quiet: bool) -> SimConfig:
    """Write the planned demo simulation into `store`, saying so; return its inputs."""
    from healthdeck.sim.run import run_plan  # numpy-heavy: load only when needed

    what = "is empty" if plan.mode == "new" else "holds an interrupted simulation"
    err.print(f"The store {store.path} {what}: simulating {plan.cfg.describe()} …", markup=False)
    started = time.perf_counter()
    with _interruptible(store.path), rich_progress(enabled=not quiet) as progress:
        simulated = run_plan(store, plan, progress)
    err.print(f"simulated {simulated.accepted:,} records in {time.perf_counter() - started:.1f} s")
    return plan.cfg


class SimulationInterrupted(HealthdeckError):
    """Ctrl-C while the demo was being simulated: one line, and the conventional exit code."""

    exit_code = 130


@contextmanager
def _interruptible(path: Path) -> Iterator[None]:
    """Turn Ctrl-C during a simulation into one line saying how to finish it.

    DuckDB reports the interrupt as a failed query, whichever statement it stopped: the flag
    set here tells that failure apart from a real one.
    """
    interrupted = threading.Event()

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    except (KeyboardInterrupt, Exception):
        if not interrupted.is_set():
            raise
        raise SimulationInterrupted(
            f"interrupted while simulating into {path}; what was written is kept, and the same command "
            "again finishes the simulation"
        ) from None
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass(frozen=True)
class LiveDemo:
    """What `serve --demo` starts from: the demo run, where its live feed resumes, and two fresh tokens."""

    cfg: SimConfig
    resume_us: int
    feed_token: str
    viewer_token: str


def prepare_live_demo(db: Path | None, *, tenants: int, days: int, seed: int, quiet: bool) -> LiveDemo:
    """Simulate the demo into an empty store (or finish an interrupted one); find where live time resumes."""
    from healthdeck.api.tokens import Role, create_token
    from healthdeck.store.connection import open_store

    with open_store(db, create=True) as store:
        cfg = _demo_run(store, tenants=tenants, days=days, seed=seed, quiet=quiet)
        newest = store.con.execute("SELECT epoch_us(max(ts)) FROM requests").fetchone()
        _revoke_demo_tokens(store)
        _, feed_token = create_token(store.con, role=Role.operator, name=DEMO_FEED_TOKEN)
        _, viewer_token = create_token(store.con, role=Role.viewer, name=DEMO_VIEWER_TOKEN)
    resume = max(cfg.end_us, newest[0] if newest and newest[0] is not None else 0)
    return LiveDemo(cfg=cfg, resume_us=resume, feed_token=feed_token, viewer_token=viewer_token)


def _demo_run(store: Store, *, tenants: int, days: int, seed: int, quiet: bool) -> SimConfig:
    """The demo run the store holds, simulated first when the store is empty or the run was interrupted."""
    from healthdeck.sim.config import make_config
    from healthdeck.sim.provenance import plan_run, read_contents, recorded_run

    cfg = make_config(tenants=tenants, days=days, seed=seed, end=None, requests_per_day=None)
    contents = read_contents(store)
    if contents.empty:
        return _simulate(store, plan_run(store, cfg, end_given=False, append=False), quiet=quiet)
    recorded = recorded_run(cfg, contents.runs)
    if recorded is None:
        raise HealthdeckError(
            f"--demo needs an empty store or one it made; {store.path} holds other data (not the demo's "
            f"{tenants} tenants × {days} days, seed {seed}). Pass --db for a new store, or serve it without --demo."
        )
    if contents.rows_after_last_run is None and contents.only_simulations:  # interrupted: finish it
        _simulate(store, plan_run(store, recorded, end_given=True, append=False), quiet=quiet)
    return recorded


def _revoke_demo_tokens(store: Store) -> None:
    """Each start prints new demo tokens: the previous start's stop working."""
    from healthdeck.api.tokens import list_tokens, revoke_token

    for token in list_tokens(store.con):
        if token.name in (DEMO_FEED_TOKEN, DEMO_VIEWER_TOKEN) and token.revoked_at is None:
            revoke_token(store.con, token.token_id)

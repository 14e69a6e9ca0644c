"""`simulate`: fill a store with a month of a realistic multi-tenant SaaS, through the ingest path.

Everything decided for the whole window (tenants, users, billing, incidents,
tickets, spend, rare tier events) is written first; then each window day is
generated (a thread runs a little ahead) and ingested in turn, so memory stays
bounded by about a day of requests whatever the volume. Every table goes through
`ingest_table`, like any input. The store records the run's inputs
(provenance.py), so the same run again adds nothing and another needs `append`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pyarrow as pa

from healthdeck.sim.activity import day_activity
from healthdeck.sim.billing import billing_tables
from healthdeck.sim.config import make_config
from healthdeck.sim.incidents import incidents_table
from healthdeck.sim.jobs import JobBatch, activity_jobs, jobs_table, window_jobs
from healthdeck.sim.lifecycle import Lifecycle, lifecycle_events
from healthdeck.sim.pipeline import run_ahead
from healthdeck.sim.provenance import Plan, plan_run, remember_finish, remember_start
from healthdeck.sim.scenarios import DEFAULT_SCENARIO
from healthdeck.sim.security import day_security, isolation_events
from healthdeck.sim.signals import tier_signals
from healthdeck.sim.spend import spend_table
from healthdeck.sim.support import tickets_table
from healthdeck.sim.telemetry import day_samples
from healthdeck.sim.tenants import tenants_table
from healthdeck.sim.traffic import day_requests
from healthdeck.sim.users import users_table
from healthdeck.sim.webhooks import activity_triggers, deliver, etl_triggers
from healthdeck.sim.world import World, build_world
from healthdeck.store.connection import Store
from healthdeck.store.ingest import IngestReport, ingest_table
from healthdeck.store.schema import KINDS


class Progress(Protocol):
    """Told what the run will write, then about each ingested batch and each generated window day."""

    def begin(self, days: int, requests: int) -> None: ...

    def rows(self, kind: str, count: int) -> None: ...

    def day(self) -> None: ...


# In the generating thread's outbox, this name marks the end of a window day (its table is empty).
_DAY_DONE = "_day_done"
# Tables are buffered per kind up to FLUSH_ROWS rows: each ingest call has a fixed cost and
# scans the stored event ids once, so fewer, larger batches are faster. One call never
# stages more than MAX_BATCH_ROWS rows, so memory stays bounded at any volume.
FLUSH_ROWS = 1_600_000
MAX_BATCH_ROWS = 2_000_000


@dataclass
class _Writer:
    """Sends tables to `ingest_table` with one shared report, in large batches per kind."""

    store: Store
    report: IngestReport
    progress: Progress | None
    pending: dict[str, list[pa.Table]] = field(default_factory=dict)

    def write(self, name: str, table: pa.Table) -> None:
        """Ingest `table` now, in batches of at most MAX_BATCH_ROWS rows."""
        for offset in range(0, table.num_rows, MAX_BATCH_ROWS):
            part = table.slice(offset, MAX_BATCH_ROWS)
            ingest_table(self.store, KINDS[name], part, source="simulate", sink=None, report=self.report)
            if self.progress is not None:
                self.progress.rows(name, part.num_rows)

    def take(self, name: str, table: pa.Table) -> None:
        """What the generating thread hands over: a table to queue, or the end of a window day."""
        if name != _DAY_DONE:
            self.add(name, table)
        elif self.progress is not None:
            self.progress.day()

    def add(self, name: str, table: pa.Table) -> None:
        """Queue `table`; the kind's queue is ingested once it holds FLUSH_ROWS rows."""
        waiting = self.pending.setdefault(name, [])
        waiting.append(table)
        if sum(t.num_rows for t in waiting) >= FLUSH_ROWS:
            self.flush(name)

    def flush(self, name: str) -> None:
        """Ingest what is queued for `name`."""
        tables = [t for t in self.pending.pop(name, []) if t.num_rows]
        if tables:
            self.write(name, pa.concat_tables(tables))

    def flush_all(self) -> None:
        """Ingest everything still queued."""
        for name in list(self.pending):
            self.flush(name)


def simulate(
    store: Store,
    *,
    tenants: int = 500,
    days: int = 30,
    seed: int = 7,
    end: datetime | None = None,
    requests_per_day: int | None = None,
    scenario: str = DEFAULT_SCENARIO,
    append: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Simulate `days` days (ending at `end`) of a SaaS with `tenants` customers into `store`.

    The same arguments always produce the same records, so running it twice adds
    nothing; a store holding other data is refused unless `append`. Without `end`
    the run ends now, or where the store's earlier run of the same inputs ended.
    `requests_per_day` defaults to ~1,200 per tenant.
    """
    cfg = make_config(
        tenants=tenants, days=days, seed=seed, end=end, requests_per_day=requests_per_day, scenario=scenario
    )
    return run_plan(store, plan_run(store, cfg, end_given=end is not None, append=append), progress)


def run_plan(store: Store, plan: Plan, progress: Progress | None = None) -> IngestReport:
    """Write a planned run into the store (see `simulate`); a complete one is left as it is."""
    if plan.mode == "complete":
        return IngestReport()
    world = build_world(plan.cfg)
    if progress is not None:
        progress.begin(plan.cfg.days, int(world.day_requests.sum()))
    remember_start(store, plan.cfg)
    writer = _Writer(store=store, report=IngestReport(), progress=progress)
    _write_window(writer, world)
    run_ahead(lambda outbox: _write_days(outbox, world), writer.take)
    writer.flush_all()
    remember_finish(store)
    return writer.report


class Sink(Protocol):
    """Where generated tables go: the writer, or the outbox of the generating thread."""

    def add(self, name: str, table: pa.Table) -> None: ...


def _write_window(writer: Sink, world: World) -> None:
    """The records decided for the whole window at once."""
    billing = world.billing
    writer.add("tenants", tenants_table(world.pop, billing.timeline.final(), billing.final_plan))
    writer.add("users", users_table(world.users, world.pop))
    for name, table in billing_tables(world.cfg, billing.ledger).items():
        writer.add(name, table)
    writer.add("incidents", incidents_table(world.incidents))
    writer.add("tier_events", tier_signals(world))
    writer.add("tickets", tickets_table(world))
    writer.add("security_events", isolation_events(world))
    writer.add("spend", spend_table(world.cfg))


def _write_days(writer: Sink, world: World) -> None:
    """Each window day in turn: requests first, then everything derived from them.

    User activity goes by calendar date and runs one date ahead, so the jobs it
    queues are known before the samples of a window day count the queues.
    """
    cfg = world.cfg
    life = Lifecycle.initial(world)
    previous: list[JobBatch] = []
    ahead = _write_date(writer, world, 0)
    for day in range(cfg.days):
        traffic = day_requests(world, day)
        writer.add("requests", traffic.table)
        writer.add("tier_events", lifecycle_events(world, day, traffic, life))
        writer.add("security_events", day_security(world, day, traffic))
        today = ahead + _write_window_jobs(writer, world, day)
        ahead = _write_date(writer, world, day + 1) if day + 1 < cfg.dates else []
        writer.add("samples", day_samples(world, day, traffic.tenant_hour_counts, previous + today + ahead))
        writer.add(_DAY_DONE, pa.table({}))
        previous = today


def _write_date(writer: Sink, world: World, date: int) -> list[JobBatch]:
    """One calendar date of user activity and the jobs and webhooks it causes."""
    activity = day_activity(world, date)
    writer.add("activity", activity.table)
    hooks = deliver(world, f"a{date}", activity_triggers(world, activity))
    batches = [*activity_jobs(world, date, activity), hooks.jobs]
    writer.add("jobs", jobs_table(world.cfg, batches, world.pop.ids))
    writer.add("webhook_deliveries", hooks.deliveries)
    return batches


def _write_window_jobs(writer: Sink, world: World, day: int) -> list[JobBatch]:
    """The scheduled and agent jobs of one window day, with the webhooks of finished ETL runs."""
    batches = window_jobs(world, day)
    hooks = deliver(world, f"e{day}", etl_triggers(world, batches[0]))
    batches.append(hooks.jobs)
    writer.add("jobs", jobs_table(world.cfg, batches, world.pop.ids))
    writer.add("webhook_deliveries", hooks.deliveries)
    return batches

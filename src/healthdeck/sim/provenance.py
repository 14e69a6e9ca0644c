"""What a store remembers about the simulations written into it, and whether another may be added.

Every run records its inputs in the store's `_healthdeck_meta` table (key
`simulations`: the list of runs; key `simulation_rows`: the records per kind
when the last run finished). The rule, so a store is never doubled by accident:

- an empty store takes any simulation;
- a store holding only recorded simulations takes one of them again: its ids
  are the same, so it adds nothing and completes an interrupted run (a run
  that finished, with nothing written since, is not generated again at all);
- anything else (another simulation, ingested data) needs `--append`.

Without `--end`, a run that matches a recorded one in everything but its end
reuses the recorded end, so repeating a command repeats the simulation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from healthdeck.errors import HealthdeckError
from healthdeck.sim.config import MIN_PER_DAY, SimConfig
from healthdeck.sim.samples import MINUTE_SERIES
from healthdeck.store.connection import Store
from healthdeck.store.schema import KINDS

RUNS_KEY = "simulations"
ROWS_KEY = "simulation_rows"


@dataclass(frozen=True)
class StoreContents:
    """Records per kind now, the recorded runs, and the records per kind after the last run finished."""

    rows: dict[str, int]
    runs: list[dict[str, Any]]
    rows_after_last_run: dict[str, int] | None

    @property
    def empty(self) -> bool:
        return not any(self.rows.values())

    @property
    def only_simulations(self) -> bool:
        """True when nothing but the recorded runs was written (an interrupted run left no row count)."""
        return bool(self.runs) and self.rows_after_last_run in (None, self.rows)


@dataclass(frozen=True)
class Plan:
    """The run to do, and how it relates to what the store holds.

    Modes: "new" (an empty store), "again" (a recorded run, interrupted: generate it again),
    "complete" (a recorded run that finished: nothing to do), "append".
    """

    cfg: SimConfig
    mode: str


def read_contents(store: Store) -> StoreContents:
    """What the store holds and what it remembers about simulations."""
    meta = dict(store.con.execute("SELECT key, value FROM _healthdeck_meta").fetchall())
    rows = {name: store.count(name) for name in KINDS}
    runs = json.loads(meta[RUNS_KEY]) if RUNS_KEY in meta else []
    after = json.loads(meta[ROWS_KEY]) if ROWS_KEY in meta else None
    return StoreContents(rows=rows, runs=runs, rows_after_last_run=after)


def plan_run(store: Store, cfg: SimConfig, *, end_given: bool, append: bool) -> Plan:
    """Decide whether `cfg` may be written into `store`; refuse (exit 2) when it would mix data silently."""
    contents = read_contents(store)
    if not end_given:
        cfg = _with_recorded_end(cfg, contents.runs)
    if contents.empty:
        return Plan(cfg=cfg, mode="new")
    if cfg.record() in contents.runs and contents.only_simulations:
        finished = contents.rows_after_last_run is not None
        return Plan(cfg=cfg, mode="complete" if finished else "again")
    if append:
        return Plan(cfg=cfg, mode="append")
    raise HealthdeckError(
        f"the store {store.path} already holds {_holdings(contents)}; this simulation ({cfg.describe()}) "
        f"would add about {_expected_records(cfg):,} more records to it. Pass --append to add them anyway, "
        "or --db for a new store."
    )


def remember_start(store: Store, cfg: SimConfig) -> None:
    """Record the run before writing it, so an interrupted run can be completed by running it again."""
    runs = read_contents(store).runs
    if cfg.record() not in runs:
        runs.append(cfg.record())
    _put(store, RUNS_KEY, runs)
    store.con.execute("DELETE FROM _healthdeck_meta WHERE key = ?", [ROWS_KEY])


def remember_finish(store: Store) -> None:
    """Record the rows per kind once the run is complete: later data from elsewhere shows as a difference."""
    _put(store, ROWS_KEY, read_contents(store).rows)


def _put(store: Store, key: str, value: Any) -> None:
    store.con.execute("INSERT OR REPLACE INTO _healthdeck_meta VALUES (?, ?)", [key, json.dumps(value)])


def _with_recorded_end(cfg: SimConfig, runs: list[dict[str, Any]]) -> SimConfig:
    return recorded_run(cfg, runs) or cfg


def recorded_run(cfg: SimConfig, runs: list[dict[str, Any]]) -> SimConfig | None:
    """The latest recorded run with `cfg`'s inputs but for its end (with the recorded end), or None."""
    wanted = {key: value for key, value in cfg.record().items() if key != "end"}
    ends = [run["end"] for run in runs if {k: v for k, v in run.items() if k != "end"} == wanted]
    return replace(cfg, end=datetime.fromisoformat(ends[-1])) if ends else None


def _holdings(contents: StoreContents) -> str:
    """What is in the store, in words: its biggest tables and where they came from."""
    biggest = sorted(((n, k) for k, n in contents.rows.items() if n), reverse=True)[:3]
    counted = ", ".join(f"{n:,} {kind}" for n, kind in biggest)
    if not contents.runs:
        return f"data that no simulation wrote ({counted} …)"
    described = "; ".join(_describe_run(run) for run in contents.runs)
    extra = "" if contents.only_simulations else ", plus data written since"
    return f"{counted} … from another simulation ({described}){extra}"


def _describe_run(run: dict[str, Any]) -> str:
    return (
        f"seed {run['seed']}, {run['tenants']} tenants × {run['days']} days ending {run['end']}, "
        f"scenario {run['scenario']}"
    )


def _expected_records(cfg: SimConfig) -> int:
    """Requests, per-minute and per-tenant-hour samples, and a few percent of other records."""
    samples_per_day = MIN_PER_DAY * len(MINUTE_SERIES) + cfg.tenants * 24 * 3 + 24 * 12
    return round((cfg.requests_per_day * 1.03 + samples_per_day) * cfg.days)

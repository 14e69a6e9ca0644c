"""Health history in the terminal: `health --history 7d` (curves) and `history backfill` (fill them in).

The history is the store's `health_history` table, written by `healthdeck serve` on its schedule
(api/history.py) or by `history backfill`, with the same rows either way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from healthdeck.catalog.durations import parse_duration
from healthdeck.cli.console import err, out, print_json
from healthdeck.cli.engine_access import engine
from healthdeck.cli.options import CatalogOption, DbOption, Format
from healthdeck.cli.remote import on_store
from healthdeck.cli.render import badge
from healthdeck.errors import HealthdeckError

if TYPE_CHECKING:
    from healthdeck.api.history import Row
    from healthdeck.store.connection import Store

BLOCKS = "▁▂▃▄▅▆▇█"
# A sparkline wider than this is averaged into this many columns.
SPARK_WIDTH = 60
# The changes shown under the curves: the latest kept score against the last one kept this long before.
CHANGES = (("yesterday", timedelta(days=1)), ("last week", timedelta(weeks=1)))

history_app = typer.Typer(help="The kept health history: fill it in for data loaded without a server.")


def duration(option: str, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise HealthdeckError(f"{option}: {exc}") from exc


def show_history(db: Path | None, span: str, output: Format) -> None:
    """`healthdeck health --history SPAN`: the score and each area over time, read from the history."""
    from healthdeck.api.history import read_history

    since = datetime.now(UTC) - duration("--history", span)
    points = history_points(on_store(db, partial(read_history, since=since)))
    if output is Format.json:
        print_json(points)
        return
    if not points:
        out.print(
            f"no health history in the last {span}: `healthdeck serve` keeps it as it evaluates, "
            f"and `healthdeck history backfill --since {span}` fills it in from the data",
            markup=False,
        )
        return
    out.print(history_table(points, span))
    for label, ago in CHANGES:
        out.print(change_line(points, label, ago), markup=False)


def history_points(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The kept evaluations, oldest first: [{"at", "score", "status", "areas": {area: {"score", "status"}}}]."""
    points: dict[str, dict[str, Any]] = {}
    for point in answer["overall"]:
        points[point["at"]] = {"at": point["at"], "score": point["score"], "status": point["status"], "areas": {}}
    for area, series in answer["areas"].items():
        for point in series:
            if point["at"] in points:
                points[point["at"]]["areas"][area] = {"score": point["score"], "status": point["status"]}
    return sorted(points.values(), key=lambda p: p["at"])


def history_table(points: list[dict[str, Any]], span: str) -> Table:
    first, last = points[0]["at"], points[-1]["at"]
    table = Table(
        "",
        f"score 0–100, {len(points)} evaluations",
        "latest",
        "status",
        title=f"Health over the last {span}: {_minute(first)} → {_minute(last)} UTC",
        title_justify="left",
    )
    table.add_row(
        "overall", sparkline([p["score"] for p in points]), _score(points[-1]["score"]), badge(points[-1]["status"])
    )
    for area in sorted({a for p in points for a in p["areas"]}):
        series = [p["areas"].get(area, {}) for p in points]
        table.add_row(
            area,
            sparkline([s.get("score") for s in series]),
            _score(series[-1].get("score")),
            badge(series[-1].get("status")),
        )
    return table


def sparkline(values: list[float | None]) -> Text:
    """Scores 0–100 as block characters (higher is taller); a gap where nothing was evaluated."""
    columns = _columns(values, SPARK_WIDTH)
    return Text(
        "".join(" " if v is None else BLOCKS[min(int(v / 100 * len(BLOCKS)), len(BLOCKS) - 1)] for v in columns)
    )


def _columns(values: list[float | None], width: int) -> list[float | None]:
    """At most `width` values: consecutive ones averaged together, in order."""
    if len(values) <= width:
        return values
    columns = []
    for i in range(width):
        chunk = [v for v in values[i * len(values) // width : (i + 1) * len(values) // width] if v is not None]
        columns.append(sum(chunk) / len(chunk) if chunk else None)
    return columns


def change_line(points: list[dict[str, Any]], label: str, ago: timedelta) -> str:
    """The latest score against the last one kept at least `ago` before it, as kept (not recomputed)."""
    scored = [p for p in points if p["score"] is not None]
    if not scored:
        return f"since {label}: no score kept in this span"
    latest = scored[-1]
    target = datetime.fromisoformat(latest["at"]) - ago
    before = [p for p in scored if datetime.fromisoformat(p["at"]) <= target]
    if not before:
        return f"since {label}: no score kept from {_minute(target.isoformat())} UTC or before"
    then = before[-1]
    return (
        f"since {label}: {latest['score'] - then['score']:+.1f} "
        f"({_score(then['score'])} at {_minute(then['at'])} → {_score(latest['score'])} at {_minute(latest['at'])} UTC)"
    )


def _minute(at: str) -> str:
    return f"{datetime.fromisoformat(at).astimezone(UTC):%Y-%m-%d %H:%M}"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


@history_app.command("backfill")
def backfill(
    since: Annotated[str, typer.Option("--since", help="How far back, e.g. 30d.")] = "30d",
    step: Annotated[
        str | None, typer.Option("--step", help="Time between evaluations: 1h, 1d … (default 1d over 2 days, else 1h).")
    ] = None,
    retention: Annotated[
        str | None,
        typer.Option("--retention", help="Also delete rows older than this (default: delete nothing)."),
    ] = None,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """Evaluate the health score at each step of the past and keep it, as `serve` does on its schedule.

    Only instants without a kept evaluation are evaluated: running it again adds nothing twice.
    """
    span = duration("--since", since)
    step = step or ("1d" if span > timedelta(days=2) else "1h")
    every = duration("--step", step)
    keep_for = duration("--retention", retention) if retention else None
    moments = backfill_instants(datetime.now(UTC), span=span, step=every)
    kept = set(on_store(db, kept_instants))
    missing = [m for m in moments if m not in kept]
    if missing:
        on_store(db, partial(keep_new, rows=evaluate_rows(db, catalog, missing), retention=keep_for), write=True)
    err.print(
        f"kept {len(missing):,} evaluations over the last {since}, one every {step}; "
        f"{len(moments) - len(missing):,} were already kept"
    )


def backfill_instants(now: datetime, *, span: timedelta, step: timedelta) -> list[datetime]:
    """Multiples of `step` (since the epoch) within the last `span`: the same instants on every run."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = epoch + -((epoch - (now - span)) // step) * step  # the first multiple at or after now - span
    count = int((now - first) / step) + 1
    return [first + i * step for i in range(count)]


def kept_instants(store: Store) -> list[datetime]:
    """When an evaluation is already kept (one `overall` row each)."""
    return [
        at
        for (at,) in store.con.execute(
            "SELECT DISTINCT evaluated_at FROM health_history WHERE level = 'overall'"
        ).fetchall()
    ]


def evaluate_rows(db: Path | None, catalog: list[Path] | None, moments: list[datetime]) -> list[Row]:
    """The history rows of an evaluation at each moment, as the scheduler writes them."""
    from healthdeck.api.history import history_rows

    rows: list[Row] = []
    kept: dict[str, datetime] = {}
    with engine(db, catalog) as hd:
        for moment in moments:
            rows.extend(history_rows(hd.health(at=moment), last_kept=kept))
    return rows


def keep_new(store: Store, *, rows: list[Row], retention: timedelta | None) -> None:
    """Keep the rows of evaluations not kept meanwhile, with the scheduler's function.

    Without a retention, nothing is deleted: not what a server with a longer retention kept, nor
    the oldest backfilled rows.
    """
    from healthdeck.api.history import keep

    already = set(kept_instants(store))
    new = [r for r in rows if r[0] not in already]
    if retention is None:
        (oldest,) = store.con.execute("SELECT min(evaluated_at) FROM health_history").fetchone() or (None,)
        first = min([r[0] for r in new] + ([oldest] if oldest else []))
        retention = datetime.now(UTC) - first + timedelta(days=1)
    keep(store, new, retention=retention)

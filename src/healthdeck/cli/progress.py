"""The progress bar of the commands that load data (Rich's, on the message console)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from healthdeck.cli.console import err


class RecordsSpeedColumn(ProgressColumn):
    """Records per second so far, from the task's `records` field."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        shown = f"{task.fields.get('records', 0) / elapsed:,.0f} records/s" if elapsed > 0 else ""
        return Text(shown, style="progress.data.speed")


@contextmanager
def progress_bar(description: str, total: int | None, *, speeds: bool = False) -> Iterator[Progress | None]:
    """A progress bar on a terminal; nothing when output is piped or in CI.

    With `speeds`, the task advances by bytes and keeps a `records` field: the bar shows both rates.
    """
    if not err.is_terminal:
        yield None
        return
    columns: list[ProgressColumn] = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
    if speeds:
        columns += [RecordsSpeedColumn(), TransferSpeedColumn()]
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        bar.add_task(description, total=total)
        yield bar

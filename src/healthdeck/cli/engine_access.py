"""Opening the store and the catalog for the engine's commands, and reading their time options."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

from healthdeck.catalog.durations import parse_duration
from healthdeck.errors import HealthdeckError
from healthdeck.timephrases import parse_moment

if TYPE_CHECKING:
    from healthdeck.engine.session import Engine

# How far ahead of this machine's clock `--at` may lie: clocks of the machines that send events
# drift a little; further ahead, an evaluation would judge events that cannot have arrived yet.
CLOCK_SKEW = timedelta(minutes=1)


@contextmanager
def engine(db: Path | None, catalog: list[Path] | None) -> Iterator[Engine]:
    """An engine over the store (read-only) and the catalog plus the user's files.

    While a server holds the store, the engine's methods run inside it (cli/remote.py).
    """
    from healthdeck.cli.remote import RemoteEngine, find_server
    from healthdeck.engine.session import Engine, load_checked_catalog  # Ibis and DuckDB: only when used
    from healthdeck.store.connection import open_store

    checked = load_checked_catalog(catalog or [])
    server = find_server(db)
    if server is not None:
        yield cast(Engine, RemoteEngine(server, checked))  # the same methods, answering the same objects
        return
    with open_store(db, read_only=True) as store:
        hd = Engine(store, checked)
        try:
            yield hd
        finally:
            hd.save_compiled()


def window_option(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise HealthdeckError(f"--window: {exc}") from exc


def at_option(text: str, *, label: str = "--at") -> datetime:
    """The evaluation instant of `--at`; one in the future (beyond the clock skew allowed) is refused."""
    moment = parse_moment(text, label=label)
    now = datetime.now(UTC)
    if moment > now + CLOCK_SKEW:
        raise HealthdeckError(
            f"{label} {text!r} is {moment:%Y-%m-%d %H:%M:%S} UTC, in the future (now is {now:%H:%M:%S} UTC); "
            "pass now or an earlier time"
        )
    return moment

"""Options shared by several commands, declared once so `--help` reads the same everywhere."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="The store to use (default: $HEALTHDECK_DB, else .healthdeck/healthdeck.duckdb).",
        show_default=False,
    ),
]


class Output(StrEnum):
    """How a command prints its result."""

    text = "text"
    json = "json"

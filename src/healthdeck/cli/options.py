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

EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="duckdb (the --db store), postgres or clickhouse, connected by $HEALTHDECK_ENGINE_URL; or that URL.",
        show_default=False,
    ),
]


class Output(StrEnum):
    """How a command prints its result."""

    text = "text"
    json = "json"


CatalogOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--catalog",
        help="Your own KPI YAML (add KPIs or override shipped ones by id); repeat for several files.",
        envvar="HEALTHDECK_CATALOG",
        show_default=False,
    ),
]
AtOption = Annotated[
    str,
    typer.Option("--at", help='Evaluate as of this time: "now", "8 hours ago", "yesterday", ISO 8601.'),
]
WindowOption = Annotated[
    str | None,
    typer.Option("--window", help="Override every KPI's window, e.g. 5m, 1h, 24h, 30d (default: each KPI's own)."),
]
PackOption = Annotated[
    str | None,
    typer.Option("--pack", help="Evaluate one catalog pack instead of the scored KPIs (see `catalog list`)."),
]

TenantOption = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        help="Only this tenant's data (its tenant_id); KPIs over infrastructure or spend have no data for one tenant.",
        show_default=False,
    ),
]


class Format(StrEnum):
    """How a report is printed."""

    table = "table"
    json = "json"
    markdown = "markdown"


class TableOrJson(StrEnum):
    """How a report is printed: a table to read, or the API's JSON."""

    table = "table"
    json = "json"


TableOrJsonOption = Annotated[TableOrJson, typer.Option("--output", "-o", help="table, or json (the API's answer).")]

"""`healthdeck business`: revenue and engagement as a finance lead reads them (seed 000 tiers 2 and 3)."""

from __future__ import annotations

import typer

business_app = typer.Typer(
    help="Revenue and engagement: MRR and its movements, retention, unit economics, cohorts.",
    no_args_is_help=True,
)

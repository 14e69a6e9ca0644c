"""`healthdeck business`: revenue and engagement as a finance lead reads them (seed 000 tiers 2 and 3)."""

from __future__ import annotations

import typer

business_app = typer.Typer(
    help="Revenue and engagement: MRR and its movements, retention, unit economics, cohorts.",
    no_args_is_help=True,
)

# Engagement: the engagement KPIs, cohorts and lifecycle (cli/engagement_cmd.py).
from healthdeck.cli import engagement_cmd  # noqa: E402

business_app.command("engagement")(engagement_cmd.engagement)
business_app.command("cohorts")(engagement_cmd.cohorts)
business_app.command("lifecycle")(engagement_cmd.lifecycle)

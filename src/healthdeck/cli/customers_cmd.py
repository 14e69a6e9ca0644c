"""`healthdeck customers`: each tenant's health and churn risk, as a customer-success lead reads them."""

from __future__ import annotations

import typer

customers_app = typer.Typer(
    help="Customers: per-tenant health and churn risk, usage, at-risk lists, enterprise status.",
    no_args_is_help=True,
)

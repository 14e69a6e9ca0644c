"""The simulated SaaS: a month of realistic multi-tenant data, written through the ingest path."""

from __future__ import annotations

from healthdeck.sim.run import simulate

__all__ = ["simulate"]

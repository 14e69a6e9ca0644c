"""healthdeck: one place, and one command, that tells whether a SaaS product is healthy and why."""

__version__ = "0.1.0"

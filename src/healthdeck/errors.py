"""Errors a user can cause: each carries a message that says what to do."""

from __future__ import annotations


class HealthdeckError(Exception):
    """A problem the user can fix; the CLI prints its message without a traceback."""

    exit_code = 2


class StoreLockedError(HealthdeckError):
    """Another process is writing to the store."""


class StoreVersionError(HealthdeckError):
    """The store was written by a newer healthdeck."""

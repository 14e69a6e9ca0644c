"""Errors a user can cause: each carries a message that says what to do."""

from __future__ import annotations


class HealthdeckError(Exception):
    """A problem the user can fix; the CLI prints its message without a traceback."""

    exit_code = 2


class StoreLockedError(HealthdeckError):
    """Another process holds the store's lock."""


class StoreVersionError(HealthdeckError):
    """The store's schema version is not one this command can use as it is."""


class StoreMissingError(HealthdeckError):
    """No store at the path, and the command does not create one."""


class NotAStoreError(HealthdeckError):
    """The path holds a file that healthdeck did not create; it is left untouched."""


class QueryStoppedError(HealthdeckError):
    """A `healthdeck sql` query ran past its time limit, or the user interrupted it."""


class QueryInterruptedError(QueryStoppedError):
    """The user pressed Ctrl-C (SIGINT) during a query; exits like an interrupted command."""

    exit_code = 130

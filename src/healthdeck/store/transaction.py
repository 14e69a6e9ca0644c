"""One transaction on a DuckDB connection: committed when its block ends, rolled back when it raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import duckdb


@contextmanager
def transaction(con: Any) -> Iterator[None]:
    """BEGIN … COMMIT around the block; ROLLBACK when it raises, Ctrl-C included.

    A COMMIT interrupted by Ctrl-C may leave no transaction to roll back: the error that stopped the
    block is the one to show, not the failed ROLLBACK's.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        with suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise

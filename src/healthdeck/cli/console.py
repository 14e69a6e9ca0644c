"""Terminal output: one Rich console for results (`out`), one for messages and progress (`err`).

Each is made when a command first uses it, so a command that prints JSON never imports Rich
(about 0.015 s of its start-up).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from rich.console import Console

    out: Console
    err: Console


def print_json(value: Any) -> None:
    """Print a value as indented JSON on standard output (stable for scripts)."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def __getattr__(name: str) -> Console:
    """`out` or `err`, made on first use and kept."""
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    # Messages never break paths (soft wrap), and neither does a result.
    console = Console(stderr=name == "err", highlight=False, soft_wrap=True)
    globals()[name] = console
    return console

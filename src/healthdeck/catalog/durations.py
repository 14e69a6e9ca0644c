"""Durations as the specification writes them: 5m, 1h, 24h, 7d, 30d, 90s.

>>> parse_duration("5m"), parse_duration("24h").total_seconds()
(datetime.timedelta(seconds=300), 86400.0)
"""

from __future__ import annotations

import re
from datetime import timedelta

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
# No window, step or retention needs more, and dates a century away stay within what datetime holds.
LONGEST = timedelta(days=36500)


def parse_duration(text: str) -> timedelta:
    """Parse `<number><s|m|h|d|w>`, at most 100 years; raises ValueError with the accepted forms."""
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"cannot read duration {text!r}: write a positive number and a unit, e.g. 5m, 1h, 24h, 7d, 30d"
        )
    seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"duration {text!r} is too long: at most {LONGEST.days}d (100 years)")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact form of a duration: 300 s -> "5m"."""
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"

"""Threshold conditions as the specification writes them: "> 99.9", ">= 3", "0.1..10", "< 0.01 or > 100".

>>> Condition.parse("> 99.9").holds(99.95), Condition.parse("> 99.9").holds(99.9)
(True, False)
>>> Condition.parse("0.1..10").holds(10.0)
True
>>> Condition.parse("< 0.01 or > 100").holds(150)
True
>>> overlap(Condition.parse("> 99.9"), Condition.parse("> 99.5"))
'> 99.9'
>>> overlap(Condition.parse("0.1..10"), Condition.parse("< 0.01 or > 100")) is None
True
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_COMPARISON = re.compile(rf"^\s*(>=|<=|==|>|<)\s*({_NUMBER})\s*$")
_BAND = re.compile(rf"^\s*({_NUMBER})\s*\.\.\s*({_NUMBER})\s*$")


@dataclass(frozen=True)
class Comparison:
    """`value OP bound`, e.g. `> 99.9`."""

    op: str
    bound: float

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.bound)

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


@dataclass(frozen=True)
class Band:
    """`low..high`, both ends included, e.g. a healthy gradient norm of 0.1..10."""

    low: float
    high: float

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g}"


@dataclass(frozen=True)
class Condition:
    """Any of one or more comparisons or bands ("< 0.01 or > 100")."""

    parts: tuple[Comparison | Band, ...]

    @classmethod
    def parse(cls, text: str | float | int) -> Condition:
        """Parse a condition; a bare number means "== number". Raises ValueError naming the bad part."""
        if isinstance(text, int | float) and not isinstance(text, bool):
            return cls((Comparison("==", float(text)),))
        parts: list[Comparison | Band] = []
        for piece in str(text).split(" or "):
            comparison, band = _COMPARISON.match(piece), _BAND.match(piece)
            if comparison:
                parts.append(Comparison(comparison.group(1), float(comparison.group(2))))
            elif band and float(band.group(1)) <= float(band.group(2)):
                parts.append(Band(float(band.group(1)), float(band.group(2))))
            else:
                raise ValueError(
                    f"cannot read condition {piece.strip()!r}: write '> 99.9', '>= 3', '<= 0', '== 0', "
                    "'0.1..10', or several joined by ' or '"
                )
        return cls(tuple(parts))

    def holds(self, value: float) -> bool:
        return any(part.holds(value) for part in self.parts)

    def __str__(self) -> str:
        return " or ".join(str(part) for part in self.parts)


@dataclass(frozen=True)
class _Interval:
    """The values a comparison or band holds for, as an interval with open or closed ends."""

    low: float
    high: float
    low_closed: bool
    high_closed: bool

    @classmethod
    def of(cls, part: Comparison | Band) -> _Interval:
        if isinstance(part, Band):
            return cls(part.low, part.high, True, True)
        bound, inf = part.bound, math.inf
        return {
            ">": cls(bound, inf, False, False),
            ">=": cls(bound, inf, True, False),
            "<": cls(-inf, bound, False, False),
            "<=": cls(-inf, bound, False, True),
            "==": cls(bound, bound, True, True),
        }[part.op]

    def meet(self, other: _Interval) -> _Interval | None:
        """The values both hold for, or None when there are none."""
        low = max((self.low, not self.low_closed), (other.low, not other.low_closed))
        high = min((self.high, self.high_closed), (other.high, other.high_closed))
        empty = low[0] > high[0] or (low[0] == high[0] and (low[1] or not high[1]))
        return None if empty else _Interval(low[0], high[0], not low[1], high[1])

    def __str__(self) -> str:
        if self.low == self.high:
            return f"== {self.low:g}"
        if self.low == -math.inf:
            return f"{'<=' if self.high_closed else '<'} {self.high:g}"
        if self.high == math.inf:
            return f"{'>=' if self.low_closed else '>'} {self.low:g}"
        if self.low_closed and self.high_closed:
            return f"from {self.low:g} to {self.high:g}"
        return f"between {self.low:g} and {self.high:g}"


def overlap(first: Condition, second: Condition) -> str | None:
    """Values that satisfy both conditions, written as a condition; None when no value does."""
    for a in first.parts:
        for b in second.parts:
            if (common := _Interval.of(a).meet(_Interval.of(b))) is not None:
                return str(common)
    return None

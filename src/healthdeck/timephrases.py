"""Time as operators write it: "now", "today", "8 hours ago", "last week", "this month", ISO 8601.

>>> from datetime import datetime, UTC
>>> now = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
>>> parse_moment("8 hours ago", now=now).isoformat()
'2026-11-25T07:30:00+00:00'
>>> [t.isoformat() for t in parse_period("last week", now=now)]
['2026-11-16T00:00:00+00:00', '2026-11-23T00:00:00+00:00']
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from healthdeck.catalog.durations import parse_duration
from healthdeck.errors import HealthdeckError

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s+(second|minute|hour|day|week|month)s?\s+ago$")
_SPAN = re.compile(r"^(last|this)\s+(hour|day|week|month)$")
_LENGTH = re.compile(r"^(?:last\s+)?(\d+)\s+(second|minute|hour|day|week|month)s?$")
# A moment and a period accept different forms, so each error lists only the forms that would work.
MOMENT_HELP = (
    'use "now", "today", "yesterday", "N minutes/hours/days/weeks ago", "last week", "this month", '
    "or an ISO 8601 time such as 2026-11-25T08:00:00Z"
)
PERIOD_HELP = (
    'use "today", "yesterday", "last week", "this month", "30 days" (the last 30 days), '
    '"N hours/days/weeks ago" (from then to now), or an ISO 8601 date or time such as 2026-11-25'
)


def _floor(moment: datetime, unit: str) -> datetime:
    day = moment.replace(minute=0, second=0, microsecond=0)
    if unit == "hour":
        return day
    day = day.replace(hour=0)
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _step_back(start: datetime, unit: str) -> datetime:
    if unit == "month":
        return (start - timedelta(days=1)).replace(day=1)
    return start - timedelta(seconds=_UNITS[unit])


def _iso(text: str, label: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None and "T" in text:
        raise HealthdeckError(f"{label} {text!r} has no time zone; add Z or +HH:MM")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _months_ago(now: datetime, count: float) -> datetime:
    return now - timedelta(days=30 * count)


def parse_moment(text: str, *, now: datetime | None = None, label: str = "time") -> datetime:
    """A point in time from a phrase; raises a HealthdeckError that lists the accepted forms."""
    now = now or datetime.now(UTC)
    phrase = " ".join(text.strip().lower().split())
    if (moment := _moment(text, phrase, now, label)) is not None:
        return moment
    if match := _LENGTH.match(phrase):
        # "30 days" is how long, not when: say which moment was probably meant rather than guess.
        count, unit = match.groups()
        length = f"{count} {unit}{'' if count == '1' else 's'}"
        raise HealthdeckError(
            f"cannot read {label} {text!r}: that is a length of time, not a moment; "
            f'for the moment {length} before now write "{length} ago"'
        )
    raise HealthdeckError(f"cannot read {label} {text!r}: {MOMENT_HELP}")


def _moment(text: str, phrase: str, now: datetime, label: str) -> datetime | None:
    if phrase == "now":
        return now
    if phrase in ("today", "yesterday"):
        return _floor(now, "day") - timedelta(days=1 if phrase == "yesterday" else 0)
    if match := _AGO.match(phrase):
        count, unit = float(match.group(1)), match.group(2)
        return _months_ago(now, count) if unit == "month" else now - timedelta(seconds=count * _UNITS[unit])
    if match := _SPAN.match(phrase):
        return parse_period(phrase, now=now, label=label)[0]
    return _iso(text.strip(), label)


def parse_period(text: str, *, now: datetime | None = None, label: str = "period") -> tuple[datetime, datetime]:
    """A [start, end) interval: "last week" is the previous calendar week, "this week" runs to now."""
    now = now or datetime.now(UTC)
    phrase = " ".join(text.strip().lower().split())
    if match := _SPAN.match(phrase):
        which, unit = match.groups()
        start = _floor(now, unit)
        return (start, now) if which == "this" else (_step_back(start, unit), start)
    if phrase == "today":
        return _floor(now, "day"), now
    if phrase == "yesterday":
        start = _floor(now, "day")
        return start - timedelta(days=1), start
    if match := _LENGTH.match(phrase):
        count, unit = int(match.group(1)), match.group(2)
        start = _months_ago(now, count) if unit == "month" else now - timedelta(seconds=count * _UNITS[unit])
        return start, now
    if (day := _iso(text.strip(), label)) is not None and "T" not in text:
        return day, day + timedelta(days=1)
    if (moment := _moment(text, phrase, now, label)) is not None:
        return moment, now
    raise HealthdeckError(f"cannot read {label} {text!r}: {PERIOD_HELP}")


# How far ahead of this machine's clock an evaluation time may lie: clocks of the machines that send
# events drift a little; further ahead, an evaluation would judge events that cannot have arrived yet.
CLOCK_SKEW = timedelta(minutes=1)


def evaluation_time(text: str, *, label: str = "--at") -> datetime:
    """When to evaluate (`--at`, the API's `at`): a moment, refused beyond the clock skew into the future."""
    moment = parse_moment(text, label=label)
    now = datetime.now(UTC)
    if moment > now + CLOCK_SKEW:
        raise HealthdeckError(
            f"{label} {text!r} is {moment:%Y-%m-%d %H:%M:%S} UTC, in the future (now is {now:%H:%M:%S} UTC); "
            "pass now or an earlier time"
        )
    return moment


def window_length(text: str | None, *, label: str = "--window") -> timedelta | None:
    """The window that replaces every KPI's own (`--window`, the API's `window`), or None to keep theirs."""
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise HealthdeckError(f"{label}: {exc}") from exc


def period_length(text: str, *, label: str = "--period") -> timedelta:
    """How long a period back from now is: "30 days", "2 weeks", 30d; a period that ends before now is refused."""
    try:
        return parse_duration(text)
    except ValueError:
        pass
    now = datetime.now(UTC)
    start, end = parse_period(text, now=now, label=label)
    if end != now:
        raise HealthdeckError(f'{label} {text!r} ends before now; give a length such as "30 days" or 30d')
    return end - start

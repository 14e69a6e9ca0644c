"""Time phrases as operators type them, against a fixed "now"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from healthdeck.errors import HealthdeckError
from healthdeck.store.connection import open_store
from healthdeck.timephrases import parse_moment, parse_period

from .conftest import run_cli

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # a Wednesday


def at(text: str) -> str:
    return parse_moment(text, now=NOW).isoformat()


def period(text: str) -> tuple[str, str]:
    start, end = parse_period(text, now=NOW)
    return start.isoformat(), end.isoformat()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", "2026-11-25T15:30:00+00:00"),
        ("today", "2026-11-25T00:00:00+00:00"),
        ("yesterday", "2026-11-24T00:00:00+00:00"),
        ("8 hours ago", "2026-11-25T07:30:00+00:00"),
        ("7 days ago", "2026-11-18T15:30:00+00:00"),
        ("1 week ago", "2026-11-18T15:30:00+00:00"),
        ("  30 Minutes AGO ", "2026-11-25T15:00:00+00:00"),
        ("2026-11-20T08:00:00Z", "2026-11-20T08:00:00+00:00"),
        ("2026-11-20T10:00:00+02:00", "2026-11-20T10:00:00+02:00"),
        ("2026-11-20", "2026-11-20T00:00:00+00:00"),
    ],
)
def test_moments(text: str, expected: str) -> None:
    assert at(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("last week", ("2026-11-16T00:00:00+00:00", "2026-11-23T00:00:00+00:00")),
        ("this week", ("2026-11-23T00:00:00+00:00", "2026-11-25T15:30:00+00:00")),
        ("last month", ("2026-10-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00")),
        ("today", ("2026-11-25T00:00:00+00:00", "2026-11-25T15:30:00+00:00")),
        ("yesterday", ("2026-11-24T00:00:00+00:00", "2026-11-25T00:00:00+00:00")),
        ("30 days", ("2026-10-26T15:30:00+00:00", "2026-11-25T15:30:00+00:00")),
        ("2026-11-20", ("2026-11-20T00:00:00+00:00", "2026-11-21T00:00:00+00:00")),
    ],
)
def test_periods(text: str, expected: tuple[str, str]) -> None:
    assert period(text) == expected


@pytest.mark.parametrize("text", ["soonish", "8 fortnights ago", "2026-11-20T08:00:00", "last decade"])
def test_unreadable_phrases_say_what_is_accepted(text: str) -> None:
    with pytest.raises(HealthdeckError, match=r"cannot read|no time zone") as caught:
        parse_moment(text, now=NOW, label="--at")
    assert "--at" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("30 days", '"30 days ago"'), ("last 2 weeks", '"2 weeks ago"'), ("1 hour", '"1 hour ago"')],
)
def test_a_length_given_for_a_moment_is_refused_with_the_moment_it_probably_means(text: str, suggestion: str) -> None:
    with pytest.raises(HealthdeckError) as caught:
        parse_moment(text, now=NOW, label="--at")
    message = str(caught.value)
    assert message.startswith(f"cannot read --at {text!r}: that is a length of time, not a moment;")
    assert message.endswith(f"write {suggestion}")


@pytest.mark.parametrize("text", ["soonish", "8 fortnights ago", "last decade"])
def test_each_error_lists_only_forms_its_own_option_accepts(text: str) -> None:
    with pytest.raises(HealthdeckError) as moment_error:
        parse_moment(text, now=NOW, label="--at")
    with pytest.raises(HealthdeckError) as period_error:
        parse_period(text, now=NOW, label="--period1")
    assert '"30 days"' not in str(moment_error.value)
    assert '"30 days" (the last 30 days)' in str(period_error.value)
    assert str(period_error.value).startswith(f"cannot read --period1 {text!r}: use ")


def test_the_cli_says_how_to_write_30_days_ago(tmp_path: Path) -> None:
    with open_store(tmp_path / "store.duckdb", create=True):
        pass
    result = run_cli("health", "--at", "30 days", "--db", str(tmp_path / "store.duckdb"))
    assert result.returncode == 2
    assert 'write "30 days ago"' in result.stderr
    assert "Traceback" not in result.stderr

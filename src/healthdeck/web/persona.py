"""Who is looking (seed 003 §3.2): a manager reads trends over days, a DevOps engineer gauges over hours.

The persona sets the time ranges the page offers, the default one and how often the page refreshes.
It is kept in a cookie, so the console remembers it; the range is a URL parameter, so a view can be
bookmarked and shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from healthdeck.errors import HealthdeckError

PERSONA_COOKIE = "healthdeck_persona"
THEME_COOKIE = "healthdeck_theme"
THEMES = ("auto", "light", "dark")


@dataclass(frozen=True)
class Persona:
    """One way of reading the console: its ranges (the first is the default) and its refresh period."""

    name: str
    title: str
    ranges: tuple[str, ...]
    refresh_seconds: int
    focus: str

    @property
    def default_range(self) -> str:
        return self.ranges[0]


PERSONAS = {
    "manager": Persona("manager", "Manager", ("7d", "30d"), 30, "trends and summaries"),
    "devops": Persona("devops", "DevOps", ("1h", "6h"), 10, "real-time gauges"),
}
DEFAULT_PERSONA = PERSONAS["manager"]
# Every range a page may be asked for: a shared link keeps its range whatever the reader's persona.
RANGES = ("1h", "6h", "24h", "7d", "30d")


def persona_of(request: Request) -> Persona:
    """The persona the browser chose (its cookie), else the manager's."""
    return PERSONAS.get(request.cookies.get(PERSONA_COOKIE, ""), DEFAULT_PERSONA)


def theme_of(request: Request) -> str:
    theme = request.cookies.get(THEME_COOKIE, "auto")
    return theme if theme in THEMES else "auto"


def chosen_range(asked: str | None, persona: Persona) -> str:
    """The range of the URL (`?range=`), else the persona's default; one not offered is the caller's error."""
    if asked is None or asked == "":
        return persona.default_range
    if asked not in RANGES:
        raise HealthdeckError(f"range: {asked!r} is not offered; use one of {', '.join(RANGES)}")
    return asked

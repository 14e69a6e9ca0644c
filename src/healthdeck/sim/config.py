"""What one simulation run covers: its size, its window and its seed, checked once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from healthdeck.errors import HealthdeckError
from healthdeck.sim.scenarios import DEFAULT_SCENARIO, Scenario, scenario_named

US_PER_S = 1_000_000
US_PER_MIN = 60 * US_PER_S
US_PER_HOUR = 60 * US_PER_MIN
US_PER_DAY = 24 * US_PER_HOUR
MIN_PER_DAY = 1440
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# 500 tenants x 30 days gives ~18 million requests: ~1,200 per tenant per day, so weekday
# traffic peaks at ~13 requests/s (the specification's GOOD is > 10/s, CRITICAL < 5/s).
REQUESTS_PER_TENANT_DAY = 1_200


@dataclass(frozen=True)
class SimConfig:
    """The inputs of one run; the window is [end - days, end), in microseconds since the epoch."""

    tenants: int
    days: int
    seed: int
    end: datetime
    requests_per_day: int
    scenario: Scenario

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def start_us(self) -> int:
        return to_us(self.start)

    @property
    def end_us(self) -> int:
        return to_us(self.end)

    def day_start_us(self, day: int) -> int:
        """The first microsecond of window day `day` (days count from the window start, not midnight)."""
        return self.start_us + day * US_PER_DAY

    @property
    def first_midnight_us(self) -> int:
        """UTC midnight at or before the window start: calendar dates count from it."""
        return self.start_us - self.start_us % US_PER_DAY

    @property
    def dates(self) -> int:
        """How many UTC calendar dates the window touches (its days, plus one when it starts mid-day)."""
        return -(-(self.end_us - self.first_midnight_us) // US_PER_DAY)

    def date_start_us(self, date: int) -> int:
        return self.first_midnight_us + date * US_PER_DAY

    def window_day(self, moment_us: int) -> int:
        """The window day holding `moment_us`, clipped to the window."""
        return int(min(max((moment_us - self.start_us) // US_PER_DAY, 0), self.days - 1))

    @property
    def tag(self) -> str:
        """A short digest of the inputs: event ids of different runs never collide, equal runs dedupe."""
        text = "|".join(str(value) for value in self.record().values())
        return hashlib.blake2b(text.encode(), digest_size=3).hexdigest()

    def record(self) -> dict[str, object]:
        """The inputs as the store remembers them (`_healthdeck_meta`), in a fixed order."""
        return {
            "tenants": self.tenants,
            "days": self.days,
            "seed": self.seed,
            "end": self.end.isoformat(),
            "requests_per_day": self.requests_per_day,
            "scenario": self.scenario.name,
        }

    def describe(self) -> str:
        """The run in words: "seed 7, 500 tenants x 30 days ending 2026-11-26T07:00:00+00:00, scenario demo"."""
        return (
            f"seed {self.seed}, {self.tenants} tenants × {self.days} days ending {self.end.isoformat()}, "
            f"{self.requests_per_day:,} requests a day, scenario {self.scenario.name}"
        )

    def id_prefix(self, code: str) -> str:
        return f"sim{self.seed}-{self.tag}-{code}-"


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def make_config(
    *,
    tenants: int,
    days: int,
    seed: int,
    end: datetime | None,
    requests_per_day: int | None,
    scenario: str = DEFAULT_SCENARIO,
) -> SimConfig:
    """Check the user's inputs and fill the defaults (end: now, floored to the minute)."""
    if tenants < 1:
        raise HealthdeckError(f"--tenants must be at least 1, got {tenants}")
    if days < 1:
        raise HealthdeckError(f"--days must be at least 1, got {days}")
    if requests_per_day is not None and requests_per_day < 0:
        raise HealthdeckError(f"--requests-per-day must be 0 or more, got {requests_per_day}")
    now = datetime.now(UTC)
    if end is None:
        end = now.replace(second=0, microsecond=0)
    if end.tzinfo is None or end.utcoffset() is None:
        raise HealthdeckError(f"the simulation end {end.isoformat()} has no time zone; pass an aware UTC time")
    end = end.astimezone(UTC)
    if end > now + timedelta(hours=23):
        raise HealthdeckError(
            f"the simulation end {end.isoformat()} is in the future; the store rejects events more than "
            "a day ahead. Pass an end at or before now."
        )
    rpd = requests_per_day if requests_per_day is not None else REQUESTS_PER_TENANT_DAY * tenants
    return SimConfig(
        tenants=tenants, days=days, seed=seed, end=end, requests_per_day=rpd, scenario=scenario_named(scenario)
    )

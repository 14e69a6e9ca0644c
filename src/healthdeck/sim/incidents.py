"""Service incidents: two or three per month, each 20-90 minutes of errors and slowness.

During an incident the affected routes answer 2-8% 5xx and twice as slowly,
the failing service reports down for part of it, and its infrastructure
metrics, tickets and circuit breakers react.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from healthdeck.sim import api
from healthdeck.sim.arrow import from_rows
from healthdeck.sim.config import MIN_PER_DAY, US_PER_DAY, US_PER_HOUR, US_PER_MIN, SimConfig
from healthdeck.sim.rand import stream

SERVICES = ("api", "db", "redis")
_TITLES = {
    "api": "Elevated 5xx after a deploy",
    "db": "Database failover: elevated errors and latency",
    "redis": "Redis saturation: cache misses, slow responses",
}


@dataclass(frozen=True)
class Incident:
    """One incident: when it hurt, how much, where, and when it was closed."""

    number: int
    start_us: int
    end_us: int
    resolved_us: int
    service: str
    error_rate: float
    latency_factor: float
    routes: tuple[int, ...]  # affected route indexes
    down_start_us: int
    down_end_us: int

    @property
    def severity(self) -> str:
        """P1 for a long outage or a high error rate, P2 for a clear one, P3 otherwise."""
        down_min = (self.down_end_us - self.down_start_us) / US_PER_MIN
        if self.error_rate >= 0.065 or down_min >= 15:
            return "P1"
        return "P2" if self.error_rate >= 0.035 else "P3"

    @property
    def title(self) -> str:
        """What the status page said."""
        if self.service == "api" and len(self.routes) < len(api.ROUTES):
            return "Elevated 5xx on " + ", ".join(sorted({api.ENDPOINTS[r] for r in self.routes}))
        return _TITLES[self.service]


# The injected incident (scenarios `incident` and `demo`): how long before the window end it starts.
LATE_INCIDENT_BEFORE_END = 6 * US_PER_HOUR


def plan_incidents(cfg: SimConfig) -> list[Incident]:
    """The run's incidents: one per stretch of the window, never overlapping, plus the injected one.

    Everyday incidents stay out of the window's last day (when it has four or
    more), so the last 24 hours show only what the scenario injects.
    """
    rng = stream(cfg.seed, "incidents")
    count = 1 if cfg.days < 8 else 2 + int(rng.random() < 0.5) if cfg.days <= 45 else round(cfg.days / 15)
    quiet_end = US_PER_DAY if cfg.days >= 4 else 0
    stretch = (cfg.days * US_PER_DAY - quiet_end) // count
    incidents = [_incident(rng, i + 1, cfg.start_us + i * stretch, stretch) for i in range(count)]
    if cfg.scenario.late_incident:
        incidents.append(_late_incident(cfg, count + 1))
    return incidents


def _late_incident(cfg: SimConfig, number: int) -> Incident:
    """A P1 on every API route: 40 minutes of 7% 5xx at 2.2x latency, the API down for 6 of them."""
    start = cfg.end_us - LATE_INCIDENT_BEFORE_END
    start -= start % US_PER_MIN
    down_start = start + 12 * US_PER_MIN
    return Incident(
        number=number,
        start_us=start,
        end_us=start + 40 * US_PER_MIN,
        resolved_us=start + 55 * US_PER_MIN,
        service="api",
        error_rate=0.07,
        latency_factor=2.2,
        routes=tuple(range(len(api.ROUTES))),
        down_start_us=down_start,
        down_end_us=down_start + 6 * US_PER_MIN,
    )


def _incident(rng: np.random.Generator, number: int, from_us: int, stretch: int) -> Incident:
    margin = min(3 * US_PER_HOUR, stretch // 4)
    start = from_us + margin + int(rng.random() * (stretch - 2 * margin))
    start -= start % US_PER_MIN
    minutes = int(rng.integers(20, 91))
    service = str(rng.choice(SERVICES, p=[0.5, 0.35, 0.15]))
    all_routes = tuple(range(len(api.ROUTES)))
    routes = all_routes
    if service == "api" and rng.random() < 0.5:
        routes = tuple(sorted(rng.choice(len(api.ROUTES), size=int(rng.integers(1, 4)), replace=False).tolist()))
    down_minutes = round(minutes * rng.uniform(0.1, 0.3))
    down_start = start + int(rng.uniform(0.1, 0.5) * minutes) * US_PER_MIN
    end = start + minutes * US_PER_MIN
    return Incident(
        number=number,
        start_us=start,
        end_us=end,
        resolved_us=end + int(rng.integers(5, 26)) * US_PER_MIN,
        service=service,
        error_rate=float(rng.uniform(0.02, 0.08)),
        latency_factor=float(rng.uniform(1.8, 2.3)),
        routes=routes,
        down_start_us=down_start,
        down_end_us=down_start + down_minutes * US_PER_MIN,
    )


@dataclass(frozen=True)
class DayImpact:
    """Per minute of one window day: which incident (or -1) is under way."""

    minute_incident: np.ndarray
    incidents: list[Incident]

    def row_impact(self, minute: np.ndarray, route: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the 5xx rate (0 when unaffected) and the latency factor (1 when unaffected)."""
        rates = np.zeros(len(minute))
        factors = np.ones(len(minute))
        for i in np.unique(self.minute_incident[self.minute_incident >= 0]):
            incident = self.incidents[i]
            rows = np.flatnonzero(self.minute_incident[minute] == i)
            hit = rows[np.isin(route[rows], incident.routes)]
            rates[hit] = incident.error_rate
            factors[hit] = incident.latency_factor
        return rates, factors

    def down(self, service: str, minute_us: np.ndarray) -> np.ndarray:
        """Per minute: whether `service` reports down (part of its incident)."""
        down = np.zeros(len(minute_us), dtype=bool)
        for incident in self.incidents:
            if incident.service == service:
                down |= (minute_us >= incident.down_start_us) & (minute_us < incident.down_end_us)
        return down


def day_impact(cfg: SimConfig, day: int, incidents: list[Incident]) -> DayImpact:
    """Which incident (if any) is under way in each minute of window day `day`."""
    minutes = cfg.day_start_us(day) + np.arange(MIN_PER_DAY, dtype=np.int64) * US_PER_MIN
    which = np.full(MIN_PER_DAY, -1, dtype=np.int64)
    for i, incident in enumerate(incidents):
        which[(minutes >= incident.start_us) & (minutes < incident.end_us)] = i
    return DayImpact(minute_incident=which, incidents=incidents)


def incidents_table(incidents: list[Incident]) -> pa.Table:
    """The incidents as store records, resolved (each ends well before the window does)."""
    rows: list[dict[str, object]] = [
        {
            "incident_id": f"INC-{i.number:03d}",
            "started_at": i.start_us,
            "resolved_at": i.resolved_us,
            "severity": i.severity,
            "title": i.title,
            "service": i.service,
        }
        for i in incidents
    ]
    return from_rows("incidents", rows)

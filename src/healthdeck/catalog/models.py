"""The catalog's typed models: a KPI, its thresholds, the pack it ships in."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from healthdeck.catalog.conditions import Band, Comparison, Condition, overlap
from healthdeck.catalog.durations import parse_duration

AREAS = ("service", "customer", "business", "capacity")
Area = Literal["service", "customer", "business", "capacity"]
# The specification's weights of the four areas in the overall score.
AREA_WEIGHTS: dict[str, float] = {"service": 0.35, "customer": 0.25, "business": 0.25, "capacity": 0.15}
# Units whose values cannot leave 0..100; used to bound the sub-score anchors.
PERCENT_UNITS = {"percent"}


def _condition(value: Any) -> Condition:
    return value if isinstance(value, Condition) else Condition.parse(value)


def _duration(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else parse_duration(value)


ConditionField = Annotated[Condition, BeforeValidator(_condition)]
DurationField = Annotated[timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    # defer_build: the validators are built on first use, and a run whose packs come from the
    # cache (catalog/cache.py) and that has no catalog file of its own validates nothing.
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, defer_build=True)


class Threshold(_Strict):
    """When a value is GOOD or CRITICAL (WARNING lies between), and where its sub-score reaches 100 and 0."""

    good: ConditionField
    critical: ConditionField | None = None
    best: float | None = None
    worst: float | None = None

    @property
    def direction(self) -> Literal["higher", "lower", "band"]:
        """Which way is better: read off the good condition."""
        part = self.good.parts[0]
        if isinstance(part, Band):
            return "band"
        if part.op == "==":
            return self._direction_from_critical()
        return "higher" if part.op in (">", ">=") else "lower"

    def _direction_from_critical(self) -> Literal["higher", "lower"]:
        bound = self.good.parts[0]
        critical = self.critical.parts[0] if self.critical else None
        if isinstance(critical, Comparison) and isinstance(bound, Comparison):
            return "lower" if critical.bound > bound.bound else "higher"
        return "lower"

    @field_validator("critical")
    @classmethod
    def _critical_apart_from_good(cls, critical: Condition | None, info: ValidationInfo) -> Condition | None:
        # A value both GOOD and CRITICAL would be judged GOOD (good is checked first): a silent lie.
        good = info.data.get("good")
        if critical is not None and good is not None and (common := overlap(good, critical)) is not None:
            raise ValueError(
                f'good "{good}" and critical "{critical}" overlap: a value {common} would be both; '
                'critical must lie on the other side of good (e.g. good "> 99.9", critical "< 99.5")'
            )
        return critical

    @model_validator(mode="after")
    def _one_sided_unless_band(self) -> Threshold:
        if len(self.good.parts) != 1:
            raise ValueError("good must be one comparison or one band (use critical for 'x or y')")
        return self


class KpiSpec(_Strict):
    """One key indicator: what it measures, over which window, and what good looks like."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    area: Area
    measure: str
    unit: str = ""
    description: str = ""
    source: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    window: DurationField = timedelta(hours=1)
    frequency: str | None = None
    # "change": thresholds judge the % change against the previous window ("Growing / Flat / Declining").
    compare: Literal["value", "change"] = "value"
    # What "previous" means: the window this far back (default: the window just before).
    baseline: DurationField | None = None
    # How old the newest record of a source may be before the KPI's data is stale (default: see
    # engine/freshness.py).
    max_lag: DurationField | None = None
    thresholds: Threshold | None = None
    weight: float = Field(default=1.0, gt=0)
    scored: bool | None = None
    promql: str | None = None
    # What an operator should do when the KPI is CRITICAL (the daily checklist's "Action if Critical").
    action: str = ""
    # Filled by the loader, never by a user.
    pack: str = ""
    location: str = ""

    @field_validator("frequency")
    @classmethod
    def _frequency_is_a_duration(cls, value: str | None) -> str | None:
        if value is not None and value not in ("daily", "weekly"):
            parse_duration(value)
        return value

    @property
    def is_percent(self) -> bool:
        return self.unit in PERCENT_UNITS and self.compare == "value"


class PackSpec(_Strict):
    """A file of KPIs: a shipped pack (one per specification document) or a user's own."""

    pack: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str = ""
    # Whether this pack's KPIs count in the overall health score unless a KPI says otherwise.
    scored: bool = False
    kpis: list[dict[str, Any]] = Field(default_factory=list)

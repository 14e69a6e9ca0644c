"""What a user chooses about the revenue figures: the MRR settings (declared once, with their
option, environment variable, default and help) and the length of a period of movements.

Light on purpose: the CLI builds its options from these without loading the engine.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from healthdeck.errors import HealthdeckError

CHURN_AT = ("cancellation", "period_end")
DISCOUNTS = ("forever", "all")
# Periods of `business mrr` when --periods is not given.
DEFAULT_PERIODS: dict[str, int] = {"day": 30, "week": 12, "month": 12}


class Period(StrEnum):
    """The length of one period of MRR movements."""

    day = "day"
    week = "week"
    month = "month"


@dataclass(frozen=True)
class Setting:
    """A setting of the MRR rules: its option, its environment variable, its default and what it does."""

    option: str
    env: str
    default: str | None
    help: str


RATES_SETTING = Setting(
    "--rates",
    "HEALTHDECK_FX_RATES",
    None,
    "A CSV (currency,usd_rate) or YAML (EUR: 1.08) file of USD per unit of each currency, "
    "one rate for every period; needed when a subscription is not in USD.",
)
CHURN_AT_SETTING = Setting(
    "--churn-at",
    "HEALTHDECK_MRR_CHURN_AT",
    "cancellation",
    "When a canceled subscription stops counting: at cancellation, or at the end of its billing period.",
)
DISCOUNTS_SETTING = Setting(
    "--discounts",
    "HEALTHDECK_MRR_DISCOUNTS",
    "forever",
    "Which discounts lower MRR: forever ones only (one-off and repeating ignored), or all.",
)


@dataclass(frozen=True)
class MrrSettings:
    """The contested MRR rules as chosen (see the settings above); the defaults follow ChartMogul."""

    churn_at: str = "cancellation"
    discounts: str = "forever"
    # USD per unit of each currency; USD itself is always 1.
    rates: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_values(cls, *, rates: Path | None, churn_at: str | None, discounts: str | None) -> MrrSettings:
        """The settings from options (None: the environment variable's, else the default), checked."""
        chosen_churn = _choice(CHURN_AT_SETTING, churn_at, CHURN_AT)
        chosen_discounts = _choice(DISCOUNTS_SETTING, discounts, DISCOUNTS)
        path = rates or (Path(os.environ[RATES_SETTING.env]) if os.environ.get(RATES_SETTING.env) else None)
        return cls(chosen_churn, chosen_discounts, load_rates(path) if path else {})

    @classmethod
    def from_environment(cls) -> MrrSettings:
        return cls.from_values(rates=None, churn_at=None, discounts=None)


def _choice(setting: Setting, value: str | None, allowed: tuple[str, ...]) -> str:
    chosen = value or os.environ.get(setting.env) or setting.default or ""
    if chosen not in allowed:
        raise HealthdeckError(
            f"{setting.option} / {setting.env}: {chosen!r} is not one of {', '.join(allowed)}; choose one of them"
        )
    return chosen


def load_rates(path: Path) -> dict[str, float]:
    """The rates file: CSV rows `currency,usd_rate` (a header row is allowed) or a YAML mapping."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise HealthdeckError(
            f"{path}: cannot read the rates file ({exc.strerror}); "
            f"give an existing file to {RATES_SETTING.option} or {RATES_SETTING.env}"
        ) from exc
    if path.suffix.lower() in (".yaml", ".yml"):
        return _yaml_rates(path, text)
    rows = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), start=1) if row]
    if rows and rows[0][1][-1].strip().lower() in ("usd_rate", "rate"):
        rows = rows[1:]
    return {_currency(path, n, row[0]): _rate(path, n, row[-1] if len(row) == 2 else "") for n, row in rows}


def _yaml_rates(path: Path, text: str) -> dict[str, float]:
    import yaml  # only for a YAML rates file: the health check never needs it

    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise HealthdeckError(f"{path}: not valid YAML ({exc}); write one `CURRENCY: usd_rate` per line") from exc
    if not isinstance(loaded, dict):
        raise HealthdeckError(f"{path}: expected a mapping of currency to USD rate, e.g. `EUR: 1.08`")
    return {_currency(path, 0, str(k)): _rate(path, 0, str(v)) for k, v in loaded.items()}


def _currency(path: Path, line: int, code: str) -> str:
    code = code.strip().upper()
    if not code:
        raise HealthdeckError(f"{path}:{line}: a rate without a currency; write `currency,usd_rate`")
    return code


def _rate(path: Path, line: int, text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not rate > 0:
        where = f"{path}:{line}" if line else str(path)
        raise HealthdeckError(f"{where}: {text.strip()!r} is not a positive USD rate; write e.g. `EUR,1.08`")
    return rate

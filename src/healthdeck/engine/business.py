"""The daily business dashboard (seed 000 §3.4): revenue, retention and unit economics over the
last 30 days, with the customer counts the dashboard shows beside them.

Every figure is the same function as its KPI: the revenue ones come from
engine/revenue_movements.py, CAC from measures/revenue.py, DAU, MAU and signups are the KPIs
`dau`, `mau` and `new_signups_daily` evaluated at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from healthdeck.engine.evaluate import KpiResult
from healthdeck.engine.measures.base import Window, ratio
from healthdeck.engine.revenue_movements import (
    Movements,
    arpu,
    expansion_rate,
    gross_retention,
    logo_churn_rate,
    ltv,
    net_retention,
    revenue_churn_rate,
)

# The dashboard's revenue figures are monthly: movements over the last 30 days, like the KPIs' windows.
SUMMARY_SPAN = timedelta(days=30)
# Signups and conversions are the day's (seed 000 §3.3: "New Signups (Daily)").
DAY = timedelta(days=1)
# The KPIs the dashboard shows as they are, by its key.
SUMMARY_ENGAGEMENT_KPIS = {"dau": "dau", "mau": "mau", "signups": "new_signups_daily"}
# The catalog KPI that judges each figure (its thresholds give the figure's status).
JUDGED_BY = {
    "arpu": "arpu",
    "nrr": "net_revenue_retention",
    "grr": "gross_revenue_retention",
    "logo_churn_rate": "logo_churn_rate",
    "revenue_churn_rate": "revenue_churn_rate",
    "expansion_rate": "expansion_rate",
    "cac": "cac",
    "ltv_cac": "ltv_cac_ratio",
}


@dataclass(frozen=True)
class BusinessSummary:
    """The business dashboard at `at`: MRR movements over `window` and the day's customer counts."""

    at: datetime
    window: Window
    moved: Movements
    cac: float | None
    engagement: dict[str, KpiResult]
    conversions: int

    def figures(self) -> dict[str, float | None]:
        """Each figure of the dashboard by its JSON key, unrounded."""
        m, life = self.moved, ltv(self.moved, self.window)
        return {
            "mrr": m.end,
            "arr": m.end * 12,
            "arpu": arpu(m),
            "nrr": net_retention(m),
            "grr": gross_retention(m),
            "logo_churn_rate": logo_churn_rate(m),
            "revenue_churn_rate": revenue_churn_rate(m),
            "expansion_rate": expansion_rate(m),
            "quick_ratio": m.quick_ratio,
            "ltv": life,
            "cac": self.cac,
            "ltv_cac": ratio(life, self.cac),
            **{key: result.value for key, result in self.engagement.items()},
            "conversions": float(self.conversions),
        }


MONEY = {"mrr", "arr", "arpu", "ltv", "cac"}
COUNTS = {"dau", "mau", "signups", "conversions"}


def _rounded(key: str, value: float | None) -> float | int | None:
    if value is None:
        return None
    if key in COUNTS:
        return round(value)
    return round(value, 2 if key in MONEY else 4)


def summary_json(summary: BusinessSummary) -> dict[str, Any]:
    """What `business summary --output json` and `GET /v1/business/summary` answer: dollars to the
    cent, rates in % (quick ratio and LTV:CAC as ratios), counts as whole numbers, None for undefined."""
    return {key: _rounded(key, value) for key, value in summary.figures().items()}

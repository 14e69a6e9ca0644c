"""Daily spend by category: infrastructure near the capacity plan's monthly costs, plus sales and marketing.

Monthly figures of the plan: compute $5,000, GPU $8,000, database $1,500,
storage $500, network $800, each growing with usage. Sales (~$6.5k/month,
weekdays only) and marketing (~$5.5k/month with a couple of campaign days)
together make $11-14k a month of acquisition spend: with ~15 new paying
customers a month (per 500 tenants), CAC stays under the specification's $1,000.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from healthdeck.sim.arrow import from_rows
from healthdeck.sim.config import SimConfig
from healthdeck.sim.rand import stream
from healthdeck.sim.shape import weekday

MONTHLY = {"compute": 5_000.0, "gpu": 8_000.0, "database": 1_500.0, "storage": 500.0, "network": 800.0}
GROWTH_PER_MONTH = {"compute": 0.08, "gpu": 0.25, "database": 0.10, "storage": 0.10, "network": 0.10}
SALES_PER_WEEKDAY, MARKETING_PER_DAY = 300.0, 150.0


def spend_table(cfg: SimConfig) -> pa.Table:
    """One row per category and window day, dated at the start of the day."""
    rng = stream(cfg.seed, "spend")
    rows: list[dict[str, object]] = []
    for day in range(cfg.days):
        ts = cfg.day_start_us(day)
        months = day / 30
        for category, monthly in MONTHLY.items():
            amount = monthly / 30 * (1 + GROWTH_PER_MONTH[category] * months) * rng.normal(1, 0.06)
            rows.append({"ts": ts, "category": category, "amount": round(amount, 2), "currency": "USD"})
        if weekday(np.array([ts]))[0] < 5:
            rows.append(
                {
                    "ts": ts,
                    "category": "sales",
                    "amount": round(SALES_PER_WEEKDAY * rng.normal(1, 0.1), 2),
                    "currency": "USD",
                }
            )
        campaign = 6.0 if rng.random() < 0.06 else 1.0
        marketing = MARKETING_PER_DAY * campaign * rng.lognormal(0, 0.3)
        rows.append({"ts": ts, "category": "marketing", "amount": round(marketing, 2), "currency": "USD"})
    return from_rows("spend", rows, id_prefix=cfg.id_prefix("spend"))

"""The simulated price list and what each plan tier implies for usage.

Prices: STARTER $29/month is our choice (the specification names no price for it);
PRO $99/month and BUSINESS $499/month are the specification's; ENTERPRISE is custom,
$2,000-$12,000/month, some billed quarterly (3x) or yearly (12x). FREE has no
subscription.
"""

from __future__ import annotations

import numpy as np

from healthdeck.store.schema import PLAN_TIERS

TIERS = PLAN_TIERS
FREE, STARTER, PRO, BUSINESS, ENTERPRISE = range(5)

TIER_SHARE = (0.60, 0.15, 0.17, 0.06, 0.02)
MONTHLY_PRICE = (0.0, 29.0, 99.0, 499.0, 0.0)
ENTERPRISE_PRICE_RANGE = (2_000, 12_000)
INTERVAL_MONTHS = {"month": 1, "quarter": 3, "year": 12}
INTERVAL_DAYS = {"month": 30, "quarter": 91, "year": 365}

# Relative API volume of a tenant of each tier (before its own activity level).
REQUEST_WEIGHT = np.array([1.0, 3.0, 8.0, 30.0, 120.0])
# Team size range (inclusive) and API keys range per tier.
USERS_RANGE = ((1, 3), (2, 5), (3, 12), (8, 25), (20, 50))
API_KEYS_RANGE = ((1, 1), (1, 2), (2, 3), (2, 4), (3, 6))
# Requests per minute before a 429 (reported in rate-limit security events).
RATE_LIMIT_PER_MIN = np.array([60, 300, 1_200, 6_000, 30_000])
# Share of 4xx responses by tier: free tiers hit rate limits and make more client mistakes.
# Latency multiplier per tier (on the route's own latency): ENTERPRISE runs on dedicated, always-warm
# capacity, FREE on shared scale-to-zero pools, so p95 is ~43 ms for ENTERPRISE, ~73 PRO, ~95 STARTER
# and ~115 FREE: ordered ENTERPRISE < PRO < STARTER < FREE, each within its SLO of seed 002
# (50 / 100 / 200 / 500 ms) with the headroom a healthy service keeps.
LATENCY_FACTOR = np.array([1.35, 1.1, 0.85, 0.7, 0.5])
CLIENT_ERROR_RATE = np.array([0.050, 0.042, 0.032, 0.025, 0.020])
RATE_LIMITED_SHARE = np.array([0.30, 0.20, 0.06, 0.03, 0.02])


def plan_name(tier: int, interval: str = "month") -> str:
    """The plan id billing uses: "free", "pro-monthly", "enterprise-annual"."""
    if tier == FREE:
        return "free"
    suffix = {"month": "monthly", "quarter": "quarterly", "year": "annual"}[interval]
    return f"{TIERS[tier].lower()}-{suffix}"


def list_price(tier: int, interval: str, custom_monthly: float = 0.0) -> float:
    """The price per billing interval of a plan (custom monthly price for ENTERPRISE)."""
    monthly = custom_monthly if tier == ENTERPRISE else MONTHLY_PRICE[tier]
    return float(monthly * INTERVAL_MONTHS[interval])


def tier_quota(count: int) -> np.ndarray:
    """How many of `count` tenants get each tier: the target shares, every tier present from 5 tenants."""
    exact = np.array(TIER_SHARE) * count
    quota = np.floor(exact).astype(np.int64)
    if count >= len(TIERS):
        quota = np.maximum(quota, 1)
    # Largest remainders fill (or, after the minimums, trim FREE to) the exact total.
    order = np.argsort(-(exact - quota), kind="stable")
    i = 0
    while quota.sum() < count:
        quota[order[i % len(order)]] += 1
        i += 1
    quota[FREE] -= quota.sum() - count
    return quota

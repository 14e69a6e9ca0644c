"""The MRR rules: what one subscription state is worth per month, in dollars, and each tenant's MRR.

Each rule is one function below, documented where it is defined and stated in the README:

- `monthly_amount`: amount × quantity per month (a year ÷ 12, a quarter ÷ 3, a month as is).
- `discounted`: only a forever discount lowers MRR (`discount_duration` forever or absent); a
  one-off (`once`) or limited (`repeating`) discount is a price cut for a few invoices, not
  recurring revenue lost, so it is ignored (setting `HEALTHDECK_MRR_DISCOUNTS=all` counts every one).
- `counts`: `active` and `past_due` count; `trialing`, `canceled` and `unpaid` count 0, as does any
  free plan (amount 0).
- `in_usd`: one rate per currency (a rates file the user gives) for every period, so a rate change
  never shows up as a movement.
- `state_at`: with `HEALTHDECK_MRR_CHURN_AT=period_end`, a canceled subscription keeps its MRR
  until the end of the billing period it was canceled in.
"""

from __future__ import annotations

import bisect
import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from healthdeck.engine.revenue_options import RATES_SETTING, MrrSettings
from healthdeck.errors import HealthdeckError

if TYPE_CHECKING:
    import duckdb

PAYING = ("active", "past_due")
MONTHS = {"month": 1, "quarter": 3, "year": 12}
REPORTING_CURRENCY = "USD"


@dataclass(frozen=True)
class SubscriptionState:
    """One subscription record: the subscription's state from `ts` on."""

    ts: datetime
    tenant_id: str
    subscription_id: str
    interval: str
    amount: float
    currency: str
    quantity: int | None
    discount_pct: float | None
    discount_duration: str | None
    status: str


STATES_SQL = """
SELECT ts, tenant_id, subscription_id, interval, amount, currency, quantity, discount_pct,
       discount_duration, status
FROM subscriptions
WHERE $tenant IS NULL OR tenant_id = $tenant
ORDER BY subscription_id, ts, event_id
"""


def load_states(con: duckdb.DuckDBPyConnection, tenant: str | None) -> list[SubscriptionState]:
    """Every subscription state (one tenant's, or all), by subscription then time."""
    return [SubscriptionState(*row) for row in con.execute(STATES_SQL, {"tenant": tenant}).fetchall()]


def monthly_amount(state: SubscriptionState) -> float:
    """Amount × quantity per month, before discount and conversion.

    >>> round(monthly_amount(_example(amount=2000, interval="year")), 2)
    166.67
    >>> monthly_amount(_example(amount=30, interval="quarter", quantity=3))
    30.0
    """
    return state.amount * (state.quantity or 1) / MONTHS[state.interval]


def discounted(state: SubscriptionState, value: float, settings: MrrSettings) -> float:
    """`value` less the state's discount when that discount lowers MRR (forever, or any with `all`)."""
    recurring = state.discount_duration in (None, "forever")
    if not state.discount_pct or not (recurring or settings.discounts == "all"):
        return value
    return value * (1 - state.discount_pct / 100)


def counts(state: SubscriptionState) -> bool:
    """Whether the state earns MRR: paying (active or past_due) and not free."""
    return state.status in PAYING and state.amount > 0


def in_usd(value: float, currency: str, settings: MrrSettings) -> float:
    """`value` in dollars at the currency's one rate (every period uses the same rate)."""
    code = currency.upper()
    return value if code == REPORTING_CURRENCY else value * settings.rates[code]


def state_mrr(state: SubscriptionState, settings: MrrSettings) -> float:
    """What one state is worth per month in dollars (0 when it does not count)."""
    if not counts(state):
        return 0.0
    return in_usd(discounted(state, monthly_amount(state), settings), state.currency, settings)


def missing_rates(states: Iterable[SubscriptionState], settings: MrrSettings) -> list[str]:
    """The currencies of the states that have no rate (USD never needs one)."""
    found = {s.currency.upper() for s in states} - {REPORTING_CURRENCY} - set(settings.rates)
    return sorted(found)


def check_rates(states: Iterable[SubscriptionState], settings: MrrSettings) -> None:
    """Stop with one line when a subscription's currency has no rate."""
    missing = missing_rates(states, settings)
    if missing:
        raise MissingRatesError(
            f"subscriptions are in {', '.join(missing)} as well as USD, and no USD rate is given for "
            f"{'it' if len(missing) == 1 else 'them'}: give a rates file with {RATES_SETTING.option} FILE "
            f"or {RATES_SETTING.env} (lines `currency,usd_rate`)"
        )


class MissingRatesError(HealthdeckError):
    """A subscription's currency has no rate in the rates file."""


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, on the month's last day when it is shorter.

    >>> add_months(datetime(2026, 1, 31), 1)
    datetime.datetime(2026, 2, 28, 0, 0)
    """
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def period_end(anchor: datetime, after: datetime, interval: str) -> datetime:
    """The end of the billing period containing `after`, periods running from `anchor` by `interval`."""
    steps, end = 1, add_months(anchor, MONTHS[interval])
    while end <= after:
        steps += 1
        end = add_months(anchor, MONTHS[interval] * steps)
    return end


def state_at(states: list[SubscriptionState], times: list[datetime], at: datetime, settings: MrrSettings) -> float:
    """One subscription's MRR at `at`: its latest state strictly before `at` (windows are [start, end)).

    `states` are the subscription's, in time order, and `times` their timestamps. With churn at
    period end, a cancellation leaves the previous paying state's MRR in place until the billing
    period (anchored on the subscription's first record) is over.
    """
    index = bisect.bisect_left(times, at) - 1
    if index < 0:
        return 0.0
    latest = states[index]
    if settings.churn_at == "period_end" and latest.status == "canceled" and index > 0:
        before = states[index - 1]
        if counts(before) and at < period_end(states[0].ts, latest.ts, before.interval):
            return state_mrr(before, settings)
    return state_mrr(latest, settings)


@dataclass(frozen=True)
class Book:
    """Every subscription's states, grouped to answer MRR at any moment."""

    by_subscription: Mapping[str, tuple[str, list[SubscriptionState], list[datetime]]]
    settings: MrrSettings

    @classmethod
    def of(cls, states: list[SubscriptionState], settings: MrrSettings) -> Book:
        check_rates(states, settings)
        grouped: dict[str, list[SubscriptionState]] = defaultdict(list)
        for state in states:
            grouped[state.subscription_id].append(state)
        return cls(
            {sid: (rows[-1].tenant_id, rows, [r.ts for r in rows]) for sid, rows in grouped.items()},
            settings,
        )

    def tenant_mrr(self, at: datetime) -> dict[str, float]:
        """MRR per paying tenant at `at` (tenants paying nothing are left out)."""
        totals: dict[str, float] = defaultdict(float)
        for tenant, states, times in self.by_subscription.values():
            value = state_at(states, times, at, self.settings)
            if value > 0:
                totals[tenant] += value
        return dict(totals)

    @cached_property
    def first_paid(self) -> dict[str, datetime]:
        """When each tenant first had a state earning MRR (its first paying record); asked once per period."""
        first: dict[str, datetime] = {}
        for tenant, states, _ in self.by_subscription.values():
            paid = [s.ts for s in states if state_mrr(s, self.settings) > 0]
            if paid and (tenant not in first or paid[0] < first[tenant]):
                first[tenant] = paid[0]
        return first

    @cached_property
    def began(self) -> datetime | None:
        """When the book's first subscription state was recorded (None: no subscription)."""
        return min((times[0] for _, _, times in self.by_subscription.values()), default=None)

    def recorded_by(self, at: datetime) -> bool:
        """Whether any subscription state was recorded before `at`."""
        return any(times[0] < at for _, _, times in self.by_subscription.values())


def _example(**changes: Any) -> SubscriptionState:
    """A monthly USD state of one seat, for the examples above."""
    base: dict[str, Any] = {
        "ts": datetime(2026, 1, 1),
        "tenant_id": "t",
        "subscription_id": "s",
        "interval": "month",
        "amount": 100.0,
        "currency": "USD",
        "quantity": 1,
        "discount_pct": None,
        "discount_duration": None,
        "status": "active",
    }
    return SubscriptionState(**{**base, **changes})

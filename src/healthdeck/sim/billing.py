"""Subscriptions and payments: a plausible month of a SaaS business, told per subscription.

Each subscription that exists at the window start gets a state record a
minute before the window (the starting book, so MRR at the start is known);
everything after is a real movement: renewals, trials converting,
upgrades (charged at once), downgrades (effective at the next renewal, so the
plan change may be dated after the window), cancellations with the odd
reactivation, and failed payments that put a subscription past due until a
retry succeeds or it is canceled. Larger accounts expand their contracts
(ENTERPRISE by 20-50%, BUSINESS and PRO by a seat). Rates aim at ~2.5% monthly
logo churn and MRR growing ~10% a month (the specification's "growing 10%+
MoM"); churn favours at-risk tenants, upgrades the growing ones. A scenario's
churning segment cancels on top of that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from healthdeck.sim import plans
from healthdeck.sim.arrow import from_rows
from healthdeck.sim.config import US_PER_DAY, US_PER_HOUR, US_PER_MIN, SimConfig
from healthdeck.sim.rand import at_least_one, stream
from healthdeck.sim.tenants import GROWING, Population
from healthdeck.sim.timeline import TierTimeline

TRIAL_DAYS = 14
# Monthly rates, as shares of paying tenants (new trials: of FREE tenants).
CANCEL_RATE, UPGRADE_RATE, DOWNGRADE_RATE, FAIL_RATE = 0.02, 0.035, 0.015, 0.03
# Monthly share of ENTERPRISE and BUSINESS (and, a fifth as often, PRO) accounts that expand their contract.
EXPANSION_RATE = 0.22
TRIAL_RATE_FREE, TRIAL_RATE_NEW_TENANT, TRIAL_CONVERSION = 0.03, 0.4, 0.85


@dataclass
class Subscription:
    """The current terms of one subscription while its story is told."""

    tenant: int
    sub_id: str
    tier: int
    interval: str
    monthly: float  # the monthly list price (custom for ENTERPRISE)
    discount: float
    renew_us: int
    quantity: int = 1

    @property
    def amount(self) -> float:
        return plans.list_price(self.tier, self.interval, self.monthly)

    @property
    def charge(self) -> float:
        return round(self.amount * self.quantity * (1 - self.discount / 100), 2)

    def period_us(self) -> int:
        return plans.INTERVAL_DAYS[self.interval] * US_PER_DAY

    def set_tier(self, rng: np.random.Generator, tier: int) -> None:
        self.tier = tier
        self.monthly = _monthly_price(rng, tier)
        if tier == plans.ENTERPRISE:
            self.discount = 0.0


@dataclass
class Ledger:
    """Rows billing writes, plus the tier moves they imply; nothing at or after the window end."""

    end_us: int
    tenant_ids: list[str]
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    plan_changes: list[dict[str, Any]] = field(default_factory=list)
    tier_moves: list[tuple[int, int, int]] = field(default_factory=list)

    def state(self, sub: Subscription, ts: int, status: str) -> bool:
        if ts >= self.end_us:
            return False
        self.subscriptions.append(
            {
                "ts": ts,
                "tenant_id": self.tenant_ids[sub.tenant],
                "subscription_id": sub.sub_id,
                "plan": plans.plan_name(sub.tier, sub.interval),
                "tier": plans.TIERS[sub.tier],
                "interval": sub.interval,
                "amount": sub.amount,
                "currency": "USD",
                "quantity": sub.quantity,
                "discount_pct": sub.discount,
                "status": status,
            }
        )
        return True

    def pay(self, sub: Subscription, ts: int, *, ok: bool) -> bool:
        if ts >= self.end_us:
            return False
        self.payments.append(
            {
                "ts": ts,
                "tenant_id": self.tenant_ids[sub.tenant],
                "amount": sub.charge,
                "currency": "USD",
                "status": "succeeded" if ok else "failed",
            }
        )
        return True

    def move(self, tenant: int, ts: int, *, old: int, new: int, change: str, effective: int | None = None) -> None:
        """A plan change: the tier moves at `effective` (default `ts`), the event is logged at `ts`."""
        when = ts if effective is None else effective
        if ts < self.end_us:
            self.plan_changes.append(
                {
                    "ts": ts,
                    "tenant": tenant,
                    "from_tier": old,
                    "to_tier": new,
                    "change_type": change,
                    "effective_us": when,
                }
            )
        if when < self.end_us:
            self.tier_moves.append((when, tenant, new))


@dataclass(frozen=True)
class Moves:
    """Who does what inside the window (tenant indexes)."""

    trial_at_start: list[int]
    failing: list[int]
    canceling: list[int]
    reactivating: list[int]
    upgrading: list[int]
    downgrading: list[int]
    expanding: list[int]
    new_trials: list[int]


@dataclass(frozen=True)
class Billing:
    """What the billing story produced: rows for three kinds and the tier timeline."""

    ledger: Ledger
    timeline: TierTimeline
    final_plan: list[str]


def simulate_billing(cfg: SimConfig, pop: Population) -> Billing:
    """Tell every subscription's story over the window."""
    rng = stream(cfg.seed, "billing")
    ledger = Ledger(end_us=cfg.end_us, tenant_ids=pop.ids.to_pylist())
    subs = _opening_subscriptions(rng, cfg, pop)
    moves = _choose_moves(rng, cfg, pop, subs)
    for sub in subs.values():
        _existing_story(rng, cfg, pop, ledger, sub, moves)
    for tenant in moves.new_trials:
        _new_trial_story(rng, cfg, pop, ledger, tenant)
    timeline = TierTimeline.build(pop.start_tier, ledger.tier_moves)
    return Billing(ledger=ledger, timeline=timeline, final_plan=_final_plans(ledger, timeline))


def _monthly_price(rng: np.random.Generator, tier: int) -> float:
    if tier != plans.ENTERPRISE:
        return plans.MONTHLY_PRICE[tier]
    low, high = plans.ENTERPRISE_PRICE_RANGE
    return float(round(np.exp(rng.uniform(np.log(low), np.log(high))), -2))


def _interval(rng: np.random.Generator, tier: int) -> str:
    yearly = {plans.STARTER: 0.0, plans.PRO: 0.10, plans.BUSINESS: 0.20, plans.ENTERPRISE: 0.45}[tier]
    quarterly = 0.15 if tier == plans.ENTERPRISE else 0.0
    u = rng.random()
    return "year" if u < yearly else "quarter" if u < yearly + quarterly else "month"


def _opening_subscriptions(rng: np.random.Generator, cfg: SimConfig, pop: Population) -> dict[int, Subscription]:
    """The paid subscriptions at the window start, renewal dates spread evenly over the month."""
    paying = [int(t) for t in pop.existing if pop.start_tier[t] != plans.FREE]
    subs: dict[int, Subscription] = {}
    monthly_slot = rng.permutation(len(paying))
    for i, tenant in enumerate(paying):
        tier = int(pop.start_tier[tenant])
        interval = _interval(rng, tier)
        discount = float(rng.choice([10, 15, 20, 25])) if tier != plans.ENTERPRISE and rng.random() < 0.12 else 0.0
        if interval == "month":
            offset = (monthly_slot[i] + rng.random()) / len(paying) * 30 * US_PER_DAY
        else:
            offset = rng.random() * plans.INTERVAL_DAYS[interval] * US_PER_DAY
        subs[tenant] = Subscription(
            tenant=tenant,
            sub_id=f"sub-{pop.numbers[tenant]}",
            tier=tier,
            interval=interval,
            monthly=_monthly_price(rng, tier),
            discount=discount,
            renew_us=cfg.start_us + int(offset),
        )
    return subs


def _pick(rng: np.random.Generator, pool: list[int], weights: np.ndarray, count: int) -> list[int]:
    if count == 0 or not pool:
        return []
    chosen = rng.choice(len(pool), size=min(count, len(pool)), replace=False, p=weights / weights.sum())
    return sorted(pool[i] for i in chosen)


def _choose_moves(rng: np.random.Generator, cfg: SimConfig, pop: Population, subs: dict[int, Subscription]) -> Moves:
    """Pick the tenants of each movement: rates scaled to the window, at least one of each when possible."""
    risky = pop.at_risk()
    per_window = len(subs) * cfg.days / 30
    pool = sorted(subs)
    triable = [t for t in pool if subs[t].tier < plans.ENTERPRISE and not risky[t]]
    # Trials are rather taken from subscriptions not renewing in the window, which may fail a payment instead.
    later = np.array([subs[t].renew_us >= cfg.end_us - US_PER_HOUR for t in triable], dtype=bool)
    weight = later.astype(float) if later.any() else np.ones(len(triable))
    trial = _pick(rng, triable, weight, at_least_one(rng, 0.02 * len(pool), int(weight.astype(bool).sum())))
    pool = [t for t in pool if t not in trial]
    renewing = [t for t in pool if subs[t].renew_us < cfg.end_us - US_PER_HOUR]
    count = at_least_one(rng, FAIL_RATE * len(renewing), len(renewing))
    failing = _pick(rng, renewing, np.where(risky[renewing], 6.0, 1.0), count)
    pool = [t for t in pool if t not in failing]
    # Churn comes mostly from at-risk tenants and small plans.
    weight = np.where(risky[pool], 12.0, 1.0) * np.array([0, 1.0, 1.0, 0.5, 0.15])[pop.start_tier[pool]]
    canceling = _pick(rng, pool, weight, at_least_one(rng, CANCEL_RATE * per_window, len(pool)))
    canceling = sorted(canceling + _segment_cancellations(cfg, pop, [t for t in pool if t not in canceling]))
    pool = [t for t in pool if t not in canceling]
    steady = [t for t in canceling if not risky[t]]
    reactivating = steady[: at_least_one(rng, 0.005 * per_window, min(len(steady), len(canceling) - 1))]
    upgrading = _upgrades(rng, pop, [t for t in pool if subs[t].tier < plans.ENTERPRISE and not risky[t]], per_window)
    pool = [t for t in pool if t not in upgrading and subs[t].tier >= plans.PRO]
    weight = np.where(risky[pool], 3.0, 1.0) * np.where(pop.start_tier[pool] == plans.ENTERPRISE, 0.1, 1.0)
    downgrading = _pick(rng, pool, weight, at_least_one(rng, DOWNGRADE_RATE * per_window, len(pool)))
    pool = [t for t in pool if t not in downgrading and not risky[t]]
    weight = np.where(pop.start_tier[pool] == plans.PRO, 0.2, 1.0)
    expanding = _pick(rng, pool, weight, at_least_one(rng, EXPANSION_RATE * cfg.days / 30 * weight.sum(), len(pool)))
    return Moves(
        trial_at_start=trial,
        failing=failing,
        canceling=canceling,
        reactivating=reactivating,
        upgrading=upgrading,
        downgrading=downgrading,
        expanding=expanding,
        new_trials=_new_trials(rng, cfg, pop),
    )


def _segment_cancellations(cfg: SimConfig, pop: Population, pool: list[int]) -> list[int]:
    """The scenario's churning segment: a share of its paying tenants cancel (their own stream of draws)."""
    share = cfg.scenario.churn_cancel_share
    members = [t for t in pool if pop.segment[t]]
    if not members or share <= 0:
        return []
    rng = stream(cfg.seed, "segment-churn")
    return sorted(int(t) for t in rng.permutation(members)[: round(share * len(members))])


def _upgrades(rng: np.random.Generator, pop: Population, pool: list[int], per_window: float) -> list[int]:
    """Growing tenants upgrade far more often; BUSINESS to ENTERPRISE is a rarer, bigger step."""
    weight = np.where(pop.profile[pool] == GROWING, 10.0, 1.0) * np.where(
        pop.start_tier[pool] == plans.BUSINESS, 0.3, 1.0
    )
    return _pick(rng, pool, weight, at_least_one(rng, UPGRADE_RATE * per_window, len(pool)))


def _new_trials(rng: np.random.Generator, cfg: SimConfig, pop: Population) -> list[int]:
    """FREE tenants (more often busy or growing ones) and new signups that start a trial in the window."""
    free = [int(t) for t in pop.existing if pop.start_tier[t] == plans.FREE and not pop.at_risk()[t]]
    weight = pop.level[free] * np.where(pop.profile[free] == GROWING, 5.0, 1.0)
    expected = TRIAL_RATE_FREE * len(free) * cfg.days / 30
    chosen = _pick(rng, free, weight, at_least_one(rng, expected, len(free)))
    fresh = np.flatnonzero(pop.created_us >= cfg.start_us)
    chosen += [int(t) for t in fresh[rng.random(len(fresh)) < TRIAL_RATE_NEW_TENANT]]
    return sorted(chosen)


def _existing_story(
    rng: np.random.Generator, cfg: SimConfig, pop: Population, ledger: Ledger, sub: Subscription, moves: Moves
) -> None:
    """One subscription that exists at the window start, from its opening state to the window end."""
    tenant = sub.tenant
    if tenant in moves.trial_at_start:
        _trial_at_start(rng, cfg, ledger, sub)
        return
    ledger.state(sub, _opening(cfg), "active")
    if tenant in moves.failing:
        _failing(rng, ledger, sub)
    elif tenant in moves.canceling:
        _canceling(rng, cfg, pop, ledger, sub, reactivates=tenant in moves.reactivating)
    elif tenant in moves.upgrading:
        _upgrading(rng, cfg, ledger, sub)
    elif tenant in moves.downgrading:
        _downgrading(rng, cfg, ledger, sub)
    elif tenant in moves.expanding:
        _expanding(rng, cfg, ledger, sub)
    else:
        _renew_until(ledger, sub, ledger.end_us)


def _opening(cfg: SimConfig) -> int:
    """When the starting book is recorded: a minute before the window, as a billing export taken then.

    MRR at an instant counts states strictly before it, and a window has data only when its source
    began at or before the window's start, so the book must be on record just before the window.
    """
    return cfg.start_us - US_PER_MIN


def _renew_until(ledger: Ledger, sub: Subscription, until_us: int) -> None:
    """Successful renewals before `until_us`; leaves `renew_us` at the first renewal not taken."""
    while sub.renew_us < min(until_us, ledger.end_us):
        ledger.pay(sub, sub.renew_us, ok=True)
        sub.renew_us += sub.period_us()


def _trial_at_start(rng: np.random.Generator, cfg: SimConfig, ledger: Ledger, sub: Subscription) -> None:
    """A trial begun before the window that ends inside it (when the window is long enough)."""
    sub.interval, sub.discount = "month", 0.0
    span = min(cfg.days, TRIAL_DAYS) * US_PER_DAY
    converts_at = cfg.start_us + int(rng.uniform(0.05, 0.9) * span)
    ledger.state(sub, _opening(cfg), "trialing")
    _trial_end(rng, ledger, sub, converts_at, always=True)


def _new_trial_story(rng: np.random.Generator, cfg: SimConfig, pop: Population, ledger: Ledger, tenant: int) -> None:
    """A FREE tenant starts a trial inside the window; it converts (or not) within its 14 days."""
    if pop.created_us[tenant] >= cfg.start_us:
        begins = int(pop.created_us[tenant]) + int(rng.uniform(0.02, 2.0) * US_PER_DAY)
    else:
        begins = cfg.start_us + int(rng.uniform(0.0, 0.95) * cfg.days * US_PER_DAY)
    tier = int(rng.choice([plans.STARTER, plans.PRO, plans.BUSINESS], p=[0.45, 0.45, 0.10]))
    sub = Subscription(
        tenant=tenant,
        sub_id=f"sub-{pop.numbers[tenant]}",
        tier=tier,
        interval="month",
        monthly=plans.MONTHLY_PRICE[tier],
        discount=0.0,
        renew_us=0,
    )
    if not ledger.state(sub, begins, "trialing"):
        return
    ledger.tier_moves.append((begins, tenant, tier))
    # Many convert before the trial ends: signup to paid stays under the specification's 14 days.
    decides = begins + int(rng.uniform(0.4, 1.0) * TRIAL_DAYS * US_PER_DAY)
    _trial_end(rng, ledger, sub, decides, always=False)


def _trial_end(rng: np.random.Generator, ledger: Ledger, sub: Subscription, at_us: int, *, always: bool) -> None:
    if always or rng.random() < TRIAL_CONVERSION:
        if ledger.state(sub, at_us, "active"):
            ledger.pay(sub, at_us + US_PER_MIN, ok=True)
            ledger.move(sub.tenant, at_us, old=plans.FREE, new=sub.tier, change="trial_conversion")
            sub.renew_us = at_us + sub.period_us()
            _renew_until(ledger, sub, ledger.end_us)
        return
    if ledger.state(sub, at_us, "canceled"):
        ledger.move(sub.tenant, at_us, old=sub.tier, new=plans.FREE, change="cancellation")


def _failing(rng: np.random.Generator, ledger: Ledger, sub: Subscription) -> None:
    """The first renewal's payment fails: past due, retries after 3 and 7 days, then canceled."""
    due = sub.renew_us
    ledger.pay(sub, due, ok=False)
    ledger.state(sub, due + 5 * US_PER_MIN, "past_due")
    for retry_days, succeeds in ((3, 0.55), (7, 0.40)):
        retry = due + retry_days * US_PER_DAY + int(rng.integers(0, 3_600)) * 1_000_000
        if rng.random() < succeeds:
            if ledger.pay(sub, retry, ok=True) and ledger.state(sub, retry + US_PER_MIN, "active"):
                sub.renew_us = due + sub.period_us()
                _renew_until(ledger, sub, ledger.end_us)
            return
        if not ledger.pay(sub, retry, ok=False):
            return
    gives_up = due + 7 * US_PER_DAY + US_PER_HOUR
    if ledger.state(sub, gives_up, "canceled"):
        ledger.move(sub.tenant, gives_up, old=sub.tier, new=plans.FREE, change="cancellation")


def _cancel_time(rng: np.random.Generator, cfg: SimConfig, pop: Population, tenant: int, *, early: bool) -> int:
    """When a tenant cancels: early enough to come back, or late in an at-risk tenant's decline."""
    days = cfg.days
    if early:
        day = rng.uniform(0.05, 0.45) * days
    elif pop.silent_day[tenant] < days - 1:
        day = min(days - 0.2, pop.silent_day[tenant] + rng.uniform(1.0, 4.0))
    elif pop.at_risk()[tenant]:
        day = rng.uniform(max(pop.decline_day[tenant], 0.4 * days), days - 0.2)
    else:
        day = rng.uniform(0.02, 0.98) * days
    return cfg.start_us + int(day * US_PER_DAY)


def _canceling(
    rng: np.random.Generator,
    cfg: SimConfig,
    pop: Population,
    ledger: Ledger,
    sub: Subscription,
    *,
    reactivates: bool,
) -> None:
    """Cancels inside the window; a few come back days later on the same subscription."""
    at = _cancel_time(rng, cfg, pop, sub.tenant, early=reactivates)
    _renew_until(ledger, sub, at)
    ledger.state(sub, at, "canceled")
    ledger.move(sub.tenant, at, old=sub.tier, new=plans.FREE, change="cancellation")
    if not reactivates:
        return
    back = at + int(rng.uniform(0.3, 0.8) * (cfg.end_us - at))
    ledger.state(sub, back, "active")
    ledger.pay(sub, back + US_PER_MIN, ok=True)
    # A returning customer is an upgrade from FREE in the tier log's vocabulary.
    ledger.move(sub.tenant, back, old=plans.FREE, new=sub.tier, change="upgrade")
    sub.renew_us = back + sub.period_us()
    _renew_until(ledger, sub, ledger.end_us)


def _upgrading(rng: np.random.Generator, cfg: SimConfig, ledger: Ledger, sub: Subscription) -> None:
    """Moves up one tier at once and pays the new price that day; the billing period restarts."""
    at = cfg.start_us + int(rng.uniform(0.03, 0.97) * cfg.days * US_PER_DAY)
    _renew_until(ledger, sub, at)
    old = sub.tier
    sub.set_tier(rng, old + 1)
    ledger.state(sub, at, "active")
    ledger.pay(sub, at + US_PER_MIN, ok=True)
    ledger.move(sub.tenant, at, old=old, new=sub.tier, change="upgrade")
    sub.renew_us = at + sub.period_us()
    _renew_until(ledger, sub, ledger.end_us)


def _downgrading(rng: np.random.Generator, cfg: SimConfig, ledger: Ledger, sub: Subscription) -> None:
    """Asks to move down one tier; it takes effect at the next renewal (maybe after the window)."""
    asked = cfg.start_us + int(rng.uniform(0.03, 0.9) * cfg.days * US_PER_DAY)
    _renew_until(ledger, sub, asked)
    effective, old = sub.renew_us, sub.tier
    ledger.move(sub.tenant, asked, old=old, new=old - 1, change="downgrade", effective=effective)
    if effective < ledger.end_us:
        sub.set_tier(rng, old - 1)
        ledger.state(sub, effective, "active")
    _renew_until(ledger, sub, ledger.end_us)


def _expanding(rng: np.random.Generator, cfg: SimConfig, ledger: Ledger, sub: Subscription) -> None:
    """Expands the contract (a custom price 20-50% higher for ENTERPRISE, a seat more otherwise) from then on."""
    at = cfg.start_us + int(rng.uniform(0.03, 0.97) * cfg.days * US_PER_DAY)
    _renew_until(ledger, sub, at)
    if sub.tier == plans.ENTERPRISE:
        sub.monthly = float(round(sub.monthly * rng.uniform(1.2, 1.5), -2))
    else:
        sub.quantity += 1
    ledger.state(sub, at, "active")
    _renew_until(ledger, sub, ledger.end_us)


def _final_plans(ledger: Ledger, timeline: TierTimeline) -> list[str]:
    """Each tenant's plan id at the window end: its subscription's plan, or "free"."""
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(ledger.subscriptions, key=lambda r: r["ts"]):
        latest[row["tenant_id"]] = row
    final = timeline.final()
    plans_at_end = []
    for i, tenant_id in enumerate(ledger.tenant_ids):
        row = latest.get(tenant_id, {"status": "canceled", "plan": "free"})
        live = row["status"] in ("active", "trialing", "past_due") and final[i] != plans.FREE
        plans_at_end.append(row["plan"] if live else "free")
    return plans_at_end


def billing_tables(cfg: SimConfig, ledger: Ledger) -> dict[str, pa.Table]:
    """The subscriptions and payments rows as store tables."""
    return {
        "subscriptions": from_rows("subscriptions", ledger.subscriptions, id_prefix=cfg.id_prefix("sub")),
        "payments": from_rows("payments", ledger.payments, id_prefix=cfg.id_prefix("pay")),
    }

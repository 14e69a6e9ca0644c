"""Tenant compute lifecycle (COLD/WARM/HOT/PERSISTENT), replayed from each day's requests.

FREE and STARTER tenants scale to zero after an idle timeout (30 and 60
minutes): at most the day's longest idle gap and the quiet after its last
request are modelled, each a scale_to_zero (and WARM->COLD), and the next request
a cold_start (and COLD->WARM). PRO and BUSINESS tenants stay WARM, the busiest
are promoted to HOT for the working day and demoted in the evening, and go COLD
only after a full idle day. ENTERPRISE is PERSISTENT and never cold-starts.
Plan changes are applied by the daily reconcile at the start of the next window day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from healthdeck.sim import plans, tierlog
from healthdeck.sim.config import US_PER_DAY, US_PER_HOUR, US_PER_MIN
from healthdeck.sim.rand import stream
from healthdeck.sim.shape import next_time_of_day
from healthdeck.sim.tierlog import COLD, HOT, PERSISTENT, WARM
from healthdeck.sim.traffic import DayTraffic
from healthdeck.sim.world import World

IDLE_TIMEOUT_US = np.array([30, 60, 0, 0, 0]) * US_PER_MIN
NEVER = np.iinfo(np.int64).min // 2


@dataclass
class Lifecycle:
    """Each tenant's lifecycle state and last request time, carried from one day to the next."""

    state: np.ndarray
    last_us: np.ndarray  # NEVER before the first request

    @classmethod
    def initial(cls, world: World) -> Lifecycle:
        """At the window start: ENTERPRISE PERSISTENT, other existing tenants WARM, newcomers COLD."""
        pop = world.pop
        existing = pop.created_us < world.cfg.start_us
        state = np.where(pop.start_tier == plans.ENTERPRISE, PERSISTENT, np.where(existing, WARM, COLD))
        return cls(state=state.astype(np.int64), last_us=np.where(existing, world.cfg.start_us, NEVER))


@dataclass(frozen=True)
class _Day:
    """What one day's replay needs: bounds, tiers, and each tenant's requests grouped in time order."""

    start: int
    end: int
    tiers: np.ndarray
    counts: np.ndarray
    hour_counts: np.ndarray
    first: np.ndarray
    last: np.ndarray
    grouped_tenant: np.ndarray
    grouped_ts: np.ndarray


def lifecycle_events(world: World, day: int, traffic: DayTraffic, life: Lifecycle) -> pa.Table:
    """The day's lifecycle events; advances `life` to the end of the day."""
    rng = stream(world.cfg.seed, "lifecycle", day)
    today = _group(world, day, traffic)
    tables = _reconcile(rng, world, today, life)
    # Idle gaps read the day-start states, so they go before waking the COLD tenants.
    tables += _idle_gaps(rng, world, today, life)
    tables += _wake_cold(rng, world, today, life)
    tables += _hot_cycle(rng, world, today, life)
    has = today.counts > 0
    life.last_us[has] = today.last[has]
    tables += _fall_asleep(world, today, life)
    return tierlog.finish(tables, world.cfg.id_prefix("tev") + f"{day}-")


def _group(world: World, day: int, traffic: DayTraffic) -> _Day:
    n = world.pop.size
    # A 16-bit key lets numpy use a radix sort: grouping by tenant keeps each tenant's rows in time order.
    key = traffic.tenant.astype(np.int16 if n < 32_768 else np.int32)
    order = np.argsort(key, kind="stable")
    grouped_tenant, grouped_ts = traffic.tenant[order], traffic.ts_us[order]
    counts = traffic.tenant_counts
    ends = np.cumsum(counts)
    has = counts > 0
    first = np.full(n, NEVER, dtype=np.int64)
    last = np.full(n, NEVER, dtype=np.int64)
    first[has] = grouped_ts[(ends - counts)[has]]
    last[has] = grouped_ts[ends[has] - 1]
    start = world.cfg.day_start_us(day)
    return _Day(
        start=start,
        end=start + US_PER_DAY,
        tiers=world.billing.timeline.at(start),
        counts=counts,
        hour_counts=traffic.tenant_hour_counts,
        first=first,
        last=last,
        grouped_tenant=grouped_tenant,
        grouped_ts=grouped_ts,
    )


def _reconcile(rng: np.random.Generator, world: World, today: _Day, life: Lifecycle) -> list[pa.Table]:
    """Bring each tenant's state in line with its plan (after upgrades, downgrades, cancellations)."""
    enterprise = today.tiers == plans.ENTERPRISE
    capped = today.tiers <= plans.STARTER  # FREE and STARTER never run HOT
    moving = (enterprise & (life.state != PERSISTENT)) | (~enterprise & (life.state == PERSISTENT))
    moving |= capped & (life.state == HOT)
    tenant = np.flatnonzero(moving)
    if not len(tenant):
        return []
    source = life.state[tenant]
    target = np.where(enterprise[tenant], PERSISTENT, WARM)
    reason = pa.array(np.where(target == PERSISTENT, "manual_upgrade", "manual_downgrade").tolist(), pa.string())
    ts = today.start + rng.integers(1, 30, len(tenant)) * US_PER_MIN
    life.state[tenant] = target
    return [
        tierlog.transitions(ts, tenant, today.tiers[tenant], world.pop, source=source, target=target, reason=reason)
    ]


def _wake_cold(rng: np.random.Generator, world: World, today: _Day, life: Lifecycle) -> list[pa.Table]:
    """A COLD tenant's first request of the day is a cold start."""
    tenant = np.flatnonzero((life.state == COLD) & (today.counts > 0))
    life.state[tenant] = WARM
    return _wake(rng, world, today, tenant, today.first[tenant])


def _wake(rng: np.random.Generator, world: World, today: _Day, tenant: np.ndarray, ts: np.ndarray) -> list[pa.Table]:
    tier = today.tiers[tenant]
    n = len(tenant)
    return [
        tierlog.cold_starts(rng, ts, tenant, tier, world.pop),
        tierlog.transitions(
            ts,
            tenant,
            tier,
            world.pop,
            source=np.full(n, COLD),
            target=np.full(n, WARM),
            reason="automatic_promotion",
            trigger={"pending_queries": rng.integers(1, 6, n), "wake_on_request": np.ones(n, bool)},
        ),
    ]


def _idle_gaps(rng: np.random.Generator, world: World, today: _Day, life: Lifecycle) -> list[pa.Table]:
    """The longest idle gap of each scale-to-zero tenant: scaled down after the timeout, woken after."""
    timeout = IDLE_TIMEOUT_US[today.tiers]
    t, ts = today.grouped_tenant, today.grouped_ts
    internal = np.flatnonzero((t[1:] == t[:-1]) & (timeout[t[1:]] > 0))
    gap_tenant, gap_from, gap_to = t[internal + 1], ts[internal], ts[internal + 1]
    # The quiet between yesterday's last request and today's first counts when the tenant is still WARM.
    carried = np.flatnonzero(
        (timeout > 0)
        & (today.counts > 0)
        & (life.last_us != NEVER)
        & (life.state == WARM)
        & (today.first > life.last_us)
    )
    gap_tenant = np.concatenate([gap_tenant, carried])
    gap_from = np.concatenate([gap_from, life.last_us[carried]])
    gap_to = np.concatenate([gap_to, today.first[carried]])
    length = gap_to - gap_from
    order = np.lexsort((-length, gap_tenant))
    _, firsts = np.unique(gap_tenant[order], return_index=True)
    pick = order[firsts]
    pick = pick[length[pick] > timeout[gap_tenant[pick]]]
    tenant, asleep, woke = gap_tenant[pick], gap_from[pick] + timeout[gap_tenant[pick]], gap_to[pick]
    return _sleep(rng, world, today, tenant, asleep, gap_from[pick]) + _wake(rng, world, today, tenant, woke)


def _sleep(
    rng: np.random.Generator, world: World, today: _Day, tenant: np.ndarray, ts: np.ndarray, last_query: np.ndarray
) -> list[pa.Table]:
    n, tier = len(tenant), today.tiers[tenant]
    reason = pa.array(np.where(rng.random(n) < 0.9, "idle_timeout", "cost_optimization").tolist(), pa.string())
    idle_sec = (ts - last_query) / 1e6
    return [
        tierlog.scale_to_zero(ts, tenant, tier, world.pop, reason=reason, idle_sec=idle_sec, last_query_us=last_query),
        tierlog.transitions(
            ts, tenant, tier, world.pop, source=np.full(n, WARM), target=np.full(n, COLD), reason="scale_to_zero"
        ),
    ]


def _fall_asleep(world: World, today: _Day, life: Lifecycle) -> list[pa.Table]:
    """After its last request a free-tier tenant scales to zero after its timeout; others after a day idle."""
    timeout = IDLE_TIMEOUT_US[today.tiers]
    awake = ((life.state == WARM) | (life.state == HOT)) & (life.last_us != NEVER)
    low = np.flatnonzero(awake & (timeout > 0) & (life.last_us + timeout < today.end))
    idle = np.flatnonzero(awake & (timeout == 0) & (today.counts == 0) & (life.last_us + US_PER_DAY < today.end))
    tables: list[pa.Table] = []
    if len(low):
        # A tenant that just lost its always-on plan scales down at the reconcile, not in the past.
        asleep = np.maximum(life.last_us[low] + timeout[low], today.start)
        rng = stream(world.cfg.seed, "lifecycle-sleep", int((today.start - world.cfg.start_us) // US_PER_DAY))
        tables += _sleep(rng, world, today, low, asleep, life.last_us[low])
    if len(idle):
        ts = np.maximum(life.last_us[idle] + US_PER_DAY, today.start)
        cold = np.full(len(idle), COLD)
        tables.append(
            tierlog.transitions(
                ts, idle, today.tiers[idle], world.pop, source=life.state[idle], target=cold, reason="idle_timeout"
            )
        )
    life.state[low] = COLD
    life.state[idle] = COLD
    return tables


def _hot_cycle(rng: np.random.Generator, world: World, today: _Day, life: Lifecycle) -> list[pa.Table]:
    """Busy PRO/BUSINESS tenants run HOT from late morning to evening (UTC)."""
    mid = (today.tiers == plans.PRO) | (today.tiers == plans.BUSINESS)
    active = mid & (today.counts > 0)
    if not active.any():
        return []
    busy = active & (today.counts >= np.quantile(today.counts[active], 0.6))
    morning = next_time_of_day(today.start, 10.0)
    evening = next_time_of_day(today.start, 19.0)
    if evening < morning:
        return _demote(rng, world, today, life, evening) + _promote(rng, world, today, life, busy, morning)
    return _promote(rng, world, today, life, busy, morning) + _demote(rng, world, today, life, evening)


def _promote(
    rng: np.random.Generator, world: World, today: _Day, life: Lifecycle, busy: np.ndarray, at: int
) -> list[pa.Table]:
    tenant = np.flatnonzero(busy & (life.state == WARM))
    if not len(tenant):
        return []
    n = len(tenant)
    ts = np.maximum(at + rng.integers(0, 30 * 60, n) * 1_000_000, today.first[tenant] + US_PER_MIN)
    ts = np.minimum(ts, today.end - 1)  # the jitter never carries an event past the day (or the simulation's end)
    hour = int((at - today.start) // US_PER_HOUR)
    recent = today.hour_counts[tenant, max(0, hour - 4) : max(hour, 1)].sum(axis=1)
    trigger = {
        "query_count_4h": recent,
        "avg_query_rate": np.round(recent / 240.0, 2),
        "uptime_hours": np.round((ts - today.first[tenant]) / US_PER_HOUR, 1),
        "sustained_activity": np.ones(n, dtype=bool),
    }
    life.state[tenant] = HOT
    return [
        tierlog.transitions(
            ts,
            tenant,
            today.tiers[tenant],
            world.pop,
            source=np.full(n, WARM),
            target=np.full(n, HOT),
            reason="automatic_promotion",
            trigger=trigger,
        )
    ]


def _demote(rng: np.random.Generator, world: World, today: _Day, life: Lifecycle, at: int) -> list[pa.Table]:
    tenant = np.flatnonzero(life.state == HOT)
    if not len(tenant):
        return []
    n = len(tenant)
    ts = np.minimum(at + rng.integers(0, 60 * 60, n) * 1_000_000, today.end - 1)
    life.state[tenant] = WARM
    return [
        tierlog.transitions(
            ts,
            tenant,
            today.tiers[tenant],
            world.pop,
            source=np.full(n, HOT),
            target=np.full(n, WARM),
            reason="automatic_demotion",
        )
    ]

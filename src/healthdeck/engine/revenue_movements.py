"""MRR movements per period and the retention and unit economics built on them.

A tenant's MRR is taken at each period's start and end (engine/mrr.py's rules) and the change
is classified once:

- new: 0 at the start, > 0 at the end, and the tenant never paid before the period;
- reactivation: 0 at the start, > 0 at the end, after having paid before (it churned and came back);
- expansion / contraction: > 0 at both, up / down (cancelling one of two subscriptions is contraction);
- churn: > 0 at the start, 0 at the end.

So MRR(end) − MRR(start) = new + expansion + reactivation − contraction − churn, for every period.
Changes inside a period that cancel out (a downgrade undone before its end) are not movements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from healthdeck.engine.measures.base import Window, ratio
from healthdeck.engine.mrr import Book

PeriodKind = Literal["day", "week", "month"]


# Days of one month when a window's logo churn is made monthly (LTV's lifetime = 1 / monthly churn).
MONTH_DAYS = 30.0


@dataclass(frozen=True)
class Movements:
    """How MRR moved between two moments, tenant by tenant, in dollars per month."""

    start: float
    end: float
    new: float
    expansion: float
    contraction: float
    churn: float
    reactivation: float
    customers_at_start: int
    customers_at_end: int
    churned_customers: int
    new_customers: int

    @property
    def net_new(self) -> float:
        return self.new + self.expansion + self.reactivation - self.contraction - self.churn

    @property
    def quick_ratio(self) -> float | None:
        """(new + expansion + reactivation) / (contraction + churn); None with no losses."""
        return ratio(self.new + self.expansion + self.reactivation, self.contraction + self.churn or None)


def movements(book: Book, window: Window) -> Movements:
    """Classify each tenant's change of MRR between the window's start and end."""
    start, end = book.tenant_mrr(window.start), book.tenant_mrr(window.end)
    first_paid = book.first_paid
    sums = dict.fromkeys(("new", "expansion", "contraction", "churn", "reactivation"), 0.0)
    new_customers = 0
    for tenant in start.keys() | end.keys():
        before, after = start.get(tenant, 0.0), end.get(tenant, 0.0)
        if before == 0:
            kind = "reactivation" if first_paid[tenant] < window.start else "new"
            new_customers += kind == "new"
            sums[kind] += after
        elif after == 0:
            sums["churn"] += before
        elif after > before:
            sums["expansion"] += after - before
        else:
            sums["contraction"] += before - after
    return Movements(
        start=sum(start.values()),
        end=sum(end.values()),
        customers_at_start=len(start),
        customers_at_end=len(end),
        churned_customers=sum(1 for t in start if t not in end),
        new_customers=new_customers,
        **sums,
    )


def net_retention(m: Movements) -> float | None:
    """NRR, in %: (MRR at start + expansion − contraction − churn) / MRR at start, of the start's customers."""
    return ratio(m.start + m.expansion - m.contraction - m.churn, m.start, scale=100.0)


def gross_retention(m: Movements) -> float | None:
    """GRR, in %: (MRR at start − contraction − churn) / MRR at start (expansion never counts)."""
    return ratio(m.start - m.contraction - m.churn, m.start, scale=100.0)


def logo_churn_rate(m: Movements) -> float | None:
    """Customers paying at the start and not at the end / customers paying at the start, in %."""
    return ratio(m.churned_customers, m.customers_at_start, scale=100.0)


def revenue_churn_rate(m: Movements) -> float | None:
    """MRR lost with churned customers / MRR at the start, in % (contraction is not churn)."""
    return ratio(m.churn, m.start, scale=100.0)


def expansion_rate(m: Movements) -> float | None:
    """Expansion MRR of the start's customers / MRR at the start, in %."""
    return ratio(m.expansion, m.start, scale=100.0)


def arpu(m: Movements) -> float | None:
    """MRR / paying customers at the end."""
    return ratio(m.end, m.customers_at_end)


def ltv(m: Movements, window: Window) -> float | None:
    """ARPU / monthly logo churn, in dollars; None when nobody churned (the lifetime is unbounded).

    Monthly logo churn is the window's logo churn scaled to 30 days: churned / customers at start × 30 / days.
    """
    churn = ratio(m.churned_customers, m.customers_at_start)
    monthly_churn = None if churn is None else churn * MONTH_DAYS / window.days
    return ratio(arpu(m), monthly_churn)


def period_start(moment: datetime, by: PeriodKind) -> datetime:
    """The start (UTC) of the day, week (Monday) or month containing `moment`."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if by == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if by == "month" else day


def previous_start(start: datetime, by: PeriodKind) -> datetime:
    if by == "month":
        return (start - timedelta(days=1)).replace(day=1)
    return start - timedelta(days=7 if by == "week" else 1)


def periods(at: datetime, by: PeriodKind, count: int) -> list[Window]:
    """The last `count` periods up to `at`, oldest first; the last one runs to `at` (it is not over).

    At a period's very start (midnight, Monday, the 1st), the last period is the one just ended.
    """
    starts = [period_start(at - timedelta(microseconds=1), by)]
    while len(starts) < count:
        starts.append(previous_start(starts[-1], by))
    starts.reverse()
    ends = [*starts[1:], at]
    return [Window(s, e) for s, e in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class PeriodMovements:
    """One period's movements and its label (the period's first day)."""

    window: Window
    by: PeriodKind
    moved: Movements

    @property
    def label(self) -> str:
        return self.window.start.strftime("%Y-%m" if self.by == "month" else "%Y-%m-%d")


def mrr_movements(book: Book, *, at: datetime, by: PeriodKind, count: int) -> list[PeriodMovements]:
    """MRR movements for each of the last `count` periods up to `at`.

    Periods over before the book's first record are left out: no data, not an MRR of zero. The period
    the book begins in starts from its opening book (what was paying at the first record): those
    customers were there before the store, not new in that period (as CAC counts them too).
    """
    began = book.began
    if began is None:
        return []
    opening = began + timedelta(microseconds=1)  # a state is read from the latest record strictly before
    return [
        PeriodMovements(w, by, movements(book, Window(max(w.start, opening), w.end)))
        for w in periods(at, by, count)
        if w.end > began
    ]


def _money(value: float) -> float:
    return round(value, 2)


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def period_json(period: PeriodMovements) -> dict[str, Any]:
    """One period of `business mrr`: MRR at its end and each movement, in dollars per month."""
    m = period.moved
    return {
        "period": period.label,
        "start": period.window.start.isoformat(),
        "end": period.window.end.isoformat(),
        "mrr": _money(m.end),
        "new": _money(m.new),
        "expansion": _money(m.expansion),
        "contraction": _money(m.contraction),
        "churn": _money(m.churn),
        "reactivation": _money(m.reactivation),
        "net_new": _money(m.net_new),
        "arr": _money(m.end * 12),
        "arpu": None if not m.customers_at_end else _money(m.end / m.customers_at_end),
        "quick_ratio": _rate(m.quick_ratio),
    }


def mrr_json(rows: list[PeriodMovements]) -> dict[str, Any]:
    """What `business mrr --output json` and `GET /v1/business/mrr` answer."""
    return {"periods": [period_json(p) for p in rows]}

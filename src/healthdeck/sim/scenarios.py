"""What the simulated month has in store: a healthy baseline plus problems injected on purpose.

A scenario is a few knobs the generators read. `healthy` is a SaaS that meets
the specification's thresholds most of the day (traffic, tier latency SLOs,
revenue growth, churn, capacity headroom). The other presets inject one problem
each, so every area of the health report has something real to find:

- `incident`: a P1 API incident 6 hours before the end, 40 minutes of 6% 5xx
  on every route at twice the latency, the API down for 6 of them.
- `churn`: STARTER and PRO tenants of the Retail and Media industries lose
  interest from mid-window (usage falls, teammates leave) and most of them cancel.
- `capacity`: GPU allocation grows fast to 3.6 of 4 GPUs, so GPUs fill up within
  about two weeks and training jobs wait longer for one.

`demo` (the default) mixes all three at a milder dose: the incident, a
churning segment of which a tenth cancels, and the GPU squeeze.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthdeck.errors import HealthdeckError


@dataclass(frozen=True)
class Scenario:
    """The knobs of one preset; `healthy` has every problem switched off."""

    name: str
    late_incident: bool = False
    # Industries (the second word of a tenant's name) whose small paying tenants churn.
    churn_industries: tuple[str, ...] = ()
    churn_cancel_share: float = 0.0
    # GPUs allocated at the window end and how fast the allocation grows per month.
    gpu_at_end: float = 2.5
    gpu_growth: float = 0.10


CHURNING = ("Retail", "Media")
SCENARIOS: dict[str, Scenario] = {
    "demo": Scenario(
        "demo",
        late_incident=True,
        churn_industries=CHURNING,
        churn_cancel_share=0.1,
        gpu_at_end=3.4,
        gpu_growth=0.30,
    ),
    "healthy": Scenario("healthy"),
    "incident": Scenario("incident", late_incident=True),
    "churn": Scenario("churn", churn_industries=CHURNING, churn_cancel_share=0.8),
    "capacity": Scenario("capacity", gpu_at_end=3.6, gpu_growth=0.45),
}
DEFAULT_SCENARIO = "demo"


def scenario_named(name: str) -> Scenario:
    """The preset called `name`, or a clear error listing the presets."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise HealthdeckError(f"--scenario {name!r} is not a preset; choose one of {', '.join(SCENARIOS)}") from None

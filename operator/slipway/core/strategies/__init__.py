"""Strategies: canary, blue-green and rolling, each compiled into one `Plan` the core runs."""

from __future__ import annotations

from slipway.api.models import ReleaseSpec
from slipway.core.strategies import bluegreen, canary, rolling
from slipway.core.strategies.plan import Gate, Hold, Plan, PlanStep, Reroute, Shift

__all__ = ["Gate", "Hold", "Plan", "PlanStep", "Reroute", "Shift", "plan_for"]


def plan_for(spec: ReleaseSpec) -> Plan:
    """The plan for rolling out a new revision of `spec`."""
    strategy = spec.strategy
    if spec.replicas == 0:
        return Plan(steps=())  # no pods: nothing to shift, pause on or measure
    if strategy.canary is not None:
        return canary.plan(strategy.canary, spec.replicas, spec.traffic_routing is not None)
    if strategy.blue_green is not None:
        return bluegreen.plan(strategy.blue_green, spec.replicas)
    assert strategy.rolling is not None  # the model guarantees exactly one strategy
    return rolling.plan(strategy.rolling, spec.replicas, analysed=spec.analysis is not None)

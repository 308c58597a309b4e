"""Canary: the user's steps, one for one (so status.currentStep indexes spec.strategy.canary.steps)."""

from __future__ import annotations

import math

from slipway.api.durations import parse_duration
from slipway.api.models import CanaryStep, CanaryStrategy
from slipway.core.strategies.plan import Gate, Hold, Plan, PlanStep, Shift


def canary_pods_for_weight(weight: int, replicas: int) -> int:
    """Canary pods that, next to `replicas` stable pods, come closest to `weight` percent."""
    if weight <= 0 or replicas <= 0:
        return 0
    if weight >= 100:
        return replicas
    return max(1, min(replicas, round(replicas * weight / (100 - weight))))


def realised_weight(canary_pods: int, stable_pods: int) -> int:
    """The percentage of requests the canary actually gets when a Service spreads over both."""
    total = canary_pods + stable_pods
    return round(100 * canary_pods / total) if total else 0


def canary_replicas(weight: int, replicas: int, traffic_routing: bool) -> int:
    """Pods the canary runs at `weight`: never fewer than one, so it can be measured.

    With a traffic router the weight is exact and pods only need to carry their share; without one
    the pod ratio *is* the split, so the replica router's rule decides.
    """
    if traffic_routing:
        needed = math.ceil(replicas * weight / 100)
    else:
        needed = canary_pods_for_weight(weight, replicas)
    return max(1, needed)


def _step(step: CanaryStep, replicas: int, traffic_routing: bool) -> PlanStep:
    if step.set_weight is not None:
        pods = canary_replicas(step.set_weight, replicas, traffic_routing)
        return Shift(canary_weight=step.set_weight, canary_replicas=pods, stable_replicas=replicas)
    if step.pause is not None:
        return Hold(None if step.pause.duration is None else parse_duration(step.pause.duration))
    assert step.analysis is not None  # the model guarantees exactly one kind
    metrics = None if step.analysis.metrics is None else tuple(step.analysis.metrics)
    return Gate(successes=step.analysis.successful_measurements, metrics=metrics)


def plan(strategy: CanaryStrategy, replicas: int, traffic_routing: bool) -> Plan:
    return Plan(steps=tuple(_step(step, replicas, traffic_routing) for step in strategy.steps))

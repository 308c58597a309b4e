"""Canary: the user's steps, one for one (so status.currentStep indexes spec.strategy.canary.steps)."""

from __future__ import annotations

import math

from slipway.api.durations import parse_duration
from slipway.api.models import CanaryRoute, CanaryStep, CanaryStrategy
from slipway.core.strategies.plan import Gate, Hold, Plan, PlanStep, Reroute, Shift


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


def _reroute(step: CanaryStep, before: Reroute) -> Reroute:
    """The match routes and mirror after a setCanaryRoute, removeCanaryRoute or setMirror step."""
    routes, mirror = before.routes, before.mirror_percent
    if step.set_canary_route is not None:
        added = step.set_canary_route
        routes = (*(route for route in routes if route.name != added.name), added)
        return Reroute(routes, mirror, f"route {added.name} to the canary ({describe_match(added)})")
    if step.remove_canary_route is not None:
        name = step.remove_canary_route.name
        return Reroute(tuple(r for r in routes if r.name != name), mirror, f"remove route {name}")
    assert step.set_mirror is not None
    percent = step.set_mirror.percent
    label = f"mirror {percent}% of requests to the canary" if percent else "stop mirroring"
    return Reroute(routes, percent, label)


def describe_match(route: CanaryRoute) -> str:
    """What a match route matches, e.g. `x-canary: true, cookie beta ~ ^y` (`~` before a regex)."""
    match = route.match
    conditions = [(name, value) for name, value in match.headers.items()]
    if match.cookie is not None:
        conditions.append((f"cookie {match.cookie.name}", match.cookie.value))
    return ", ".join(
        f"{name}: {value.exact}" if value.exact is not None else f"{name} ~ {value.regex}"
        for name, value in conditions
    )


def _step(step: CanaryStep, replicas: int, traffic_routing: bool) -> PlanStep:
    if step.set_weight is not None:
        pods = canary_replicas(step.set_weight, replicas, traffic_routing)
        return Shift(canary_weight=step.set_weight, canary_replicas=pods, stable_replicas=replicas)
    if step.pause is not None:
        return Hold(None if step.pause.duration is None else parse_duration(step.pause.duration))
    assert step.analysis is not None  # the model guarantees exactly one kind; plan() takes the routing ones
    metrics = None if step.analysis.metrics is None else tuple(step.analysis.metrics)
    return Gate(successes=step.analysis.successful_measurements, metrics=metrics)


def plan(strategy: CanaryStrategy, replicas: int, traffic_routing: bool) -> Plan:
    steps: list[PlanStep] = []
    routing = Reroute()
    for step in strategy.steps:
        if step.set_canary_route or step.remove_canary_route or step.set_mirror:
            routing = _reroute(step, routing)
            steps.append(routing)
        else:
            steps.append(_step(step, replicas, traffic_routing))
    return Plan(steps=tuple(steps))

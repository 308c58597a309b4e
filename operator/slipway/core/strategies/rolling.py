"""Rolling: replace pods batch by batch within maxSurge and maxUnavailable, as a Deployment does.

Kubernetes' two bounds hold throughout: at most `replicas + maxSurge` pods are asked for, and at least
`replicas - maxUnavailable` stay ready (maxSurge rounds up, maxUnavailable down; when both come to 0,
maxUnavailable is 1, as in Kubernetes). Each batch replaces maxSurge + maxUnavailable pods: first up to
maxUnavailable old pods go, then the new pods come, traffic follows the pod ratio once they are ready,
and the rest of the batch's old pods go. So maxSurge 0 removes before it adds, and maxUnavailable 0
adds before it removes. With spec.analysis each batch waits for one good measurement of every metric.

One exception, for SPEC invariant 3: the last old pod is never removed before a new pod is ready, since
it still serves all traffic; with 1 replica and maxSurge 0 the roll briefly runs 2 pods.
"""

from __future__ import annotations

import math

from slipway.api.models import RollingStrategy
from slipway.core.strategies.plan import Gate, Plan, PlanStep, Shift


def _resolve(value: int | str, replicas: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    share = replicas * int(value.rstrip("%")) / 100
    return math.ceil(share) if round_up else math.floor(share)


def pod_bounds(strategy: RollingStrategy, replicas: int) -> tuple[int, int]:
    """(surge, unavailable) in pods for `replicas`, resolved as Kubernetes resolves them."""
    surge = _resolve(strategy.max_surge, replicas, round_up=True)
    unavailable = _resolve(strategy.max_unavailable, replicas, round_up=False)
    return surge, unavailable if surge or unavailable else 1


def _pod_ratio(new: int, old: int) -> int:
    """The new revision's share of traffic, in percent, when it runs `new` of `new + old` pods."""
    return round(100 * new / (new + old))


def plan(strategy: RollingStrategy, replicas: int, analysed: bool) -> Plan:
    surge, unavailable = pod_bounds(strategy, replicas)
    steps: list[PlanStep] = []
    new = 0
    while new < replicas:
        old = replicas - new
        batch = min(surge + unavailable, old)
        removed_first = min(unavailable, batch, old if new else old - 1)
        if removed_first:
            steps.append(
                Shift(
                    _pod_ratio(new, old - removed_first),
                    canary_replicas=new,
                    stable_replicas=old - removed_first,
                    label=f"remove {removed_first} old pod(s) first (maxUnavailable): "
                    f"{new} new, {old - removed_first} old",
                )
            )
        new += batch
        steps.append(
            Shift(_pod_ratio(new, replicas - new), canary_replicas=new, stable_replicas=replicas - new)
        )
        if analysed:
            steps.append(Gate(successes=1, metrics=None))
    return Plan(steps=tuple(steps))

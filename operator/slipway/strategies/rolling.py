"""Rolling: replace pods batch by batch; traffic follows the pod ratio, checked by analysis throughout.

Each batch adds new pods first and removes old ones only once the new ones are ready and routed to,
so capacity never drops below `replicas`. With spec.analysis, each batch waits for one good measurement
of every metric before the next one starts. The batch is maxSurge (rounded up, as Kubernetes does); with
maxSurge 0 it is maxUnavailable (rounded down, at least 1), still added before old pods go: Slipway
prefers one extra pod per batch to serving with fewer pods than asked for.
"""

from __future__ import annotations

import math

from slipway.api.models import RollingStrategy
from slipway.strategies.plan import Gate, Plan, PlanStep, Shift


def _resolve(value: int | str, replicas: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    share = replicas * int(value.rstrip("%")) / 100
    return math.ceil(share) if round_up else math.floor(share)


def batch_size(strategy: RollingStrategy, replicas: int) -> int:
    surge = _resolve(strategy.max_surge, replicas, round_up=True)
    if surge > 0:
        return surge
    return max(1, _resolve(strategy.max_unavailable, replicas, round_up=False))


def plan(strategy: RollingStrategy, replicas: int, analysed: bool) -> Plan:
    batch = batch_size(strategy, replicas)
    steps: list[PlanStep] = []
    for new in [*range(batch, replicas, batch), replicas]:
        steps.append(Shift(round(100 * new / replicas), canary_replicas=new, stable_replicas=replicas - new))
        if analysed:
            steps.append(Gate(successes=1, metrics=None))
    return Plan(steps=tuple(steps))

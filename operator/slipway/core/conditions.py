"""kstatus conditions from the phase: what `kubectl wait` and Flux read (Argo CD reads the phase,
through the health check in gitops/argocd/).

Ready is True only when the desired version serves all traffic (Healthy). Reconciling is True while the
operator is moving toward it (Progressing, RollingBack, Paused). Stalled is True when a person must act
(Degraded). Paused mirrors the Paused phase. Each carries the observed generation; the transition time
moves only when the condition's status does.
"""

from __future__ import annotations

from datetime import datetime

from slipway.api.status import Condition, ConditionStatus, ConditionType, Phase

_TRUE_IN: dict[ConditionType, frozenset[Phase]] = {
    "Ready": frozenset({"Healthy"}),
    "Reconciling": frozenset({"Progressing", "RollingBack", "Paused"}),
    "Stalled": frozenset({"Degraded"}),
    "Paused": frozenset({"Paused"}),
}


def conditions(
    phase: Phase, reason: str, message: str, generation: int, previous: list[Condition], now: datetime
) -> list[Condition]:
    """The four conditions for `phase`, keeping each one's lastTransitionTime while its status holds."""
    before = {condition.type: condition for condition in previous}
    result = []
    for kind, phases in _TRUE_IN.items():
        status: ConditionStatus = "True" if phase in phases else "False"
        old = before.get(kind)
        since = old.last_transition_time if old is not None and old.status == status else now
        result.append(
            Condition(
                type=kind,
                status=status,
                reason=reason if status == "True" or kind == "Ready" else phase,
                message=message,
                observed_generation=generation,
                last_transition_time=since,
            )
        )
    return result

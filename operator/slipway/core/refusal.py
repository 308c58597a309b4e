"""A Release the operator will not carry out: its status says why, and nothing is created for it.

The shell finds the obstacles (`Observations.obstacles`): a spec the models reject, and a spec this
operator cannot carry out with its config. Any obstacle refuses the generation: the Release becomes
Degraded with Stalled=True, the first obstacle's reason and a message naming each field at fault;
whatever already runs for it is left as it is (no cluster action), and a Warning Event tells it once.
A new generation without obstacles leaves Degraded through the state machine, like any Degraded release.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slipway.api.status import ReleaseStatus
from slipway.core.actions import EmitEvent
from slipway.core.conditions import conditions
from slipway.core.obstacles import Obstacle


def refuse(
    previous: ReleaseStatus | None, generation: int, obstacles: Sequence[Obstacle], now: datetime
) -> tuple[ReleaseStatus, tuple[EmitEvent, ...]]:
    """`previous` (the revisions, history and timers kept) turned Degraded for `generation`, which the
    operator refuses because of `obstacles` (at least one); a Warning Event unless `previous` already
    said so."""
    if not obstacles:
        raise ValueError("a refusal needs at least one obstacle to say why")
    status = previous.model_copy(deep=True) if previous is not None else ReleaseStatus()
    reason = obstacles[0].reason
    message = f"cannot carry out generation {generation}: " + "; ".join(str(o) for o in obstacles)
    status.observed_generation = generation
    status.phase, status.reason, status.message = "Degraded", reason, message
    status.paused_at = None
    status.conditions = conditions("Degraded", reason, message, generation, status.conditions, now)
    told = previous is not None and (
        previous.phase,
        previous.reason,
        previous.message,
        previous.observed_generation,
    ) == ("Degraded", reason, message, generation)
    return status, () if told else (EmitEvent("Warning", reason, message),)

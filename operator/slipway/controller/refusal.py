"""A Release the operator will not carry out: its status says why, and nothing is created for it.

Two kinds of spec are refused before any write: one the models reject (the API server's schema lets
through what only the models check) and one this operator cannot carry out with its config (see
`slipway.plugins.readiness`). The Release becomes Degraded with Stalled=True, the reason and a message
naming each field at fault; whatever already runs for it is left as it is. A new generation that fixes
the spec leaves Degraded through the state machine, like any other Degraded release.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from pydantic import ValidationError

from slipway.api.status import ReleaseStatus
from slipway.api.validation import problems_from
from slipway.core.conditions import conditions
from slipway.core.obstacles import Obstacle

INVALID_SPEC: Final = "InvalidSpec"


def invalid_spec(invalid: ValidationError) -> tuple[Obstacle, ...]:
    """The models' complaints about a Release's spec, each naming its field from `spec` down."""
    return tuple(
        Obstacle(INVALID_SPEC, f"spec.{problem.field}" if problem.field else "spec", problem.message)
        for problem in problems_from(invalid)
    )


def refused_status(
    previous: ReleaseStatus | None, generation: int, obstacles: Sequence[Obstacle], now: datetime
) -> ReleaseStatus:
    """`previous` (the revisions, history and timers kept) turned Degraded for `generation`, which
    the operator refuses because of `obstacles` (at least one)."""
    status = previous.model_copy(deep=True) if previous is not None else ReleaseStatus()
    reason = obstacles[0].reason
    message = f"cannot carry out generation {generation}: " + "; ".join(str(o) for o in obstacles)
    status.observed_generation = generation
    status.phase, status.reason, status.message = "Degraded", reason, message
    status.paused_at = None
    status.conditions = conditions("Degraded", reason, message, generation, status.conditions, now)
    return status


def newly_refused(previous: ReleaseStatus | None, refused: ReleaseStatus) -> bool:
    """Whether `refused` tells something `previous` did not (worth a Warning Event)."""
    if previous is None:
        return True
    before = (previous.phase, previous.reason, previous.message, previous.observed_generation)
    return before != (refused.phase, refused.reason, refused.message, refused.observed_generation)

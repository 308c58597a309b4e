"""Whether a manual action would change anything, asked by the state machine before it carries one out
and by `kubectl slipway` before it sends one, so that both say the same "no effect" for the same status.

A result the operator records in status.manualActions starts with NO_EFFECT exactly when the action
changed nothing; every other result is an effect.
"""

from __future__ import annotations

from typing import Final

from slipway.api.annotations import ABORT, GATE_ACTIONS, PAUSE, PROMOTE, PROMOTE_FULL, RESUME, RETRY
from slipway.api.models import ReleaseSpec
from slipway.api.status import NO_EFFECT, ReleaseStatus
from slipway.core import promotion
from slipway.core.revision import revision_hash
from slipway.core.strategies import plan_for

_NO_ROLLOUT: Final = "no rollout in progress"


def in_flight(status: ReleaseStatus) -> bool:
    """A rollout is under way: a canary (or preview, or new pods) and the phase that moves it."""
    return status.canary is not None and status.phase in ("Progressing", "Paused")


def no_effect(key: str, value: str, spec: ReleaseSpec | None, status: ReleaseStatus | None) -> str | None:
    """Why the manual action `key`=`value` would change nothing now (None: it would act).

    `status` None is a Release the operator has not written a status for yet."""
    current = status or ReleaseStatus()
    if key in GATE_ACTIONS:
        return promotion.no_effect(current, spec.promotion if spec else None, key, value)
    if key in (ABORT, PROMOTE, PROMOTE_FULL):
        if not in_flight(current):
            return _NO_ROLLOUT
        if key == PROMOTE and _promoting(current, spec):
            return "the promotion is under way (promote-full does not wait for measurements)"
        return None
    if key == PAUSE:
        if not in_flight(current):
            return _NO_ROLLOUT
        return "already paused" if current.phase == "Paused" else None
    if key == RESUME:
        return None if current.phase == "Paused" else "not paused"
    if key == RETRY:
        return None if current.phase == "Degraded" else "the release is not Degraded"
    raise ValueError(f"{key!r} is not a manual action")


def _promoting(status: ReleaseStatus, spec: ReleaseSpec | None) -> bool:
    """Progressing past the last step of the spec's own rollout: no step is left for promote to move
    past. Not so while a newer spec waits to be taken up (its plan is another) or traffic returns to
    stable (a new attempt starts from its first step)."""
    step, canary = status.current_step, status.canary
    if spec is None or canary is None or step is None:
        return False
    if (status.phase, status.reason) != ("Progressing", "Progressing"):  # e.g. ReturningToStable
        return False
    return canary.revision == revision_hash(spec.template, spec.version) and step >= len(plan_for(spec).steps)


def changed_nothing(result: str) -> bool:
    """Whether a recorded result (status.manualActions[].result) says the action changed nothing."""
    return result.startswith(NO_EFFECT)

"""Annotation keys for manual actions (SPEC section 4).

A person sets one with plain `kubectl annotate`; the operator carries it out once and acknowledges it
in status. Annotations, not spec fields, so that manual actions never cause GitOps drift.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "slipway.dev/"

PROMOTE: Final = "slipway.dev/promote"
PROMOTE_FULL: Final = "slipway.dev/promote-full"
PAUSE: Final = "slipway.dev/pause"
RESUME: Final = "slipway.dev/resume"
ABORT: Final = "slipway.dev/abort"
RETRY: Final = "slipway.dev/retry"

MANUAL_ACTIONS: Final[tuple[str, ...]] = (PROMOTE, PROMOTE_FULL, PAUSE, RESUME, ABORT, RETRY)

# The promotion gate's (spec.promotion): the value is "<version>", optionally followed by
# " by <who>" and " at <time>", so that approving a version again after unapproving it is a new value.
APPROVE: Final = "slipway.dev/approve"
UNAPPROVE: Final = "slipway.dev/unapprove"
SKIP_GATE: Final = "slipway.dev/skip-gate"

GATE_ACTIONS: Final[tuple[str, ...]] = (APPROVE, UNAPPROVE, SKIP_GATE)

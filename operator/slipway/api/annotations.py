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

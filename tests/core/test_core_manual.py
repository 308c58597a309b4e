"""core.manual.no_effect: whether a manual action would change anything, the one answer the state
machine and `kubectl slipway` share."""

from __future__ import annotations

import pytest
from core_support import T0, release_spec

from slipway.api import annotations as keys
from slipway.api.status import Approval, PromotionStatus, ReleaseStatus, RevisionStatus
from slipway.core.manual import no_effect

CANARY = RevisionStatus(revision="b", version="2")
STABLE = RevisionStatus(revision="a", version="1", weight=100)


@pytest.mark.parametrize(
    ("key", "status", "why"),
    [
        (keys.PROMOTE, ReleaseStatus(phase="Healthy", stable=STABLE), "no rollout in progress"),
        (keys.PROMOTE, ReleaseStatus(phase="Paused", stable=STABLE, canary=CANARY), None),
        (keys.PROMOTE_FULL, ReleaseStatus(phase="Progressing", stable=STABLE, canary=CANARY), None),
        (keys.ABORT, ReleaseStatus(phase="Degraded", stable=STABLE, canary=CANARY), "no rollout in progress"),
        (keys.PAUSE, ReleaseStatus(phase="Paused", stable=STABLE, canary=CANARY), "already paused"),
        (keys.PAUSE, ReleaseStatus(phase="Progressing", stable=STABLE, canary=CANARY), None),
        (keys.RESUME, ReleaseStatus(phase="Progressing", stable=STABLE, canary=CANARY), "not paused"),
        (keys.RETRY, ReleaseStatus(phase="Healthy", stable=STABLE), "the release is not Degraded"),
        (keys.RETRY, ReleaseStatus(phase="Degraded", stable=STABLE, canary=CANARY), None),
        (keys.PROMOTE, None, "no rollout in progress"),  # no status yet
    ],
)
def test_manual_actions(key: str, status: ReleaseStatus | None, why: str | None) -> None:
    assert no_effect(key, "2026-11-27T15:04:05.000000Z", release_spec("2"), status) == why


def test_gate_actions_follow_the_promotion_status() -> None:
    spec = release_spec("2").model_copy(update={"promotion": None})
    assert no_effect(keys.APPROVE, "2 by ann", spec, None) == "spec.promotion is not set"
    gated = release_spec("2", promotion={"from": {"namespace": "staging"}, "approval": "manual"})
    approved = ReleaseStatus(promotion=PromotionStatus(approvals=[Approval(version="2", by="ann", at=T0)]))
    assert no_effect(keys.APPROVE, "2 by bob", gated, approved) == "2 already approved by ann"
    assert no_effect(keys.APPROVE, "3 by bob", gated, approved) is None
    assert no_effect(keys.UNAPPROVE, "3 by bob", gated, approved) == "3 is not approved"
    assert no_effect(keys.SKIP_GATE, "2 by bob", gated, approved) is None

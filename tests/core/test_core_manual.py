"""core.manual.no_effect: whether a manual action would change anything, the one answer the state
machine and `kubectl slipway` share."""

from __future__ import annotations

import pytest
from core_support import T0, release_spec

from slipway.api import annotations as keys
from slipway.api.status import Approval, PromotionStatus, ReleaseStatus, RevisionStatus
from slipway.core.manual import no_effect
from slipway.core.revision import revision_hash

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


def test_promote_has_no_effect_once_the_promotion_of_the_specs_own_rollout_is_under_way() -> None:
    spec = release_spec("2", strategy={"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}})
    own = RevisionStatus(revision=revision_hash(spec.template, spec.version), version="2")
    promoting = ReleaseStatus(
        phase="Progressing", reason="Progressing", stable=STABLE, canary=own, current_step=2
    )
    assert no_effect(keys.PROMOTE, "1", spec, promoting) == (
        "the promotion is under way (promote-full does not wait for measurements)"
    )
    assert no_effect(keys.PROMOTE_FULL, "1", spec, promoting) is None
    # A newer spec not yet taken up (its own plan), or traffic going back to stable: promote acts.
    older = promoting.model_copy(update={"canary": CANARY})
    assert no_effect(keys.PROMOTE, "1", spec, older) is None
    returning = promoting.model_copy(update={"reason": "ReturningToStable"})
    assert no_effect(keys.PROMOTE, "1", spec, returning) is None
    at_a_step = promoting.model_copy(update={"current_step": 1})
    assert no_effect(keys.PROMOTE, "1", spec, at_a_step) is None

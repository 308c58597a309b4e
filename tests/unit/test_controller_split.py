"""How the reconciler reads the core's weights and status as a split between stable and canary."""

from __future__ import annotations

from slipway.api.status import ReleaseStatus, RevisionStatus
from slipway.controller.reconciler import split_for, standing_split
from slipway.routers.base import TrafficSplit


def status(stable: str | None, canary: str | None = None, weight: int = 0) -> ReleaseStatus:
    return ReleaseStatus(
        stable=RevisionStatus(revision=stable, version="1", weight=100 - weight) if stable else None,
        canary=RevisionStatus(revision=canary, version="2", weight=weight) if canary else None,
    )


def test_weights_split_between_the_status_revisions() -> None:
    assert split_for({"aaa": 75, "bbb": 25}, status("aaa", "bbb", 25)) == TrafficSplit("aaa", "bbb", 25)
    assert split_for({"aaa": 0, "bbb": 100}, status("aaa", "bbb", 100)) == TrafficSplit("aaa", "bbb", 100)


def test_all_on_stable_keeps_the_canary_reachable_for_previews() -> None:
    # A rollback (or a blue-green preview): everything on stable, the canary Service still selects it.
    assert split_for({"aaa": 100}, status("aaa", "bbb", 0)) == TrafficSplit("aaa", "bbb", 0)


def test_one_revision_alone() -> None:
    assert split_for({"aaa": 100}, status("aaa")) == TrafficSplit("aaa", None, 0)


def test_standing_split_mirrors_status() -> None:
    assert standing_split(status(None)) is None
    assert standing_split(status("aaa")) == TrafficSplit("aaa", None, 0)
    assert standing_split(status("aaa", "bbb", 25)) == TrafficSplit("aaa", "bbb", 25)
    assert standing_split(status("aaa", "aaa", 0)) == TrafficSplit("aaa", None, 0)

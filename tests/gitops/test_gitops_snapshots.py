"""The captured snapshots are what the current operator writes: if the status model or the conditions
change, these fail until `tests/gitops/capture_snapshots.py` captures them again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from gitops_support import snapshots

from slipway.api.status import ReleaseStatus
from slipway.api.validation import parse_release
from slipway.core.conditions import conditions

NAMES = sorted(snapshots())


@pytest.mark.parametrize("name", NAMES)
def test_each_status_reads_and_writes_back_unchanged(name: str) -> None:
    """Every field is one the model knows, of the type it has: a renamed or dropped field would be lost."""
    status = snapshots()[name].get("status")
    if status is None:
        assert name == "progressing_noStatus"
        return
    parsed = ReleaseStatus.from_api(status)
    assert parsed is not None
    assert parsed.to_api() == status


@pytest.mark.parametrize("name", NAMES)
def test_each_spec_is_one_the_models_accept(name: str) -> None:
    parse_release(snapshots()[name])


@pytest.mark.parametrize("name", [name for name in NAMES if snapshots()[name].get("status")])
def test_the_conditions_are_the_ones_the_core_gives_the_phase(name: str) -> None:
    status = ReleaseStatus.from_api(snapshots()[name]["status"])
    assert status is not None and status.observed_generation is not None
    expected = conditions(
        status.phase,
        status.reason,
        status.message,
        status.observed_generation,
        status.conditions,
        datetime.now(UTC),
    )
    assert status.conditions == expected

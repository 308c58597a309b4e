"""User story 7 of issue 4: manual actions by plain `kubectl annotate`, each carried out exactly once."""

from __future__ import annotations

from e2e_support import E2E, Cluster, Operator
from stories import manual_actions

pytestmark = E2E


def test_promote_pause_resume_promote_full_abort_and_retry(cluster: Cluster, operator: Operator) -> None:
    manual_actions(cluster)

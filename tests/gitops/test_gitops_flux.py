"""The captured snapshots judged by kstatus' generic rules, as Flux's kustomize-controller judges a
Release for `wait: true` or `healthChecks`, next to Argo CD's verdict; docs/gitops.md shows the table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest
from gitops_support import ROOT, argocd_health, kstatus, snapshots

from slipway.api.status import Phase
from slipway.core.conditions import conditions

# snapshot -> (what it is, Argo CD with the health check, kstatus / Flux)
VERDICTS = {
    "progressing_noStatus": ("applied, no status yet", "Progressing", "Current"),
    "progressing_generationNotObserved": ("new spec, not yet observed", "Progressing", "InProgress"),
    "progressing_firstRelease": ("Progressing `FirstRelease`", "Progressing", "InProgress"),
    "healthy_firstRelease": ("Healthy `Ready`", "Healthy", "Current"),
    "progressing_setWeight": ("Progressing (a weight step)", "Progressing", "InProgress"),
    "progressing_timedPause": ("Progressing (a timed pause)", "Progressing", "InProgress"),
    "suspended_manualPause": ("Paused `ManualPause`", "Suspended", "InProgress"),
    "suspended_waitingForPromote": ("Paused `WaitingForPromote`", "Suspended", "InProgress"),
    "progressing_providerErrors": ("Paused `ProviderErrors`", "Progressing", "InProgress"),
    "healthy_promoted": ("Healthy `Promoted`", "Healthy", "Current"),
    "degraded_rolledBack": ("Degraded `AnalysisFailed` (rolled back)", "Degraded", "Failed"),
    "degraded_refused": ("Degraded `HostNotAllowed` (spec refused)", "Degraded", "Failed"),
}


def test_the_table_names_every_snapshot() -> None:
    assert sorted(VERDICTS) == sorted(snapshots())


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_each_phase_as_argo_cd_and_kstatus_judge_it(name: str) -> None:
    obj = snapshots()[name]
    _, argocd, flux = VERDICTS[name]
    assert argocd_health(obj)[0] == argocd
    assert kstatus(obj)[0] == flux


def test_kstatus_reports_the_operator_s_message() -> None:
    """Reconciling and Stalled carry the status message, so Flux's health-check error names the cause."""
    for name in ("degraded_rolledBack", "suspended_waitingForPromote"):
        obj = snapshots()[name]
        assert kstatus(obj)[1] == obj["status"]["message"]


def test_kstatus_sees_a_new_generation_before_the_stale_conditions() -> None:
    obj = snapshots()["progressing_generationNotObserved"]
    assert obj["status"]["phase"] == "Degraded", "the status still speaks of the refused generation"
    assert kstatus(obj) == ("InProgress", "Release generation is 5, but latest observed generation is 4")


def test_every_kstatus_gives_the_same_verdicts() -> None:
    """The operator writes Reconciling or Stalled whenever Ready is not True, so kstatus' Ready fallback
    (in the version Flux vendors, not in older upstream ones) never decides: every tool that embeds
    either version shows the table above."""
    for name, obj in snapshots().items():
        assert kstatus(obj, ready_fallback=False)[0] == kstatus(obj)[0], name
    for phase in get_args(Phase):
        written = conditions(phase, "Reason", "message", 1, [], datetime(2025, 1, 1, tzinfo=UTC))
        true = {condition.type for condition in written if condition.status == "True"}
        assert true & {"Ready", "Reconciling", "Stalled"}, phase


def test_a_brand_new_release_is_current_until_its_first_status() -> None:
    """kstatus reads no observedGeneration and no condition on a Release the operator has not yet
    seen: Current (docs/gitops.md says so). The operator's first status write, with observedGeneration
    and Reconciling=True, turns it InProgress."""
    new, first = snapshots()["progressing_noStatus"], snapshots()["progressing_firstRelease"]
    assert "status" not in new and new["metadata"]["generation"] == 1
    assert kstatus(new) == kstatus(new, ready_fallback=False) == ("Current", "Resource is current")
    assert first["status"]["observedGeneration"] == first["metadata"]["generation"] == 1
    assert kstatus(first)[0] == "InProgress"


def test_docs_show_the_same_table() -> None:
    docs = (ROOT / "docs" / "gitops.md").read_text()
    for what, argocd, flux in VERDICTS.values():
        assert f"| {what} | {argocd} | {flux} |" in docs, what

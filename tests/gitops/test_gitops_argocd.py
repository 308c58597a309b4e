"""Argo CD's health check for slipway.dev/Release, run by a real Lua 5.1 interpreter as Argo CD runs it,
on the cases of its health_test.yaml (the file Argo CD's own test runner reads) and the snapshots
captured from real runs."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml
from gitops_support import HEALTH_LUA, HEALTH_TEST, RELEASE_CHECK, argocd_health, load_object, snapshots
from lupa.lua51 import LuaError

from slipway.core.machine import ALERTS_UNKNOWN
from slipway.core.promotion import GATE_REASONS, WAITING_FOR_APPROVAL

CASES: list[dict[str, Any]] = yaml.safe_load(HEALTH_TEST.read_text())["tests"]


@pytest.mark.parametrize("case", CASES, ids=[case["inputPath"] for case in CASES])
def test_each_case_of_health_test_yaml(case: dict[str, Any]) -> None:
    obj = load_object(RELEASE_CHECK / case["inputPath"])
    expected = case["healthStatus"]
    assert argocd_health(obj) == (expected["status"], expected["message"])


def test_health_test_yaml_has_a_case_for_every_snapshot_named_after_its_verdict() -> None:
    """Argo CD's convention: testdata/<verdict>_<what>.yaml, one case each, the message the status's."""
    listed = {case["inputPath"]: case["healthStatus"] for case in CASES}
    assert sorted(listed) == sorted(f"testdata/{name}.yaml" for name in snapshots())
    assert len(listed) == len(CASES), "a snapshot listed twice"
    for path, expected in listed.items():
        assert set(expected) == {"status", "message"}
        assert path.removeprefix("testdata/").split("_")[0] == expected["status"].lower(), path


def test_the_verdicts_cover_every_kind_of_phase() -> None:
    verdicts = {argocd_health(obj)[0] for obj in snapshots().values()}
    assert verdicts == {"Healthy", "Progressing", "Suspended", "Degraded"}
    phases = {(obj.get("status") or {}).get("phase") for obj in snapshots().values()}
    assert {"Healthy", "Progressing", "Paused", "Degraded", None} <= phases


def test_the_message_is_the_status_message_once_the_operator_has_seen_the_spec() -> None:
    for name, obj in snapshots().items():
        status = obj.get("status") or {}
        if status.get("observedGeneration") == obj["metadata"]["generation"]:
            assert argocd_health(obj)[1] == status["message"], name


def test_a_status_of_an_older_generation_waits_for_the_operator_whatever_its_phase() -> None:
    for obj in snapshots().values():
        if not obj.get("status"):
            continue
        lagging = copy.deepcopy(obj)
        lagging["metadata"]["generation"] = obj["status"]["observedGeneration"] + 1
        status, message = argocd_health(lagging)
        assert status == "Progressing"
        assert message.startswith("Waiting for the operator to act on generation ")


def test_an_empty_message_shows_the_phase_and_reason() -> None:
    obj = copy.deepcopy(snapshots()["suspended_manualPause"])
    obj["status"]["message"] = ""
    assert argocd_health(obj) == ("Suspended", "Paused: ManualPause")


@pytest.mark.parametrize(
    ("stalled", "ready", "verdict"),
    [("True", "False", "Degraded"), ("False", "True", "Healthy"), ("False", "False", "Progressing")],
)
def test_a_phase_the_check_does_not_know_falls_back_on_the_kstatus_conditions(
    stalled: str, ready: str, verdict: str
) -> None:
    obj = copy.deepcopy(snapshots()["healthy_promoted"])
    obj["status"]["phase"] = "SomethingNew"
    for condition in obj["status"]["conditions"]:
        condition["status"] = {"Stalled": stalled, "Ready": ready}.get(condition["type"], "False")
    assert argocd_health(obj)[0] == verdict


def test_the_pauses_that_end_by_themselves_are_the_core_s() -> None:
    """A Paused release that waits for a provider, not a person, is Progressing: the Lua table names
    the reasons the core resumes from without a person (docs/state-machine.md, Analysis)."""
    table = re.search(r"RESUMES_BY_ITSELF = \{(.*?)\}", HEALTH_LUA.read_text(), re.S)
    assert table is not None
    gate_by_itself = GATE_REASONS - {WAITING_FOR_APPROVAL}
    assert (
        set(re.findall(r"(\w+) = true", table.group(1)))
        == {"ProviderErrors", ALERTS_UNKNOWN} | gate_by_itself
    )
    paused = load_object(RELEASE_CHECK / "testdata" / "progressing_providerErrors.yaml")
    assert (paused["status"]["phase"], paused["status"]["reason"]) == ("Paused", "ProviderErrors")


@pytest.mark.parametrize("reason", sorted(GATE_REASONS))
def test_a_wait_at_the_promotion_gate_is_suspended_only_for_a_person(reason: str) -> None:
    obj = copy.deepcopy(snapshots()["suspended_manualPause"])
    obj["status"]["reason"] = reason
    expected = "Suspended" if reason == WAITING_FOR_APPROVAL else "Progressing"
    assert argocd_health(obj)[0] == expected


def test_the_harness_runs_without_the_string_library_as_argo_cd_does() -> None:
    """Argo CD opens only base, table, package and a safe os: a check that calls string functions
    works in Argo CD's test runner (all libraries) and fails in production. The harness fails it too."""
    with pytest.raises(LuaError):
        argocd_health({}, 'return {status = string.upper("healthy")}')
    with pytest.raises(LuaError):
        argocd_health({}, 'local s = "Healthy"; return {status = s:sub(1)}')
    assert argocd_health({}, 'return {status = "Fine"}') == ("Unknown", "The health status is invalid")

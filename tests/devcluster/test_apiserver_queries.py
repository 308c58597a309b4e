"""JSONPath, selectors and ages as the server evaluates them for printer columns, lists and watches."""

from __future__ import annotations

from typing import Any

import pytest

from slipway_dev.apiserver.errors import ApiError
from slipway_dev.apiserver.jsonpath import JsonPathError, evaluate
from slipway_dev.apiserver.selectors import labels_match, parse_field_selector, parse_label_selector
from slipway_dev.apiserver.tables import PodSummary, human_duration, pod_summary

RELEASE = {
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/name": "web", "tier": "front"},
    },
    "status": {
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Stalled", "status": "False"}],
        "replicas": [{"n": 1}, {"n": 5}],
    },
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (".metadata.name", ["web"]),
        ("{.metadata.name}", ["web"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type=='Stalled')].status", ["False"]),
        (".status.conditions[*].type", ["Ready", "Stalled"]),
        (".status.conditions[1].type", ["Stalled"]),
        (".status.conditions[-1].type", ["Stalled"]),
        (".status.replicas[?(@.n > 2)].n", [5]),
        (".status.conditions[?(@.reason)].type", []),
        (r".metadata.labels.app\.kubernetes\.io/name", ["web"]),
        (".metadata.labels['app.kubernetes.io/name']", ["web"]),
        (".spec.missing", []),
    ],
)
def test_jsonpath(expression: str, expected: list[object]) -> None:
    assert evaluate(RELEASE, expression) == expected


@pytest.mark.parametrize("expression", [".a[?(@.b ~ 1)]", ".a[", ".a[x]"])
def test_bad_jsonpath(expression: str) -> None:
    with pytest.raises(JsonPathError):
        evaluate(RELEASE, expression)


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("tier=front", True),
        ("tier==front,app.kubernetes.io/name=web", True),
        ("tier!=front", False),
        ("tier!=back", True),
        ("missing!=x", True),
        ("tier in (front, back)", True),
        ("tier notin (front)", False),
        ("tier", True),
        ("!tier", False),
        ("!missing,tier in (front)", True),
        ("", True),
    ],
)
def test_label_selectors(selector: str, matches: bool) -> None:
    assert labels_match(parse_label_selector(selector), RELEASE) is matches


@pytest.mark.parametrize("selector", ["tier in (front", "tier=a b", "!tier in (x)", "a=b=c"])
def test_bad_label_selectors(selector: str) -> None:
    with pytest.raises(ApiError):
        parse_label_selector(selector)


def test_field_selectors() -> None:
    assert parse_field_selector("metadata.name=web,metadata.namespace=shop")(RELEASE)
    assert not parse_field_selector("metadata.namespace!=shop")(RELEASE)
    assert parse_field_selector("metadata.namespace=")({"metadata": {"name": "cluster-scoped"}})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-0.5, "0s"),
        (59, "59s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 300, "3h5m"),
        (10 * 3600, "10h"),
        (3 * 86400 + 3600, "3d1h"),
        (30 * 86400, "30d"),
        (3 * 365 * 86400 + 86400, "3y1d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_ages_read_like_kubectl(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def pod(phase: str, *containers: dict[str, Any], deleted: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "p"}
    if deleted:
        metadata["deletionTimestamp"] = "2027-01-15T07:59:00Z"
    return {
        "metadata": metadata,
        "spec": {"containers": [{"name": f"c{i}"} for i in range(len(containers))]},
        "status": {"phase": phase, "containerStatuses": list(containers)},
    }


RUNNING = {"ready": True, "restartCount": 0, "state": {"running": {}}}
STARTING = {"ready": False, "restartCount": 0, "state": {"running": {}}}
CRASHING = {
    "ready": False,
    "restartCount": 3,
    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2027-01-15T07:59:15Z"}},
}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (pod("Pending"), PodSummary("0/0", "Pending", "0")),
        (
            pod("Pending", {"state": {"waiting": {"reason": "ContainerCreating"}}}),
            PodSummary("0/1", "ContainerCreating", "0"),
        ),
        (pod("Running", RUNNING, STARTING), PodSummary("1/2", "Running", "0")),
        (pod("Running", CRASHING), PodSummary("0/1", "CrashLoopBackOff", "3 (45s ago)")),
        # a finished Job pod prints its container's reason, as kubectl on a real cluster does
        (
            pod("Succeeded", {"state": {"terminated": {"reason": "Completed"}}}),
            PodSummary("0/1", "Completed", "0"),
        ),
        (
            pod("Failed", {"state": {"terminated": {"reason": "Error", "exitCode": 3}}}),
            PodSummary("0/1", "Error", "0"),
        ),
        (pod("Failed", {"state": {"terminated": {"exitCode": 3}}}), PodSummary("0/1", "ExitCode:3", "0")),
        (pod("Failed", {"state": {"terminated": {"signal": 9}}}), PodSummary("0/1", "Signal:9", "0")),
        (pod("Running", RUNNING, deleted=True), PodSummary("1/1", "Terminating", "0")),
        (
            pod("Succeeded", {"state": {"terminated": {"reason": "Completed"}}}, deleted=True),
            PodSummary("0/1", "Completed", "0"),
        ),
        # one container done, another still serving: the pod runs on
        (
            pod("Running", {"state": {"terminated": {"reason": "Completed"}}}, RUNNING),
            PodSummary("1/2", "NotReady", "0"),
        ),
    ],
)
def test_pod_status_columns_are_derived_as_the_real_printer_does(
    obj: dict[str, Any], expected: PodSummary
) -> None:
    assert pod_summary(obj, NOW) == expected

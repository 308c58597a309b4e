"""The replica-ratio router: which pods the Services select and how many canary pods a weight needs."""

from __future__ import annotations

import pytest

from slipway.core.strategies.canary import canary_pods_for_weight, realised_weight
from slipway.manifests import (
    LABEL_POD_OF,
    LABEL_RELEASE,
    LABEL_REVISION,
    LABEL_SERVICE_ROLE,
    ReleaseRef,
    legacy_revisions,
    revision_deployment,
)
from slipway.routers.base import ServicePorts, TrafficSplit
from slipway.routers.replicas import ReplicaRouter

RELEASE = ReleaseRef(namespace="shop", name="web", uid="u-1")
PORTS = ServicePorts(port=80, target_port=8080)


def selectors(split: TrafficSplit) -> dict[str, dict[str, str]]:
    return {
        obj["metadata"]["name"]: obj["spec"]["selector"]
        for obj in ReplicaRouter().plan(RELEASE, split, PORTS)
    }


def test_single_revision_gets_everything_through_both_services() -> None:
    assert selectors(TrafficSplit("aaa", None, 0)) == {
        "web": {LABEL_POD_OF: "web", LABEL_REVISION: "aaa"},
        "web-canary": {LABEL_POD_OF: "web", LABEL_REVISION: "aaa"},
    }


def test_split_spreads_the_stable_service_over_both_revisions() -> None:
    objects = ReplicaRouter().plan(RELEASE, TrafficSplit("aaa", "bbb", 10), PORTS)
    by_name = {obj["metadata"]["name"]: obj for obj in objects}
    assert by_name["web"]["spec"]["selector"] == {LABEL_POD_OF: "web"}
    assert by_name["web-canary"]["spec"]["selector"] == {LABEL_POD_OF: "web", LABEL_REVISION: "bbb"}
    assert by_name["web"]["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    # What tells the address clients call from the one only routing and testers reach.
    assert by_name["web"]["metadata"]["labels"][LABEL_SERVICE_ROLE] == "stable"
    assert by_name["web-canary"]["metadata"]["labels"][LABEL_SERVICE_ROLE] == "canary"


def test_full_weight_and_rollback_are_one_selector_each() -> None:
    assert selectors(TrafficSplit("aaa", "bbb", 100))["web"] == {LABEL_POD_OF: "web", LABEL_REVISION: "bbb"}
    assert selectors(TrafficSplit("aaa", "bbb", 0))["web"] == {LABEL_POD_OF: "web", LABEL_REVISION: "aaa"}


def test_only_revision_pods_carry_the_label_services_select() -> None:
    deployment = revision_deployment(RELEASE, "aaa", "1", 2, {"spec": {"containers": []}})
    assert deployment["spec"]["template"]["metadata"]["labels"][LABEL_POD_OF] == "web"
    assert LABEL_POD_OF not in deployment["spec"]["selector"]["matchLabels"], "a selector is immutable"


def test_revisions_from_before_the_pod_label_are_selected_as_before() -> None:
    """An operator upgrade rewrites no template (no pod restarts): a Deployment whose pods lack the pod
    label keeps being reached by the release label until a newer revision replaces it."""
    new = revision_deployment(RELEASE, "bbb", "2", 2, {"spec": {"containers": []}})
    old = revision_deployment(RELEASE, "aaa", "1", 2, {"spec": {"containers": []}})
    del old["spec"]["template"]["metadata"]["labels"][LABEL_POD_OF]
    legacy = legacy_revisions({"aaa": old, "bbb": new})
    assert legacy == {"aaa"}
    assert selectors(TrafficSplit("aaa", "bbb", 10, legacy)) == {
        "web": {LABEL_RELEASE: "web"},
        "web-canary": {LABEL_POD_OF: "web", LABEL_REVISION: "bbb"},
    }
    assert selectors(TrafficSplit("aaa", None, 0, legacy))["web"] == {
        LABEL_RELEASE: "web",
        LABEL_REVISION: "aaa",
    }
    assert selectors(TrafficSplit("bbb", None, 0, legacy))["web"] == {
        LABEL_POD_OF: "web",
        LABEL_REVISION: "bbb",
    }


@pytest.mark.parametrize(
    ("weight", "replicas", "pods", "share"),
    [(10, 4, 1, 20), (25, 3, 1, 25), (50, 4, 4, 50), (90, 4, 4, 50), (5, 10, 1, 9), (20, 10, 2, 17)],
)
def test_canary_pods_come_closest_to_the_weight(weight: int, replicas: int, pods: int, share: int) -> None:
    assert canary_pods_for_weight(weight, replicas) == pods
    assert realised_weight(pods, replicas) == share


def test_weights_always_add_up_to_100() -> None:
    for weight in range(101):
        assert sum(TrafficSplit("aaa", "bbb", weight).weights.values()) == 100
    with pytest.raises(ValueError, match=r"0\.\.100"):
        TrafficSplit("aaa", "bbb", 101)
    with pytest.raises(ValueError, match="needs a canary"):
        TrafficSplit("aaa", None, 10)

"""`kubectl slipway undo`: choosing the revision and recovering the user's template from its Deployment."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipway.api.status import HistoryEntry, ReleaseStatus, RevisionStatus
from slipway.cli._plugin_undo import (
    UndoError,
    UndoTarget,
    choose_target,
    recover_template,
    template_from_deployment,
    undo_patch,
)
from slipway.core.revision import revision_hash
from slipway.manifests import ReleaseRef, revision_deployment

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def entry(revision: str, version: str, outcome: str, minutes: int) -> HistoryEntry:
    return HistoryEntry(
        revision=revision,
        version=version,
        outcome=outcome,  # type: ignore[arg-type]
        started_at=T0 + timedelta(minutes=minutes),
        finished_at=T0 + timedelta(minutes=minutes + 5),
    )


def release(spec_version: str, stable: tuple[str, str], history: list[HistoryEntry]) -> dict[str, Any]:
    status = ReleaseStatus(
        phase="Healthy",
        stable=RevisionStatus(
            revision=stable[0], version=stable[1], replicas=2, ready_replicas=2, weight=100
        ),
        history=history,
    )
    return {
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "17"},
        "spec": {"version": spec_version},
        "status": status.to_api(),
    }


HISTORY = [
    entry("r1", "1.0", "Promoted", 0),
    entry("r2", "2.0", "Promoted", 10),
    entry("r3", "3.0", "RolledBack", 20),
]


def test_default_after_a_rollback_is_the_stable_revision_now_serving() -> None:
    target = choose_target(release("3.0", ("r2", "2.0"), HISTORY), None)
    assert (target.revision, target.version) == ("r2", "2.0")


def test_default_when_healthy_is_the_previous_promoted_revision() -> None:
    target = choose_target(release("2.0", ("r2", "2.0"), HISTORY), None)
    assert (target.revision, target.version) == ("r1", "1.0")


def test_to_revision_by_history_number_or_hash() -> None:
    body = release("2.0", ("r2", "2.0"), HISTORY)
    assert choose_target(body, "3").revision == "r3"
    assert choose_target(body, "r1").version == "1.0"


@pytest.mark.parametrize(
    ("to_revision", "message"),
    [("4", "history has 3 entries"), ("0", "no history"), ("zz9", "not in the history")],
)
def test_unknown_revision_is_refused_with_a_reason(to_revision: str, message: str) -> None:
    with pytest.raises(UndoError, match=message):
        choose_target(release("2.0", ("r2", "2.0"), HISTORY), to_revision)


def test_nothing_to_go_back_to() -> None:
    with pytest.raises(UndoError, match="no earlier promoted revision"):
        choose_target(release("1.0", ("r1", "1.0"), HISTORY[:1]), None)


def test_template_round_trips_through_the_operators_deployment() -> None:
    user_template = {
        "metadata": {"labels": {"app": "web", "tier": "front"}, "annotations": {"team": "shop"}},
        "spec": {
            "containers": [{"name": "web", "image": "shop/web:2.0", "env": [{"name": "A", "value": "1"}]}]
        },
    }
    deployment = revision_deployment(ReleaseRef("shop", "web", "uid-1"), "r2", "2.0", 3, user_template)
    assert deployment["spec"]["template"] != user_template  # the operator did add its labels
    assert template_from_deployment(deployment) == user_template


def test_template_without_user_labels_drops_the_empty_metadata() -> None:
    user_template = {"spec": {"containers": [{"name": "web", "image": "shop/web:2.0"}]}}
    deployment = revision_deployment(ReleaseRef("shop", "web", "uid-1"), "r2", "2.0", 3, user_template)
    assert template_from_deployment(deployment) == user_template


USER_TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "shop/web:2.0", "ports": [{"containerPort": 8080}]}]},
}


def as_a_real_api_server_returns_it(deployment: dict[str, Any]) -> dict[str, Any]:
    """A real API server fills the pod template's defaults in; the dev cluster does not."""
    pod = deployment["spec"]["template"]["spec"]
    pod.update(
        restartPolicy="Always",
        terminationGracePeriodSeconds=30,
        dnsPolicy="ClusterFirst",
        securityContext={},
        schedulerName="default-scheduler",
    )
    for container in pod["containers"]:
        container.update(
            terminationMessagePath="/dev/termination-log",
            terminationMessagePolicy="File",
            imagePullPolicy="IfNotPresent",
            resources={},
        )
        for port in container["ports"]:
            port["protocol"] = "TCP"
    return deployment


@pytest.mark.parametrize("defaulted", [False, True], ids=["as-written", "server-defaulted"])
def test_recovered_template_hashes_to_the_revision_it_came_from(defaulted: bool) -> None:
    revision = revision_hash(USER_TEMPLATE, "2.0")
    deployment = revision_deployment(ReleaseRef("shop", "web", "uid-1"), revision, "2.0", 3, USER_TEMPLATE)
    if defaulted:
        deployment = as_a_real_api_server_returns_it(deployment)
    template, exact = recover_template(deployment, UndoTarget(revision, "2.0", "test"))
    assert exact and template == USER_TEMPLATE


def test_a_template_that_wrote_some_defaults_is_recovered_without_them_and_flagged() -> None:
    written = copy.deepcopy(USER_TEMPLATE)
    written["spec"]["dnsPolicy"] = "ClusterFirst"  # the user wrote one default, the server added the rest
    revision = revision_hash(written, "2.0")
    deployment = revision_deployment(ReleaseRef("shop", "web", "uid-1"), revision, "2.0", 3, written)
    template, exact = recover_template(
        as_a_real_api_server_returns_it(deployment), UndoTarget(revision, "2.0", "")
    )
    assert not exact and template == USER_TEMPLATE


def test_patch_replaces_version_and_template_only_if_unchanged_since_read() -> None:
    patch = undo_patch(release("3.0", ("r2", "2.0"), HISTORY), "2.0", {"spec": {}})
    assert patch == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "17"},
        {"op": "replace", "path": "/spec/version", "value": "2.0"},
        {"op": "replace", "path": "/spec/template", "value": {"spec": {}}},
    ]

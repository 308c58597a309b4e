"""What a recorded transition owes spec.notify's subscribers: the names `on` matches, the messages and
their keys (pure), and on the real dev cluster the reconciler queuing them only after its status write
landed, once per transition, and never again after a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from core_support import release_spec
from test_controller_reconciler import NAMESPACE, RecordingApi, _no_alerts, _no_measurements, release

from slipway.api.models import ReleaseSpec
from slipway.api.status import HistoryEntry, ReleaseStatus, RevisionStatus
from slipway.controller.notifications import (
    Notifier,
    Transition,
    obstacles,
    slack_body,
    transition_names,
    webhook_body,
)
from slipway.controller.queue import ReleaseKey
from slipway.controller.reconciler import Reconciler
from slipway.kube.client import ApiError
from slipway.manifests import Obj, ReleaseRef
from slipway.runtime.config import NotificationsConfig, parse_config
from slipway.runtime.metrics import OperatorMetrics
from slipway.runtime.notifications import Notification, NotificationQueue
from slipway_dev.cluster import DevCluster

AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
REF = ReleaseRef(namespace="shop", name="web", uid="u-1")


def status(phase: str, reason: str, *history: str, message: str = "") -> ReleaseStatus:
    return ReleaseStatus.model_validate(
        {
            "phase": phase,
            "reason": reason,
            "message": message,
            "stable": {"revision": "r1", "version": "1"},
            "history": [
                HistoryEntry(
                    revision=f"r{index}", version=str(index), outcome=outcome, started_at=AT, finished_at=AT
                ).model_dump()
                for index, outcome in enumerate(history)
            ],
        }
    )


def test_the_names_of_a_transition_are_its_phase_reason_outcomes_and_event_reasons() -> None:
    before = status("Progressing", "Progressing")
    after = status("Healthy", "Promoted", "Promoted")
    assert transition_names(before, after, ["Promoting"]) == ("Healthy", "Promoted", "Promoting")
    # Phase and reason unchanged: only what the pass told (a step), nothing about the phase.
    assert transition_names(before, before, ["Step"]) == ("Step",)
    assert transition_names(before, before, []) == ()
    # An outcome already recorded is not news again.
    assert transition_names(after, status("Progressing", "Progressing", "Promoted"), []) == ("Progressing",)
    assert transition_names(None, status("Progressing", "FirstRelease"), ["RolloutStarted"]) == (
        "Progressing",
        "FirstRelease",
        "RolloutStarted",
    )


def spec_with(notify: list[dict[str, Any]]) -> ReleaseSpec:
    return ReleaseSpec.model_validate({**release_spec().model_dump(by_alias=True), "notify": notify})


def settings(tmp_path: Path, **notifiers: str) -> NotificationsConfig:
    (tmp_path / "url").write_text("http://127.0.0.1:1/hook")
    return NotificationsConfig.model_validate(
        {
            "allowedHosts": ["127.0.0.1"],
            "notifiers": {
                name: {
                    "type": kind,
                    "urlFile": str(tmp_path / "url"),
                    "linkTemplate": "https://d/{{release}}",
                }
                for name, kind in notifiers.items()
            },
        }
    )


def test_a_notifier_the_config_lacks_is_an_obstacle_naming_the_field(tmp_path: Path) -> None:
    spec = spec_with([{"notifier": "chat", "on": ["Promoted"]}, {"notifier": "pager", "on": ["Paused"]}])
    (found,) = obstacles(spec, settings(tmp_path, chat="slack"))
    assert (found.reason, found.field) == ("NotifierNotConfigured", "spec.notify[1].notifier")
    assert found.message == "no notifier 'pager' in the operator config's notifications.notifiers (chat)"
    assert obstacles(spec, settings(tmp_path, chat="slack", pager="webhook")) == ()


@pytest.mark.parametrize(
    "notify",
    [
        [{"notifier": "chat", "on": []}],
        [{"notifier": "Chat", "on": ["Promoted"]}],
        [{"notifier": "c", "on": ["promoted"]}],
    ],
    ids=["on-empty", "notifier-not-a-dns-label", "name-not-camel-case"],
)
def test_the_models_refuse_a_malformed_subscription(notify: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="notify"):
        spec_with(notify)


def transition(after: ReleaseStatus, names: tuple[str, ...], version: str = "4") -> Transition:
    return Transition(REF, 3, "1001", names, status("Progressing", "Progressing"), after, version, AT)


def test_a_key_is_the_same_for_a_message_and_differs_between_transitions_and_subscriptions() -> None:
    one = transition(status("Healthy", "Promoted"), ("Promoted",))
    assert one.key(0) == transition(status("Healthy", "Promoted"), ("Healthy",)).key(0)
    assert one.key(0) != one.key(1)
    later = Transition(REF, 3, "1002", one.names, one.before, one.after, one.version, AT)
    assert one.key(0) != later.key(0)


def test_the_slack_message_escapes_markup_and_links_the_template() -> None:
    after = status("Paused", "WaitingForApproval", message="approve <v4> & go")
    body = slack_body(
        transition(after, ("Paused", "WaitingForApproval")), ("WaitingForApproval",), "https://d/web"
    )
    assert body["text"] == "shop/web: WaitingForApproval: version 4, Paused"
    assert body["blocks"][2] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "approve &lt;v4&gt; &amp; go"},
    }
    assert body["blocks"][3]["elements"][0]["url"] == "https://d/web"
    assert len(slack_body(transition(after, ()), ("X" * 200,), None)["blocks"][0]["text"]["text"]) == 150


def test_the_webhook_body_tells_the_rollback_only_with_rolled_back() -> None:
    after = ReleaseStatus.model_validate(
        {
            **status("RollingBack", "AnalysisFailed").model_dump(),
            "canary": RevisionStatus(revision="r4", version="4").model_dump(),
            "lastRollback": {"reason": "AnalysisFailed", "at": AT, "fromVersion": "4", "toVersion": "1"},
        }
    )
    body = webhook_body(
        transition(after, ("RollingBack", "AnalysisFailed", "RolledBack")),
        "audit",
        ("RolledBack",),
        "k",
        None,
    )
    assert body["rollback"]["fromVersion"] == "4" and body["previous"] == {
        "phase": "Progressing",
        "reason": "Progressing",
    }
    assert "link" not in body and body["at"] == "2026-12-04T12:00:00Z"
    assert "rollback" not in webhook_body(
        transition(after, ("RollingBack",)), "audit", ("RollingBack",), "k", None
    )


@pytest.fixture
def api(dev_cluster: DevCluster) -> Iterator[RecordingApi]:
    client = RecordingApi(str(dev_cluster.kubeconfig))
    yield client
    client.close()


class RecordingQueue(NotificationQueue):
    """The real queue, its offers noted (its workers are not run: delivery has tests of its own)."""

    def __init__(self, config: NotificationsConfig) -> None:
        self.offered: list[Notification] = []
        self._config = config

    def offer(self, notification: Notification) -> bool:
        self.offered.append(notification)
        return True


def reconcile(api: RecordingApi, config: NotificationsConfig, queue: RecordingQueue) -> None:
    operator_config = parse_config({}).model_copy(update={"notifications": config})
    reconciler = Reconciler(
        api,
        _no_measurements,
        _no_alerts,
        operator_config,
        OperatorMetrics(),
        notifier=Notifier(api, queue, config),
    )
    asyncio.run(reconciler(ReleaseKey(NAMESPACE, "web")))


def reconcile_until_offered(api: RecordingApi, config: NotificationsConfig, queue: RecordingQueue) -> None:
    deadline = time.monotonic() + 30
    while not queue.offered:
        assert time.monotonic() < deadline, "no notification queued"
        reconcile(api, config, queue)
        time.sleep(0.2)


def test_the_reconciler_queues_once_per_recorded_transition_and_a_restart_sends_nothing(
    api: RecordingApi, dev_cluster: DevCluster, tmp_path: Path
) -> None:
    config = settings(tmp_path, chat="webhook")
    subscribed = '  notify: [{notifier: chat, "on": [Healthy, Paused, WaitingForPromote]}]\n'
    dev_cluster.kubectl("apply", "-f", "-", input=release("1", subscribed))
    queue = RecordingQueue(config)
    reconcile_until_offered(api, config, queue)
    (healthy,) = queue.offered
    assert (healthy.body["phase"], healthy.body["on"], healthy.body["version"]) == (
        "Healthy",
        ["Healthy"],
        "1",
    )
    written = api.get(f"/apis/slipway.dev/v1alpha1/namespaces/{NAMESPACE}/releases/web")
    assert written is not None and healthy.body["release"]["uid"] == written["metadata"]["uid"]

    # Passes with nothing new, by this operator and by a restarted one: nothing more.
    reconcile(api, config, queue)
    after_restart = RecordingQueue(config)
    reconcile(api, config, after_restart)
    assert len(queue.offered) == 1 and after_restart.offered == []

    dev_cluster.kubectl("apply", "-f", "-", input=release("2", subscribed))
    restarted = RecordingQueue(config)
    reconcile_until_offered(api, config, restarted)
    (paused,) = restarted.offered
    assert paused.body["on"] == ["Paused", "WaitingForPromote"] and paused.body["version"] == "2"
    assert paused.key != healthy.key


class EventsFail(RecordingApi):
    """The real client, except that posting an Event fails as an API server under load might."""

    def create(self, path: str, body: Obj) -> Obj:
        if "/events" in path:
            raise ApiError(503, "ServiceUnavailable", "try again")
        return super().create(path, body)


def test_a_write_after_the_status_that_fails_loses_no_notification(
    dev_cluster: DevCluster, tmp_path: Path
) -> None:
    config = settings(tmp_path, chat="webhook")
    subscribed = '  notify: [{notifier: chat, "on": [FirstRelease]}]\n'
    dev_cluster.kubectl("apply", "-f", "-", input=release("1", subscribed))
    api, queue = EventsFail(str(dev_cluster.kubeconfig)), RecordingQueue(config)
    try:
        reconcile(api, config, queue)  # the status lands, then its Event fails (owed, posted later)
        (told,) = queue.offered
        assert (told.body["reason"], told.body["on"]) == ("FirstRelease", ["FirstRelease"])
        reconcile(api, config, queue)  # the next pass finds this transition recorded: not again
        assert len(queue.offered) == 1
    finally:
        api.close()

"""Issue 11, part 2: notifications of real rollouts on the dev cluster, to real HTTP receivers on
127.0.0.1. A receiver that never answers delays no rollout; a restarted operator sends nothing again;
a notifier the config lacks refuses only the Release naming it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2e_support import E2E, Cluster, Operator, release_manifest, wait_for
from receiver import Receiver

pytestmark = E2E

# If a pass waited for the receiver that never answers, each notification to it would cost at least
# 3 attempts x 2 s + the backoff between them (1 s, 2 s).
HANG_TIMEOUT_SECONDS = 2
HANG_ATTEMPTS = 3
BLOCKING_COST_SECONDS = HANG_ATTEMPTS * HANG_TIMEOUT_SECONDS + 1 + 2


def notifications(tmp_path: Path, urls: dict[str, tuple[str, str]]) -> dict[str, Any]:
    notifiers = {}
    for name, (kind, url) in urls.items():
        secret = tmp_path / f"{name}.url"
        secret.write_text(url)
        notifiers[name] = {
            "type": kind,
            "urlFile": str(secret),
            "linkTemplate": "https://dash.example.com/{{namespace}}/{{release}}?v={{version}}",
        }
    return {
        "allowedHosts": ["127.0.0.1"],
        "notifiers": notifiers,
        "timeoutSeconds": HANG_TIMEOUT_SECONDS,
        "maxAttempts": HANG_ATTEMPTS,
        "backoffSeconds": 1,
    }


def with_notify(manifest: dict[str, Any], notify: list[dict[str, Any]]) -> dict[str, Any]:
    manifest["spec"]["notify"] = notify
    return manifest


def bodies(receiver: Receiver, reason: str | None = None) -> list[dict[str, Any]]:
    found = [each.body for each in receiver.accepted()]
    return [body for body in found if reason is None or body.get("reason") == reason]


def test_a_rollout_is_told_to_webhook_and_slack_and_a_receiver_that_never_answers_delays_nothing(
    cluster: Cluster, operator_factory: Callable[..., Operator], tmp_path: Path
) -> None:
    with Receiver() as audit, Receiver() as chat, Receiver(hang=True) as stuck:
        config = notifications(
            tmp_path,
            {
                "audit": ("webhook", audit.url("/audit")),
                "team-chat": ("slack", chat.url("/services/T1/B2/s3cr3t")),
                "stuck": ("webhook", stuck.url()),
            },
        )
        operator = operator_factory(notifications=config)
        notify = [
            {"notifier": "audit", "on": ["Promoted", "RolledBack"]},
            {"notifier": "team-chat", "on": ["Promoted"]},
            {"notifier": "stuck", "on": ["Step", "Promoting", "Promoted"]},
        ]
        cluster.apply(with_notify(release_manifest("1"), notify))
        cluster.wait_phase("Healthy", "1", timeout=30)
        uid = cluster.release()["metadata"]["uid"]

        started = time.monotonic()
        cluster.apply(with_notify(release_manifest("2"), notify))
        cluster.wait_phase("Healthy", "2", timeout=60)
        rollout = time.monotonic() - started
        told = wait_for(lambda: bodies(audit, "Promoted"), 10, "the audit webhook told of the promotion")

        # Two steps and a promotion: three messages to the receiver that never answers, each of
        # which would have held a waiting pass for BLOCKING_COST_SECONDS.
        assert rollout < 3 * BLOCKING_COST_SECONDS, f"the rollout took {rollout:.1f}s"
        body = told[0]
        assert body["kind"] == "ReleaseNotification" and body["notifier"] == "audit"
        assert body["release"] == {
            "namespace": "default",
            "name": "web",
            "uid": uid,
            "generation": 2,
        }
        assert (body["version"], body["phase"], body["reason"], body["on"]) == (
            "2",
            "Healthy",
            "Promoted",
            ["Promoted"],
        )
        assert body["stableVersion"] == "2" and body["message"] == "version 2 serves all traffic"
        assert body["link"] == "https://dash.example.com/default/web?v=2"
        headers = {each.body["idempotencyKey"]: each.headers for each in audit.accepted()}
        assert headers[body["idempotencyKey"]]["Idempotency-Key"] == body["idempotencyKey"]
        # One message per transition: v1 became stable (its first release, outcome Promoted), then v2.
        assert [(each["version"], each["on"]) for each in bodies(audit)] == [
            ("1", ["Promoted"]),
            ("2", ["Promoted"]),
        ], bodies(audit)

        slack = wait_for(lambda: bodies(chat)[1:], 10, "the slack notifier told of v2")[0]
        assert slack["text"] == "default/web: Promoted: version 2, Healthy"
        header, facts, message, actions = slack["blocks"]
        assert header == {"type": "header", "text": {"type": "plain_text", "text": "default/web: Promoted"}}
        assert [field["text"] for field in facts["fields"]] == [
            "*Release*\ndefault/web",
            "*Version*\n2",
            "*Phase*\nHealthy",
            "*Reason*\nPromoted",
        ]
        assert message["text"] == {"type": "mrkdwn", "text": "version 2 serves all traffic"}
        assert actions["elements"][0]["url"] == "https://dash.example.com/default/web?v=2"

        # The receiver that never answers: a Warning Event and the metric, no rollout error.
        failed = wait_for(
            lambda: [e for e in cluster.events() if e["reason"] == "NotificationFailed"],
            4 * BLOCKING_COST_SECONDS,
            "a NotificationFailed Event",
        )
        assert failed[0]["type"] == "Warning"
        assert failed[0]["message"].startswith("notifier stuck was not told of ")
        assert "127.0.0.1 did not answer within 2s; the rollout is not affected" in failed[0]["message"]
        _, metrics = operator.get("/metrics")
        assert 'slipway_notifications_total{notifier="audit",result="delivered"} 2.0' in metrics
        assert 'slipway_notifications_total{notifier="stuck",result="failed"}' in metrics

        # A bad version: the rollback is told once.
        cluster.apply(with_notify(release_manifest("3", error_rate=0.5), notify))
        wait_for(lambda: cluster.status().get("phase") == "Degraded", 60, "the rollback of version 3")
        rolled_back = wait_for(lambda: bodies(audit, "AnalysisFailed"), 10, "the rollback told")
        assert len(rolled_back) == 1
        assert rolled_back[0]["on"] == ["RolledBack"] and rolled_back[0]["version"] == "3"
        assert rolled_back[0]["rollback"]["fromVersion"] == "3"
        assert rolled_back[0]["rollback"]["toVersion"] == "2"

        # A restart reads the status the writes left: no transition there, nothing sent again.
        sent = [each.body["idempotencyKey"] for each in audit.accepted()]
        operator.stop()
        restarted = operator_factory(notifications=config)
        wait_for(
            lambda: any(line.get("release") == "web" for line in restarted.log_lines()),
            30,
            "a pass of the restarted operator",
        )
        cluster.kubectl("annotate", "release/web", "touch=1")  # one more pass, with nothing to tell
        wait_for(
            lambda: sum(line.get("release") == "web" for line in restarted.log_lines()) >= 2,
            30,
            "another pass of the restarted operator",
        )
        assert [each.body["idempotencyKey"] for each in audit.accepted()] == sent
        for text in (
            restarted.log.read_text(),
            operator.log.read_text(),
            str(cluster.status()),
            str(cluster.events()),
        ):
            assert "s3cr3t" not in text


def test_a_notifier_the_config_lacks_refuses_only_that_release(
    cluster: Cluster, operator_factory: Callable[..., Operator], tmp_path: Path
) -> None:
    with Receiver() as audit:
        operator_factory(notifications=notifications(tmp_path, {"audit": ("webhook", audit.url())}))
        cluster.apply(release_manifest("1", name="other"))
        cluster.wait_phase("Healthy", "1", timeout=30, name="other")
        manifest = f"""
apiVersion: slipway.dev/v1alpha1
kind: Release
metadata: {{name: web}}
spec:
  version: "1"
  template: {release_manifest("1")["spec"]["template"]}
  service: {{port: 80}}
  strategy: {{rolling: {{}}}}
  notify:
  - notifier: audit
    "on": [Healthy]
  - notifier: pager
    "on": [RolledBack]
"""
        # A bare `on` is YAML 1.1's true to kubectl: the Release is refused, naming the field.
        unquoted = cluster.kubectl("apply", "-f", "-", input=manifest.replace('"on"', "on"), check=False)
        assert unquoted.returncode != 0 and "spec.notify[0].on: Required value" in unquoted.stderr
        cluster.kubectl("apply", "-f", "-", input=manifest)
        status = wait_for(
            lambda: (s := cluster.status()).get("phase") == "Degraded" and s, 30, "the Release refused"
        )
        assert status["reason"] == "NotifierNotConfigured"
        assert status["message"] == (
            "cannot carry out generation 1: spec.notify[1].notifier: no notifier 'pager' in the operator "
            "config's notifications.notifiers (audit)"
        )
        assert cluster.condition("Stalled")["status"] == "True"
        assert cluster.deployments() and all(
            d["metadata"]["labels"]["slipway.dev/release"] == "other" for d in cluster.deployments()
        )
        # Nothing else stops: the other Release rolls out.
        cluster.apply(release_manifest("2", name="other"))
        cluster.wait_phase("Healthy", "2", timeout=60, name="other")

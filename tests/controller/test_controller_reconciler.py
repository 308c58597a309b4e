"""The reconciler on the real dev cluster: the order of its writes (cluster actions, then the status
guarded by resourceVersion, then Events and acknowledgements), a pass over a matching cluster writing
nothing (invariant 4), a rollback's first write returning traffic to stable (invariant 2), and a
refused Release getting its status and one Event, nothing else; a pass deciding on a view that missed
an edit is refused at its status write, and the next pass reads; the spec a Release in flight keeps
gives way to an edit, and a settled Release keeps none."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from slipway.api.models import Metric, ReleaseSpec
from slipway.controller.echoes import OwnWrites
from slipway.controller.queue import ReleaseKey
from slipway.controller.reconciler import Reconciler, invalid_spec
from slipway.controller.watch_view import WatchView
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import FiringAlert
from slipway.kube.client import (
    ApiError,
    KubeApi,
    deployments_path,
    events_path,
    load_credentials,
    releases_path,
)
from slipway.manifests import LABEL_BUCKET, LABEL_SERVICE_ROLE, Obj, ReleaseRef
from slipway.providers.base import MeasurementContext
from slipway.runtime.config import parse_config
from slipway.runtime.metrics import OperatorMetrics
from slipway_dev.cluster import DevCluster

NAMESPACE = "shop"


def release(version: str, extra: str = "") -> str:
    return f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: slipway.dev/v1alpha1
kind: Release
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  version: "{version}"
  replicas: 2
  template: {{spec: {{containers: [{{name: web, image: "example/web:{version}"}}]}}}}
  service: {{port: 80}}
  strategy: {{canary: {{steps: [{{setWeight: 50}}, {{pause: {{}}}}]}}}}
{extra}"""


class RecordingApi(KubeApi):
    """The real client, noting each write it sends, in order."""

    def __init__(self, kubeconfig: str) -> None:
        super().__init__(load_credentials(kubeconfig), field_manager="slipway")
        self.sent: list[tuple[str, str]] = []

    def create(self, path: str, body: Obj) -> Obj:
        self.sent.append(("create", path))
        return super().create(path, body)

    def patch(self, path: str, body: Any, content_type: str = "application/merge-patch+json") -> Obj:
        self.sent.append(("patch", path))
        return super().patch(path, body, content_type)

    def apply(self, path: str, config: Obj, force: bool = True) -> Obj:
        self.sent.append(("apply", path))
        return super().apply(path, config, force)

    def delete(self, path: str) -> bool:
        self.sent.append(("delete", path))
        return super().delete(path)

    def kinds(self) -> list[str]:
        """What each write since the last call was about."""
        sent, self.sent = self.sent, []
        return [_kind(verb, path) for verb, path in sent]


def _kind(verb: str, path: str) -> str:
    if path.endswith("/status"):
        return "status"
    if "/releases/" in path:
        return "acknowledge"
    for kind in ("deployments", "services", "prometheusrules", "events"):
        if f"/{kind}" in path:
            return f"{verb} {kind}"
    raise AssertionError(f"unexpected write {verb} {path}")


async def _no_measurements(metric: Metric, context: MeasurementContext) -> RawMeasurement:
    raise AssertionError("these Releases have no analysis")


async def _no_alerts(release: ReleaseRef, labels: Any) -> tuple[FiringAlert, ...]:
    raise AssertionError("these Releases have no rollback.alerts")


@pytest.fixture
def api(dev_cluster: DevCluster) -> Iterator[RecordingApi]:
    client = RecordingApi(str(dev_cluster.kubeconfig))
    yield client
    client.close()


def reconcile(api: RecordingApi) -> list[str]:
    """One pass; what it wrote, in order."""
    reconciler = Reconciler(api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics())
    asyncio.run(reconciler(ReleaseKey(NAMESPACE, "web")))
    return api.kinds()


def phase(api: KubeApi) -> tuple[str | None, int | None]:
    body = api.get(releases_path(NAMESPACE, "web"))
    assert body is not None
    status = body.get("status") or {}
    return status.get("phase"), status.get("currentStep")


def canary_version(api: KubeApi) -> str | None:
    body = api.get(releases_path(NAMESPACE, "web"))
    assert body is not None
    canary: dict[str, Any] = (body.get("status") or {}).get("canary") or {}
    return canary.get("version")


def passes_until(
    api: RecordingApi, done: Callable[[], bool], reconciler: Reconciler | None = None, seconds: float = 30
) -> None:
    """Passes until `done()`: each by a reconciler of its own (as after a restart), or all by `reconciler`
    (one operator process: what it keeps between passes is used)."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"still {phase(api)}, canary {canary_version(api)}"
        if reconciler is None:
            reconcile(api)
        else:
            asyncio.run(reconciler(ReleaseKey(NAMESPACE, "web")))
        time.sleep(0.2)


def reconcile_until(api: RecordingApi, wanted: tuple[str, int | None], seconds: float = 30) -> None:
    passes_until(api, lambda: phase(api) == wanted, seconds=seconds)


def test_a_first_pass_writes_the_workload_then_routing_then_status_then_events_then_alert_rules(
    api: RecordingApi, dev_cluster: DevCluster
) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    assert reconcile(api) == [
        "apply deployments",
        "apply services",
        "apply services",
        "status",
        "create events",
        "apply prometheusrules",  # the alert rules, watching what now gets traffic: never delay the status
    ]
    reconcile_until(api, ("Healthy", None))
    assert reconcile(api) == []  # the cluster matches: nothing is written (invariant 4)


def test_without_the_prometheus_rule_crd_a_release_goes_on_and_the_rules_are_skipped_after_one_try(
    api: RecordingApi, dev_cluster: DevCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    dev_cluster.kubectl("delete", "crd", "prometheusrules.monitoring.coreos.com")
    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    reconciler = Reconciler(api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics())
    passes_until(api, lambda: phase(api) == ("Healthy", None), reconciler)
    tried = [path for verb, path in api.sent if "prometheusrules" in path]
    assert tried == [
        "/apis/monitoring.coreos.com/v1/namespaces/shop/prometheusrules/web"
    ]  # once, answered 404
    assert capsys.readouterr().out.count("the cluster serves no PrometheusRule") == 1


def test_routing_someone_changed_is_put_back(api: RecordingApi, dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    reconcile_until(api, ("Healthy", None))
    dev_cluster.kubectl(
        "patch", "service", "web", "-n", NAMESPACE, "--type=merge",
        "-p", '{"spec": {"selector": {"slipway.dev/revision": "elsewhere"}}}',
    )  # fmt: skip
    # Put back, recorded in status and told by a Warning Event; the next pass finds it in place.
    assert reconcile(api) == ["apply services", "status", "create events"]
    events = api.list(events_path(NAMESPACE))
    told = [e["message"] for e in events if e["reason"] == "RoutingDrift" and e["type"] == "Warning"]
    assert told == ["Service web changed from what Slipway wrote: put back"]
    assert reconcile(api) == ["status"]  # status.routingDrift empty again
    assert reconcile(api) == []


def test_labels_an_older_operator_did_not_set_are_added_without_telling_of_a_change(
    api: RecordingApi, dev_cluster: DevCluster
) -> None:
    """What an upgrade leaves: Services without the labels added since (the service role, the bucket).
    Added at the next pass, one write each, with no RoutingDrift: nobody changed what Slipway wrote."""
    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    reconcile_until(api, ("Healthy", None))
    dev_cluster.kubectl(
        "label", "service", "web", "web-canary", "-n", NAMESPACE,
        "slipway.dev/service-role-", "slipway.dev/bucket-",
    )  # fmt: skip
    assert reconcile(api) == ["apply services", "apply services"]
    for name, role in (("web", "stable"), ("web-canary", "canary")):
        service = api.get(f"/api/v1/namespaces/{NAMESPACE}/services/{name}")
        assert service is not None
        labels = service["metadata"]["labels"]
        assert labels[LABEL_SERVICE_ROLE] == role and LABEL_BUCKET in labels
    assert not [e for e in api.list(events_path(NAMESPACE)) if e["reason"] == "RoutingDrift"]
    assert reconcile(api) == []
    # A role someone changed is an edit like any other: put back and told.
    dev_cluster.kubectl(
        "label", "service", "web", "-n", NAMESPACE, "--overwrite", "slipway.dev/service-role=canary"
    )
    assert reconcile(api) == ["apply services", "status", "create events"]


def test_a_rollback_returns_traffic_first_and_acknowledges_last(
    api: RecordingApi, dev_cluster: DevCluster
) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    reconcile_until(api, ("Healthy", None))
    dev_cluster.kubectl("apply", "-f", "-", input=release("2"))
    reconcile_until(api, ("Paused", 1))  # 50% on the canary, waiting for a person
    dev_cluster.kubectl("annotate", "release", "web", "-n", NAMESPACE, "slipway.dev/abort=1")
    assert reconcile(api) == [
        "apply services",  # all traffic back to stable before anything else (invariant 2)
        "apply deployments",  # then the canary goes to 0 pods
        "status",  # then the status that records the abort, guarded by resourceVersion
        "create events",  # ManualAction
        "create events",  # RollingBack
        "apply prometheusrules",  # the alert rules watch stable alone again
        "acknowledge",  # and only then is the annotation removed
    ]


def test_one_reconciler_decides_on_a_spec_edited_between_its_passes_and_keeps_no_spec_once_settled(
    api: RecordingApi, dev_cluster: DevCluster
) -> None:
    reconciler = Reconciler(api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics())
    web = ReleaseKey(NAMESPACE, "web")

    def until(wanted: tuple[str, int | None], canary: str | None = None) -> None:
        passes_until(api, lambda: (phase(api), canary_version(api)) == (wanted, canary), reconciler)

    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    until(("Healthy", None))
    assert web not in reconciler._specs  # settled: ten thousand at rest keep nothing
    dev_cluster.kubectl("apply", "-f", "-", input=release("2"))
    until(("Paused", 1), canary="2")
    assert web in reconciler._specs  # in flight: validated once, not at every pass
    # Edited while in flight: the next pass of the same reconciler acts on the edit.
    dev_cluster.kubectl("apply", "-f", "-", input=release("3"))
    until(("Paused", 1), canary="3")
    dev_cluster.kubectl("annotate", "release", "web", "-n", NAMESPACE, "slipway.dev/promote=1")
    until(("Healthy", 2))  # promoted at its last step
    assert web not in reconciler._specs


def test_a_refused_release_gets_its_status_and_one_event_and_nothing_else(
    api: RecordingApi, dev_cluster: DevCluster
) -> None:
    needs_prometheus = """  analysis:
    interval: 10s
    metrics: [{name: error-rate, builtin: error-rate}]
"""
    dev_cluster.kubectl("apply", "-f", "-", input=release("1", needs_prometheus))
    assert reconcile(api) == ["status", "create events"]
    assert phase(api) == ("Degraded", None)
    assert reconcile(api) == []  # told once


def test_the_models_complaints_name_each_field_from_spec_down() -> None:
    body: dict[str, Any] = {"version": "1", "service": {"port": 80}}
    body["template"] = {"spec": {"containers": [{"name": "web", "image": "example/web:1"}]}}
    body["strategy"] = {"canary": {"steps": [{"setWeight": 150}]}}
    with pytest.raises(ValidationError) as invalid:
        ReleaseSpec.model_validate(body)
    assert [(o.reason, o.field) for o in invalid_spec(invalid.value)] == [
        ("InvalidSpec", "spec.strategy.canary.steps[0].setWeight")
    ]


class NotedWrites(OwnWrites):
    def __init__(self) -> None:
        super().__init__()
        self.noted: list[str] = []

    def wrote(self, path: str, resource_version: str) -> None:
        self.noted.append(path)
        super().wrote(path, resource_version)


def test_what_a_pass_wrote_is_recorded_so_that_its_watch_events_wake_nothing(
    api: RecordingApi, dev_cluster: DevCluster
) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=release("1"))
    own_writes = NotedWrites()
    reconciler = Reconciler(
        api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics(), own_writes=own_writes
    )
    asyncio.run(reconciler(ReleaseKey(NAMESPACE, "web")))
    (deployment,) = api.list(deployments_path(NAMESPACE), {"slipway.dev/release": "web"})
    release_path = releases_path(NAMESPACE, "web")
    # The Deployment and the status; not the Services, which the operator does not watch.
    assert own_writes.noted == [deployments_path(NAMESPACE, deployment["metadata"]["name"]), release_path]
    written = api.get(release_path)
    assert written is not None
    version = written["metadata"]["resourceVersion"]
    assert not own_writes.echo(release_path, "an older one")
    assert own_writes.echo(release_path, version)  # the pass that wrote it needs no second pass for it
    assert not own_writes.echo(release_path, version)  # once: the record is used up


class SlowStatusApi(RecordingApi):
    """Status writes that take half a second, as they may when a hundred passes write at once."""

    def patch(self, path: str, body: Any, content_type: str = "application/merge-patch+json") -> Obj:
        if path.endswith("/status"):
            time.sleep(0.5)
        return super().patch(path, body, content_type)


def test_the_next_pass_is_due_when_the_core_said_not_later_by_the_time_spent_writing(
    dev_cluster: DevCluster,
) -> None:
    timed_pause = release("1").replace("{pause: {}}", "{pause: {duration: 10s}}")
    dev_cluster.kubectl("apply", "-f", "-", input=timed_pause)
    api = SlowStatusApi(str(dev_cluster.kubeconfig))
    try:
        reconcile_until(api, ("Healthy", None))
        dev_cluster.kubectl("apply", "-f", "-", input=timed_pause.replace('"1"', '"2"').replace(":1", ":2"))
        reconciler = Reconciler(api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics())
        deadline = time.monotonic() + 30
        while phase(api) != ("Progressing", 1):  # a timed pause is progress, not Paused
            assert time.monotonic() < deadline, f"still {phase(api)}"
            delay = asyncio.run(reconciler(ReleaseKey(NAMESPACE, "web")))
        # The pass that paused decided "10 s from now", then spent 0.5 s writing the status.
        assert delay is not None and 8.0 < delay <= 9.5
    finally:
        api.close()


class ReadingApi(RecordingApi):
    """Also counting the reads of the Release and the writes refused for a resourceVersion gone by (a
    failed JSON patch `test` of it is refused as 422)."""

    def __init__(self, kubeconfig: str) -> None:
        super().__init__(kubeconfig)
        self.release_reads = 0
        self.conflicts = 0

    def get(self, path: str) -> Obj | None:
        if path == releases_path(NAMESPACE, "web"):
            self.release_reads += 1
        return super().get(path)

    def patch(self, path: str, body: Any, content_type: str = "application/merge-patch+json") -> Obj:
        try:
            return super().patch(path, body, content_type)
        except ApiError as error:
            self.conflicts += error.status in (409, 422)
            raise


def test_a_pass_on_a_view_that_missed_a_change_conflicts_and_the_next_pass_reads_the_release(
    dev_cluster: DevCluster,
) -> None:
    """The view here is shown the Deployments as a watch would, not the Release: it misses an edit
    someone made to it. The status write of the pass deciding on that view is refused (its resourceVersion),
    and the pass after it decides on a fresh read."""
    timed_pause = release("1").replace("{pause: {}}", "{pause: {duration: 1s}}")
    dev_cluster.kubectl("apply", "-f", "-", input=timed_pause)
    api = ReadingApi(str(dev_cluster.kubeconfig))
    key = ReleaseKey(NAMESPACE, "web")
    view = WatchView()

    def one_pass() -> tuple[float | None, int]:
        """A pass: the delay it asked for, and how many times it read the Release."""
        for deployment in api.list(deployments_path(NAMESPACE), {"slipway.dev/release": "web"}):
            view.shown_deployment(NAMESPACE, deployment["metadata"]["name"], "web", deployment, deleted=False)
        reads = api.release_reads
        delay = asyncio.run(reconciler(key))
        return delay, api.release_reads - reads

    try:
        reconcile_until(api, ("Healthy", None))
        dev_cluster.kubectl("apply", "-f", "-", input=timed_pause.replace('"1"', '"2"').replace(":1", ":2"))
        reconciler = Reconciler(
            api, _no_measurements, _no_alerts, parse_config({}), OperatorMetrics(), watch_view=view
        )
        assert one_pass()[1] == 1  # the first pass reads, and keeps what it read
        deadline = time.monotonic() + 30
        while phase(api) != ("Progressing", 1):  # at the pause; the pods are made meanwhile
            assert time.monotonic() < deadline, f"still {phase(api)}"
            delay, reads = one_pass()
            assert reads == 0, "the passes after the first decide on the view"
            time.sleep(min(delay or 0.0, 0.2))
        dev_cluster.kubectl("annotate", "release", "web", "-n", NAMESPACE, "team=shop")

        deadline = time.monotonic() + 30
        while not api.conflicts:
            assert time.monotonic() < deadline, f"no conflict; still {phase(api)}"
            delay, reads = one_pass()
            assert reads == 0, "a pass before the conflict decided on the view"
            time.sleep(min(delay or 0.0, 0.2))
        assert delay is not None and delay < 1

        assert one_pass()[1] == 1  # after the conflict, a fresh read
        deadline = time.monotonic() + 30
        while phase(api)[0] != "Healthy":
            assert time.monotonic() < deadline, f"still {phase(api)}"
            delay, _ = one_pass()
            time.sleep(min(delay or 0.0, 0.2))
        body = api.get(releases_path(NAMESPACE, "web"))
        assert body is not None and body["metadata"]["annotations"]["team"] == "shop"
        assert body["status"]["stable"]["version"] == "2"
    finally:
        api.close()

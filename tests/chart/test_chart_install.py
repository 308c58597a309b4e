"""charts/slipway installed for real: the Helm engine (helm-python-sdk's install action, against the dev
cluster's HTTPS API with the kubeconfig's token) creates the CRD and every object; the dev cluster's
kubelet runs the operator pods as local processes (slipway_dev.processes) under the chart's
ServiceAccount, with in-cluster credentials.

One install with the chart's defaults (cluster mode, two pods electing a leader) serves the stories of
this module, each in a namespace of its own: blue-green, manual actions, a canary promoted across a
`helm upgrade` then rolled back on its error rate (measured by the dev cluster's Prometheus), and a
rollout carried on by another pod when the leader's pod is deleted; then `helm uninstall`. Namespaced
mode gets a dev cluster of its own, whose cluster-scoped objects are listed before and after."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from e2e_support import Cluster, first_release, forbidden_lines, json_lines, release_manifest, wait_for
from stories import blue_green, manual_actions

from slipway_dev.cluster import DevCluster
from slipway_dev.prometheus import PrometheusProcess

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "slipway"
NAMESPACE = "slipway-system"
SELECTOR = "app.kubernetes.io/name=slipway"
Obj = dict[str, Any]


pytestmark = pytest.mark.skipif(
    not PrometheusProcess.available(),
    reason="the prometheus binary is not installed (Debian package prometheus)",
)


def helm_config(dev: DevCluster) -> helm.Config:
    return helm.Config(kubeconfig_path=str(dev.kubeconfig), namespace=NAMESPACE)


def operator_pods(dev: DevCluster) -> list[Obj]:
    """The operator pods that are Ready and not being deleted."""
    pods: list[Obj] = dev.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", SELECTOR)["items"]
    return [
        pod
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp")
        and {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}.get("Ready")
        == "True"
    ]


def logs_of(dev: DevCluster, pod: Obj) -> str:
    """`kubectl logs` of the pod; empty once a rolling update or a deletion has taken it away."""
    return dev.kubectl("logs", "-n", NAMESPACE, pod["metadata"]["name"], check=False).stdout


@dataclass(frozen=True)
class Roles:
    """Who leads (holds the Lease and said `leading` with that identity) and who stands by."""

    leader: Obj
    standbys: list[Obj]
    logs: dict[str, str]


def roles(dev: DevCluster, replicas: int = 2) -> Roles | None:
    pods = operator_pods(dev)
    lease = dev.kubectl("get", "lease", "slipway", "-n", NAMESPACE, "-o", "json", check=False)
    if len(pods) != replicas or lease.returncode != 0:
        return None
    holder = (json.loads(lease.stdout).get("spec") or {}).get("holderIdentity")
    logs = {pod["metadata"]["name"]: logs_of(dev, pod) for pod in pods}

    def leads(pod: Obj) -> bool:
        lines = json_lines(logs[pod["metadata"]["name"]])
        return any(line.get("event") == "leading" and line.get("identity") == holder for line in lines)

    leaders = [pod for pod in pods if leads(pod)]
    if len(leaders) != 1:
        return None
    return Roles(leaders[0], [pod for pod in pods if pod is not leaders[0]], logs)


def one_active(dev: DevCluster) -> Roles:
    """Exactly one pod reconciles: the Lease holder. The others said they stand by and never logged a
    Release. No pod was refused a request."""
    found = wait_for(lambda: roles(dev), 30, "one leader and one standby")
    for standby in found.standbys:
        lines = json_lines(found.logs[standby["metadata"]["name"]])
        assert any(line.get("event") == "standing by" for line in lines)
        assert not [line for line in lines if "release" in line]
    assert any("release" in line for line in json_lines(found.logs[found.leader["metadata"]["name"]]))
    assert not [line for log in found.logs.values() for line in forbidden_lines(log)]
    return found


class Receiver:
    """A webhook receiver on a free port: the bodies POSTed to it, in order."""

    def __init__(self) -> None:
        bodies: list[Obj] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.bodies = bodies
        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_port}"
        self.url = f"http://{self.host}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Install:
    dev: DevCluster
    values: Obj
    receiver: Receiver

    def namespace(self, name: str) -> Cluster:
        self.dev.kubectl("create", "namespace", name)
        return Cluster(self.dev, name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    """The chart's defaults (two pods, leader election, cluster mode) and the dev cluster's Prometheus."""
    state = tmp_path_factory.mktemp("chart-install") / "dev-cluster"
    with DevCluster(state_dir=state, prometheus="on", release_crd=False) as dev:
        # A notifier reads its URL from the Secret the chart mounts (docs/notifications.md), here a
        # receiver of this test's own on a free port.
        receiver = Receiver()
        dev.kubectl("create", "namespace", NAMESPACE)
        secret = ("create", "secret", "generic", "team-chat-hook", "-n", NAMESPACE)
        dev.kubectl(*secret, f"--from-literal=url={receiver.url}")
        values: Obj = {
            "config": {"prometheus": {"url": dev.prometheus_url}},
            "notifications": {
                "allowedHosts": [receiver.host],
                "notifiers": {"team-chat": {"type": "webhook", "secretName": "team-chat-hook"}},
            },
        }
        try:
            with helm_config(dev) as config:
                done = config.install(
                    str(CHART), "slipway", values, namespace=NAMESPACE, create_namespace=True
                )
            assert done["status"] == "deployed"
            wait_for(lambda: roles(dev), 60, "two operator pods Ready, one of them leading")
            yield Install(dev, values, receiver)
        finally:
            receiver.close()


def test_a_notifier_posts_to_the_url_in_the_secret_the_chart_mounts(installed: Install) -> None:
    """The config names the file in the Secret's volume (/var/run/slipway/notifiers/team-chat/url): the
    pods start with it (one they could not read stops the operator at start, ConfigError), a Release
    that subscribes is told of its first release there, and the URL is in no log line."""
    cluster = installed.namespace("notified")
    manifest = release_manifest("1")
    manifest["spec"]["notify"] = [{"notifier": "team-chat", "on": ["Promoted"]}]
    cluster.apply(manifest)
    cluster.wait_phase("Healthy", "1", timeout=60)
    told = wait_for(
        lambda: [b for b in installed.receiver.bodies if b["release"]["namespace"] == "notified"],
        30,
        "the notification of the first release",
    )
    assert told[0]["on"] == ["Promoted"] and told[0]["version"] == "1"
    for pod in operator_pods(installed.dev):
        assert installed.receiver.url not in logs_of(installed.dev, pod)


def test_two_pods_one_leads_one_stands_by_under_a_disruption_budget(installed: Install) -> None:
    dev = installed.dev
    assert dev.kubectl("get", "crd", "releases.slipway.dev").returncode == 0
    found = wait_for(lambda: roles(dev), 30, "one leader and one standby")
    for pod in (found.leader, *found.standbys):
        assert pod["spec"]["serviceAccountName"] == "slipway"
        assert pod["spec"]["containers"][0]["image"] == "slipway/slipway:0.1.0"
    standby = json_lines(found.logs[found.standbys[0]["metadata"]["name"]])
    assert [line["event"] for line in standby if line.get("event") in ("standing by", "leading")] == [
        "standing by"
    ]
    budget = dev.kubectl_json("get", "pdb", "slipway", "-n", NAMESPACE)
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "slipway"


def test_blue_green_from_the_chart_pod(installed: Install) -> None:
    blue_green(installed.namespace("blue-green"))
    one_active(installed.dev)


def test_manual_actions_from_the_chart_pod(installed: Install) -> None:
    manual_actions(installed.namespace("manual"))
    one_active(installed.dev)


def canary_at(cluster: Cluster, weight: int) -> Obj | None:
    status = cluster.status()
    return status if (status.get("canary") or {}).get("weight") == weight else None


def test_canary_promoted_across_a_helm_upgrade_then_rolled_back(installed: Install) -> None:
    dev, values = installed.dev, installed.values
    cluster = installed.namespace("canary")
    v1 = first_release(cluster)
    # v2 in flight when `helm upgrade` changes the config: the checksum rolls the pods one at a time
    # (a new standby first), the old leader hands the Lease over as it stops, and the new leader
    # carries the same rollout on to its promotion (no new revision, one history entry).
    in_flight = [
        {"setWeight": 50},
        {"pause": {"duration": "4s"}},
        {"analysis": {"successfulMeasurements": 2}},
    ]
    cluster.apply(release_manifest("2", steps=in_flight))
    split = wait_for(lambda: canary_at(cluster, 50), 30, "v2 at weight 50")
    # (Read now: the pods and their logs go as the rolling update replaces them.)
    one_active(dev)
    old = {
        pod["metadata"]["name"]: pod["metadata"]["annotations"]["checksum/config"]
        for pod in operator_pods(dev)
    }
    upgraded = {**values, "config": {**values["config"], "defaults": {"analysisIntervalSeconds": 20}}}
    with helm_config(dev) as config:
        assert config.upgrade(str(CHART), "slipway", upgraded, namespace=NAMESPACE)["revision"] == 2

    def replaced() -> Roles | None:
        found = roles(dev)
        pods = [found.leader, *found.standbys] if found else []
        renewed = pods and all(
            p["metadata"]["name"] not in old
            and p["metadata"]["annotations"]["checksum/config"] not in old.values()
            for p in pods
        )
        return found if renewed else None

    wait_for(replaced, 90, "both pods replaced by the upgrade, one of them leading")
    v2 = cluster.wait_phase("Healthy", "2", timeout=60)
    assert v2["stable"]["revision"] == split["canary"]["revision"] != v1["stable"]["revision"]
    assert [h["outcome"] for h in v2["history"] if h["revision"] == v2["stable"]["revision"]] == ["Promoted"]

    cluster.apply(release_manifest("3", error_rate=0.3, steps=[{"setWeight": 50}, {"pause": {}}]))
    degraded = cluster.wait_phase("Degraded", "2", timeout=60)
    assert (degraded["lastRollback"]["reason"], degraded["lastRollback"]["metric"]) == (
        "AnalysisFailed",
        "error-rate",
    )
    after = one_active(dev)
    lines = json_lines(after.logs[after.leader["metadata"]["name"]])
    assert any(line.get("release") == "web" and line.get("phase") == "Degraded" for line in lines)


def test_another_pod_takes_over_the_rollout_when_the_leader_pod_is_deleted(installed: Install) -> None:
    dev = installed.dev
    cluster = installed.namespace("failover")
    first_release(cluster)
    steps = [{"setWeight": 50}, {"pause": {"duration": "3s"}}, {"analysis": {"successfulMeasurements": 2}}]
    cluster.apply(release_manifest("2", steps=steps))
    split = wait_for(lambda: canary_at(cluster, 50), 30, "v2 at weight 50")
    before = one_active(dev)
    deleted = before.leader["metadata"]["name"]
    dev.kubectl("delete", "pod", "-n", NAMESPACE, deleted, "--wait=false")

    # The leader releases the Lease as it stops; whichever candidate claims it next leads: the standby,
    # or the pod the Deployment started in place of the deleted one.
    def taken_over() -> Roles | None:
        found = roles(dev)
        return found if found and found.leader["metadata"]["name"] != deleted else None

    wait_for(taken_over, 60, "another pod leading, and a standby")
    v2 = cluster.wait_phase("Healthy", "2", timeout=60)
    assert v2["stable"]["revision"] == split["canary"]["revision"]
    assert [h["outcome"] for h in v2["history"] if h["revision"] == v2["stable"]["revision"]] == ["Promoted"]
    one_active(dev)


def test_helm_uninstall_leaves_only_the_crd(installed: Install) -> None:
    # Helm never deletes what crds/ installed, and nothing else of the chart may stay.
    with helm_config(installed.dev) as config:
        config.uninstall("slipway", timeout=60)
    left = installed.dev.kubectl(
        "get",
        "deploy,svc,sa,cm,role,rolebinding,pdb,clusterrole,clusterrolebinding",
        "-A",
        "-l",
        "app.kubernetes.io/instance=slipway",
        "-o",
        "name",
    ).stdout.split()
    assert left == []
    assert installed.dev.kubectl("get", "crd", "releases.slipway.dev").returncode == 0


def cluster_scoped(dev: DevCluster) -> set[str]:
    """Every cluster-scoped object the dev cluster can list, as `kind.group/name`."""
    kinds = dev.kubectl("api-resources", "--namespaced=false", "--verbs=list", "-o", "name").stdout.split()
    return set(dev.kubectl("get", ",".join(kinds), "-o", "name").stdout.split())


@pytest.mark.dev_cluster(prometheus="on", release_crd=False)
def test_namespaced_mode_creates_nothing_cluster_scoped_and_rolls_out(dev_cluster: DevCluster) -> None:
    for name in (NAMESPACE, "shop"):
        dev_cluster.kubectl("create", "namespace", name)
    before = cluster_scoped(dev_cluster)
    values = {
        "watchNamespaces": ["shop"],
        "replicas": 1,
        "leaderElection": {"enabled": False},
        "config": {"prometheus": {"url": dev_cluster.prometheus_url}},
    }
    with helm_config(dev_cluster) as config:
        assert config.install(str(CHART), "slipway", values, namespace=NAMESPACE)["status"] == "deployed"
    assert cluster_scoped(dev_cluster) - before == {
        "customresourcedefinition.apiextensions.k8s.io/releases.slipway.dev"
    }

    pod = wait_for(lambda: operator_pods(dev_cluster), 40, "the operator pod Ready")[0]
    shop = Cluster(dev_cluster, "shop")
    first_release(shop)
    shop.apply(release_manifest("2"))
    shop.wait_phase("Healthy", "2", timeout=60)
    logs = logs_of(dev_cluster, pod)
    assert any(line.get("release") == "web" for line in json_lines(logs))
    assert forbidden_lines(logs) == []

"""`kubectl apply --server-side` (with `--force-conflicts`, `--dry-run=server`), `kubectl diff --server-side`
and `--show-managed-fields`, against a fresh API server per test.

Several cases follow the Kubernetes project's own kubectl tests (test/cmd/apply.sh,
`run_kubectl_server_side_apply_tests`); each names the upstream case it adapts.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from apiserver_support import RELEASE_CRD, REPO, Kubectl, wait_for

from slipway.manifests import applied_config
from slipway_dev.cluster import DevCluster

POD = """
apiVersion: v1
kind: Pod
metadata: {name: test-pod, labels: {name: test-pod-label}}
spec:
  containers: [{name: kubernetes-pause, image: registry.k8s.io/pause:3.10}]
"""
POD_APPLIED = POD.replace("test-pod-label", "test-pod-applied")

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: example/app:1
        ports: [{containerPort: 8080, name: http}]
        env: [{name: MODE, value: fast}]
"""


def _managers(kubectl: Kubectl, *what: str) -> list[tuple[str, str]]:
    obj = kubectl.json("get", *what, "--show-managed-fields")
    return [(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields", [])]


def _rv(kubectl: Kubectl, *what: str) -> str:
    return str(kubectl.json("get", *what)["metadata"]["resourceVersion"])


def test_apply_creates_with_kubectl_as_manager_then_a_named_manager_forces(kubectl: Kubectl) -> None:
    # Upstream: "kubectl apply should create the resource that doesn't exist yet" and "pod has custom
    # field manager".
    assert "pod/test-pod serverside-applied" in kubectl("apply", "--server-side", "-f", "-", input=POD)
    pod = kubectl.json("get", "pod", "test-pod")
    assert pod["metadata"]["labels"] == {"name": "test-pod-label"}
    assert ("kubectl", "Apply") in _managers(kubectl, "pod", "test-pod")
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=my-field-manager",
        "--force-conflicts",
        "-f",
        "-",
        input=POD,
    )
    assert ("my-field-manager", "Apply") in _managers(kubectl, "pod", "test-pod")


def test_server_dry_run_creates_and_changes_nothing(kubectl: Kubectl) -> None:
    # Upstream: "kubectl apply --dry-run=server".
    out = kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=POD)
    assert "serverside-applied (server dry run)" in out
    assert kubectl("get", "pods", "-o", "name") == ""
    kubectl("apply", "--server-side", "-f", "-", input=POD)
    before = _rv(kubectl, "pod", "test-pod")
    kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=POD_APPLIED)
    pod = kubectl.json("get", "pod", "test-pod")
    assert pod["metadata"]["labels"]["name"] == "test-pod-label"
    assert pod["metadata"]["resourceVersion"] == before


def test_upgrade_from_client_side_apply_and_back(kubectl: Kubectl) -> None:
    # Upstream: "Testing upgrade kubectl client-side apply to server-side apply" and the downgrade.
    kubectl("apply", "-f", "-", input=POD)
    assert ("kubectl-client-side-apply", "Update") in _managers(kubectl, "pod", "test-pod")
    refused = kubectl.run(
        "apply", "--server-side", "--field-manager=not-kubectl", "-f", "-", input=POD_APPLIED
    )
    assert refused.returncode != 0
    assert 'conflict with "kubectl-client-side-apply" using v1: .metadata.labels.name' in refused.stderr
    kubectl("apply", "--server-side", "-f", "-", input=POD_APPLIED)
    assert kubectl.json("get", "pod", "test-pod")["metadata"]["labels"]["name"] == "test-pod-applied"
    last = json.loads(kubectl("apply", "view-last-applied", "pod/test-pod", "-o", "json"))
    assert last["metadata"]["labels"]["name"] == "test-pod-applied"
    # Downgrade: a server-side apply keeps the annotation current, so client-side apply works after it.
    kubectl("apply", "--server-side", "-f", "-", input=POD)
    last = json.loads(kubectl("apply", "view-last-applied", "pod/test-pod", "-o", "json"))
    assert last["metadata"]["labels"]["name"] == "test-pod-label"
    kubectl("apply", "-f", "-", input=POD_APPLIED)
    assert kubectl.json("get", "pod", "test-pod")["metadata"]["labels"]["name"] == "test-pod-applied"


def test_key_no_longer_applied_is_removed_after_upgrade(kubectl: Kubectl) -> None:
    # Upstream: the ConfigMap "legacy: unused" case at the end of run_kubectl_server_side_apply_tests.
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: test}\ndata: {key: value, legacy: unused}\n"
    kubectl("apply", "-f", "-", input=config)
    assert "legacy: unused" in kubectl("get", "configmap", "test", "-o", "yaml")
    kubectl("apply", "--server-side", "-f", "-", input=config)
    assert "legacy: unused" in kubectl("get", "configmap", "test", "-o", "yaml")
    kubectl("apply", "--server-side", "-f", "-", input=config.replace(", legacy: unused", ""))
    assert kubectl.json("get", "configmap", "test")["data"] == {"key": "value"}


def test_conflict_names_manager_and_field_and_force_moves_ownership(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "-f", "-", input=DEPLOYMENT)
    kubectl("scale", "deployment", "web", "--replicas=5")
    scaled = kubectl.json("get", "deployment", "web", "--show-managed-fields")["metadata"]["managedFields"]
    scaler = next(e for e in scaled if e["operation"] == "Update")
    assert scaler["subresource"] == "scale" and scaler["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    three = DEPLOYMENT.replace("replicas: 2", "replicas: 3")
    refused = kubectl.run("apply", "--server-side", "--field-manager=ci", "-f", "-", input=three)
    assert refused.returncode != 0
    assert (
        f'Apply failed with 1 conflict: conflict with "{scaler["manager"]}" with subresource "scale" '
        "using apps/v1: .spec.replicas" in (refused.stderr)
    )
    assert kubectl.json("get", "deployment", "web")["spec"]["replicas"] == 5
    kubectl("apply", "--server-side", "--field-manager=ci", "--force-conflicts", "-f", "-", input=three)
    entries = kubectl.json("get", "deployment", "web", "--show-managed-fields")["metadata"]["managedFields"]
    assert kubectl.json("get", "deployment", "web")["spec"]["replicas"] == 3
    assert all(e["operation"] == "Apply" for e in entries)  # the scaler owned only replicas: gone
    ci = next(e for e in entries if e["manager"] == "ci")
    assert "f:replicas" in ci["fieldsV1"]["f:spec"]


def test_diff_server_side_shows_the_change_and_changes_nothing(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "-f", "-", input=DEPLOYMENT)
    before = _rv(kubectl, "deployment", "web")
    diff = kubectl.run(
        "diff", "--server-side", "-f", "-", input=DEPLOYMENT.replace("example/app:1", "example/app:2")
    )
    assert diff.returncode == 1, diff.stderr  # 1: differences found
    assert "-        image: example/app:1" in diff.stdout and "+        image: example/app:2" in diff.stdout
    assert _rv(kubectl, "deployment", "web") == before
    assert kubectl.run("diff", "--server-side", "-f", "-", input=DEPLOYMENT).returncode == 0


def test_managed_fields_hidden_by_default_and_shown_on_request(kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "plain", "--from-literal=a=1")
    assert "managedFields" not in kubectl("get", "configmap", "plain", "-o", "yaml")
    shown = yaml.safe_load(kubectl("get", "configmap", "plain", "-o", "yaml", "--show-managed-fields"))
    (entry,) = shown["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl-create" and entry["operation"] == "Update"
    assert entry["fieldsType"] == "FieldsV1" and entry["apiVersion"] == "v1" and entry["time"]
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    kubectl("label", "configmap", "plain", "tier=web")
    managers = _managers(kubectl, "configmap", "plain")
    assert ("kubectl-label", "Update") in managers


def test_service_ports_merge_by_port_and_protocol_between_managers(kubectl: Kubectl) -> None:
    service = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""
    kubectl("apply", "--server-side", "--field-manager=team-a", "-f", "-", input=service)
    other = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{name: metrics, port: 9090, protocol: TCP}]
"""
    kubectl("apply", "--server-side", "--field-manager=team-b", "-f", "-", input=other)
    ports = kubectl.json("get", "service", "web")["spec"]["ports"]
    assert [p["port"] for p in ports] == [80, 9090]
    # team-a stops applying its port: only that one goes; team-b's stays.
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=team-a",
        "-f",
        "-",
        input=service.replace("  ports: [{name: http, port: 80, targetPort: 8080}]\n", ""),
    )
    spec = kubectl.json("get", "service", "web")["spec"]
    assert [p["port"] for p in spec["ports"]] == [9090]
    assert spec["selector"] == {"app": "web"}


def _release(tmp_path: Path, metrics: list[dict[str, object]], replicas: int = 4) -> str:
    release = yaml.safe_load((REPO / "examples" / "canary.yaml").read_text())
    release["spec"]["analysis"]["metrics"] = metrics
    release["spec"]["replicas"] = replicas
    return yaml.safe_dump(release)


def test_release_custom_resource_lists_merge_by_declared_keys(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "--server-side", "-f", str(RELEASE_CRD))
    kubectl("wait", "--for=condition=Established", "crd/releases.slipway.dev", "--timeout=10s")
    # Upstream: "kubectl apply dry-run on CR": a dry-run apply of a new custom resource creates nothing.
    error_rate = {"name": "error-rate", "builtin": "error-rate"}
    kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=_release(tmp_path, [error_rate]))
    assert kubectl("get", "releases", "-o", "name") == ""
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=platform",
        "-f",
        "-",
        input=_release(tmp_path, [error_rate]),
    )
    latency = {"name": "latency-p95", "builtin": "latency-p95", "thresholdRange": {"max": 0.25}}
    # Another applier adds its own metric (metrics is a list-type map keyed by name in the CRD schema).
    theirs = yaml.safe_load(_release(tmp_path, [latency]))
    theirs["spec"] = {"analysis": {"metrics": [latency]}}
    kubectl("apply", "--server-side", "--field-manager=sre", "-f", "-", input=yaml.safe_dump(theirs))
    metrics = kubectl.json("get", "release", "web")["spec"]["analysis"]["metrics"]
    assert [m["name"] for m in metrics] == ["error-rate", "latency-p95"]
    # A different replicas value from a third manager conflicts; forcing moves it.
    refused = kubectl.run(
        "apply",
        "--server-side",
        "--field-manager=scaler",
        "-f",
        "-",
        input=yaml.safe_dump({**theirs, "spec": {"replicas": 6}}),
    )
    assert 'conflict with "platform": .spec.replicas' in refused.stderr
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=scaler",
        "--force-conflicts",
        "-f",
        "-",
        input=yaml.safe_dump({**theirs, "spec": {"replicas": 6}}),
    )
    release = kubectl.json("get", "release", "web", "--show-managed-fields")
    assert release["spec"]["replicas"] == 6
    platform = next(e for e in release["metadata"]["managedFields"] if e["manager"] == "platform")
    assert "f:replicas" not in platform["fieldsV1"]["f:spec"]
    assert 'k:{"name":"error-rate"}' in platform["fieldsV1"]["f:spec"]["f:analysis"]["f:metrics"]
    # The platform team drops the replicas it no longer owns and its metric: the metric goes, the
    # replicas (now the scaler's) stay.
    mine = yaml.safe_load(_release(tmp_path, [latency]))
    del mine["spec"]["replicas"]
    kubectl("apply", "--server-side", "--field-manager=platform", "-f", "-", input=yaml.safe_dump(mine))
    release = kubectl.json("get", "release", "web")
    assert release["spec"]["replicas"] == 6
    assert [m["name"] for m in release["spec"]["analysis"]["metrics"]] == ["latency-p95"]


def test_server_side_apply_in_the_simulated_world(dev_cluster: DevCluster) -> None:
    """The whole dev cluster: controllers write status under their own manager, so re-applying a
    Deployment server-side never conflicts with them, and scaling by apply rolls pods as usual."""
    kubectl = dev_cluster.kubectl
    manifest = DEPLOYMENT.replace("example/app:1", "demo:1")
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", input=manifest).stdout

    def ready(replicas: int) -> bool:
        status = dev_cluster.kubectl_json("get", "deployment", "web").get("status", {})
        return status.get("readyReplicas") == replicas and status.get("updatedReplicas") == replicas

    wait_for(lambda: ready(2), timeout=30)
    deployment = dev_cluster.kubectl_json("get", "deployment", "web", "--show-managed-fields")
    managers = {
        (e["manager"], e["operation"], e.get("subresource")) for e in deployment["metadata"]["managedFields"]
    }
    assert ("kubectl", "Apply", None) in managers
    assert ("slipway-dev-world", "Update", "status") in managers
    pod = dev_cluster.kubectl_json("get", "pods", "-l", "app=web", "--show-managed-fields")["items"][0]
    assert {e["manager"] for e in pod["metadata"]["managedFields"]} == {"slipway-dev-world"}
    kubectl("apply", "--server-side", "-f", "-", input=manifest.replace("replicas: 2", "replicas: 3"))
    wait_for(lambda: ready(3), timeout=30)


def test_container_ports_default_to_tcp_so_an_extracted_apply_keeps_them(kubectl: Kubectl) -> None:
    """A real server defaults a container port's protocol, half of its key in managedFields: the
    configuration a manager applied, read back from them (slipway.manifests.applied_config, as
    client-go's Extract), keeps its ports, and applying it again changes no pod template."""
    kubectl("apply", "--server-side", "--field-manager=slipway", "-f", "-", input=DEPLOYMENT)
    before = kubectl.json("get", "deployment", "web", "--show-managed-fields")
    assert before["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 8080, "name": "http", "protocol": "TCP"}
    ]
    config = applied_config(before, "slipway")
    assert config["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080
    config["spec"]["replicas"] = 3
    kubectl("apply", "--server-side", "--field-manager=slipway", "-f", "-", input=json.dumps(config))
    after = kubectl.json("get", "deployment", "web")
    assert after["spec"]["replicas"] == 3
    assert after["spec"]["template"] == before["spec"]["template"]

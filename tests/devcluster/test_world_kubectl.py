"""The simulated world through the real kubectl: Deployments, pods, rollouts, scaling, Jobs, GC."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from slipway_dev.apiserver.faults import FaultConfig
from slipway_dev.cluster import DevCluster

DEADLINE_SECONDS = 30.0


def wait_until(check: Callable[[], Any], what: str, timeout: float = DEADLINE_SECONDS) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {result!r}")
        time.sleep(0.1)


def deployment(name: str, replicas: int = 2, image: str = "demo:1", deadline: int = 600, **env: str) -> str:
    env_yaml = "".join(
        f"\n        - {{name: {key}, value: {json.dumps(value)}}}" for key, value in env.items()
    )
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: {deadline}
  selector: {{matchLabels: {{app: {name}}}}}
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: app
        image: {image}
        env:
        - {{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0.3"}}{env_yaml}
"""


WEB_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
"""


def pods(cluster: DevCluster, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.kubectl_json("get", "pods", "-l", selector)["items"]
    return items


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def test_a_deployment_gets_pods_that_become_ready_after_startup(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=deployment("web", 3, SLIPWAY_DEMO_STARTUP_SECONDS="1.5"))
    created = wait_until(
        lambda: len(pods(dev_cluster, "app=web")) == 3 and pods(dev_cluster, "app=web"), "3 pods"
    )
    assert not any(is_ready(pod) for pod in created)  # still starting: startup is 1.5 s
    started = time.monotonic()
    rollout = dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    assert 'deployment "web" successfully rolled out' in rollout.stdout
    assert time.monotonic() - started < 5
    ready = pods(dev_cluster, "app=web")
    assert all(is_ready(pod) and pod["status"]["phase"] == "Running" for pod in ready)
    assert all(
        pod["status"]["podIP"] == "127.0.0.1" and pod["metadata"]["annotations"]["slipway.dev/sim-port"]
        for pod in ready
    )
    status = dev_cluster.kubectl_json("get", "deployment", "web")["status"]
    assert {k: status[k] for k in ("replicas", "readyReplicas", "updatedReplicas", "availableReplicas")} == {
        "replicas": 3,
        "readyReplicas": 3,
        "updatedReplicas": 3,
        "availableReplicas": 3,
    }
    assert status["observedGeneration"] == 1
    conditions = {c["type"]: c["reason"] for c in status["conditions"]}
    assert conditions == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    table = dev_cluster.kubectl("get", "pods", "-l", "app=web").stdout
    assert table.count("1/1     Running") == 3
    described = dev_cluster.kubectl("describe", "pods", "-l", "app=web").stdout
    assert described.count("Normal  Started") == 3 and "kubelet  Started container app" in described


def test_crashing_pods_never_get_ready_and_the_progress_deadline_is_exceeded(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=deployment("bad", 2, deadline=2, SLIPWAY_DEMO_CRASH="1"))
    rollout = dev_cluster.kubectl("rollout", "status", "deployment/bad", "--timeout=20s", check=False)
    assert rollout.returncode != 0
    assert 'deployment "bad" exceeded its progress deadline' in rollout.stderr
    crashed = pods(dev_cluster, "app=bad")
    assert len(crashed) == 2 and not any(is_ready(pod) for pod in crashed)
    waiting = crashed[0]["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"
    rows = [
        line.split()
        for line in dev_cluster.kubectl("get", "pods", "-l", "app=bad", "--no-headers").stdout.splitlines()
    ]
    assert [row[1:3] for row in rows] == [["0/1", "CrashLoopBackOff"]] * 2
    described = dev_cluster.kubectl("describe", "pod", crashed[0]["metadata"]["name"]).stdout
    assert "Warning  BackOff" in described
    assert "kubelet  Back-off restarting failed container app" in described
    progressing = dev_cluster.kubectl(
        "get", "deployment", "bad", "-o", "jsonpath={.status.conditions[?(@.type=='Progressing')].reason}"
    ).stdout
    assert progressing == "ProgressDeadlineExceeded"


def test_scaling_is_followed_both_ways(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=deployment("web", 1))
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    for replicas in (4, 1):
        dev_cluster.kubectl("scale", "deployment/web", f"--replicas={replicas}")
        dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
        wait_until(lambda n=replicas: len(pods(dev_cluster, "app=web")) == n, f"{replicas} pods")
        assert dev_cluster.kubectl_json("get", "deployment", "web")["status"]["availableReplicas"] == replicas


def test_a_template_change_rolls_every_pod_to_a_new_replica_set(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=deployment("web", 3))
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    first = {pod["metadata"]["name"] for pod in pods(dev_cluster, "app=web")}
    dev_cluster.kubectl("set", "image", "deployment/web", "app=demo:2")
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    wait_until(lambda: len(pods(dev_cluster, "app=web")) == 3, "old pods gone")
    rolled = pods(dev_cluster, "app=web")
    assert not first & {pod["metadata"]["name"] for pod in rolled}
    assert {pod["spec"]["containers"][0]["image"] for pod in rolled} == {"demo:2"}
    sets = {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs
        for rs in dev_cluster.kubectl_json("get", "replicasets", "-l", "app=web")["items"]
    }
    assert (sets["demo:1"]["spec"]["replicas"], sets["demo:2"]["spec"]["replicas"]) == (0, 3)
    assert sets["demo:2"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert "deployment.apps/web" in dev_cluster.kubectl("rollout", "history", "deployment/web").stdout
    described = dev_cluster.kubectl("describe", "deployment", "web").stdout
    new_name, old_name = sets["demo:2"]["metadata"]["name"], sets["demo:1"]["metadata"]["name"]
    assert f"Scaled up replica set {new_name} from 0 to 1" in described
    assert f"Scaled down replica set {old_name} from 1 to 0" in described


def test_deleting_a_deployment_collects_its_replica_sets_and_pods(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=deployment("web", 2))
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    dev_cluster.kubectl("delete", "deployment", "web", "--wait=true", "--timeout=20s")
    wait_until(lambda: not pods(dev_cluster, "app=web"), "pods collected")
    assert dev_cluster.kubectl_json("get", "replicasets", "-l", "app=web")["items"] == []


def test_pods_metrics_count_the_gateway_load_with_the_configured_error_rate(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl(
        "apply", "-f", "-", input=deployment("web", 2, SLIPWAY_DEMO_ERROR_RATE="0.25") + "---\n" + WEB_SERVICE
    )
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")

    def totals() -> dict[str, float]:
        counts: dict[str, float] = {}
        for pod in pods(dev_cluster, "app=web"):
            raw = dev_cluster.kubectl(
                "get", "--raw", f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}"
            )
            port = json.loads(raw.stdout)["metadata"]["annotations"]["slipway.dev/sim-port"]
            for line in _scrape(int(port)).splitlines():
                if line.startswith("http_requests_total{"):
                    code = line.split('"')[1]
                    counts[code] = counts.get(code, 0) + float(line.split()[-1])
        return counts

    def enough_served() -> dict[str, float] | None:
        counts = totals()
        return counts if sum(counts.values()) >= 40 else None

    counts = wait_until(enough_served, "40 requests served")
    # Each pod fails exactly floor(n * rate) of its n requests: off by less than one per pod.
    assert abs(counts["500"] - 0.25 * sum(counts.values())) < 2
    assert set(counts) == {"200", "500"}
    stats = dev_cluster.gateway_stats()["service/default/web"]
    assert stats.connection_errors == 0 and stats.by_code[500] > 0


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return str(answer.read().decode())


def job(name: str, exit_code: int) -> str:
    return f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: smoke
        image: smoke:1
        env:
        - {{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0.5"}}
        - {{name: SLIPWAY_DEMO_EXIT_CODE, value: "{exit_code}"}}
"""


@pytest.mark.parametrize(
    ("exit_code", "condition", "phase", "printed"),
    [(0, "Complete", "Succeeded", "Completed"), (3, "Failed", "Failed", "Error")],
)
def test_a_job_runs_its_pod_and_reports_complete_or_failed(
    dev_cluster: DevCluster, exit_code: int, condition: str, phase: str, printed: str
) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=job("smoke", exit_code))
    dev_cluster.kubectl("wait", f"--for=condition={condition}", "job/smoke", "--timeout=20s")
    (pod,) = pods(dev_cluster, "job-name=smoke")
    assert pod["status"]["phase"] == phase
    row = dev_cluster.kubectl("get", "pods", "-l", "job-name=smoke", "--no-headers").stdout.split()
    assert row[1:4] == ["0/1", printed, "0"]
    uid = dev_cluster.kubectl_json("get", "job", "smoke")["metadata"]["uid"]
    job_row = dev_cluster.kubectl("get", "job", "smoke", "-o", "wide", "--no-headers").stdout.split()
    assert job_row[-3:] == ["smoke", "smoke:1", f"batch.kubernetes.io/controller-uid={uid}"]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == exit_code
    status = dev_cluster.kubectl_json("get", "job", "smoke")["status"]
    assert (status.get("succeeded", 0), status.get("failed", 0)) == ((1, 0) if exit_code == 0 else (0, 1))


FAULTS = FaultConfig(
    write_error_rate=0.15, write_conflict_rate=0.1, watch_drop_seconds=1.0, watch_history_size=15, seed=7
)


def kubectl_retrying(cluster: DevCluster, *args: str, input: str | None = None) -> None:
    """kubectl's own writes meet the injected faults too; a user would simply run it again."""
    deadline = time.monotonic() + 30
    while cluster.kubectl(*args, input=input, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"kubectl {args} kept failing"
        time.sleep(0.1)


@pytest.mark.dev_cluster(faults=FAULTS, release_crd=False)
def test_rollouts_converge_despite_failed_writes_dropped_watches_and_410s(dev_cluster: DevCluster) -> None:
    kubectl_retrying(dev_cluster, "apply", "-f", "-", input=deployment("web", 5))
    wait_until(
        lambda: len(ready := [p for p in pods(dev_cluster, "app=web") if is_ready(p)]) == 5 and ready,
        "5 ready pods",
    )
    kubectl_retrying(dev_cluster, "set", "image", "deployment/web", "app=demo:2")

    def rolled() -> bool:
        current = pods(dev_cluster, "app=web")
        status = dev_cluster.kubectl_json("get", "deployment", "web")["status"]
        return (
            len(current) == 5
            and all(is_ready(p) and p["spec"]["containers"][0]["image"] == "demo:2" for p in current)
            and status.get("updatedReplicas")
            == status.get("availableReplicas")
            == status.get("replicas")
            == 5
        )

    wait_until(rolled, "5 ready demo:2 pods and an honest status", timeout=45)


def crd(group: str, version: str, kind: str, plural: str) -> str:
    """A schemaless CRD, standing in for a routing API the dev cluster does not ship."""
    return f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: {plural}, singular: {kind.lower()}, kind: {kind}, listKind: {kind}List}}
  versions:
  - name: {version}
    served: true
    storage: true
    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
"""


def track(name: str) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-{name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web, track: {name}}}}}
  template:
    metadata: {{labels: {{app: web, track: {name}}}}}
    spec:
      containers:
      - {{name: app, image: "demo:{name}", env: [{{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0"}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web-{name}}}
spec: {{selector: {{app: web, track: {name}}}, ports: [{{port: 80}}]}}
"""


HTTPROUTE = (
    crd("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
    + """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gateway}]
  rules:
  - backendRefs:
    - {name: web-stable, port: 80, weight: 75}
    - {name: web-canary, port: 80, weight: 25}
"""
)

VIRTUALSERVICE = (
    crd("networking.istio.io", "v1", "VirtualService", "virtualservices")
    + """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web.example.com]
  http:
  - route:
    - {destination: {host: web-stable}, weight: 75}
    - {destination: {host: web-canary.default.svc.cluster.local}, weight: 25}
"""
)


def ingress(name: str, annotations: str) -> str:
    return f"""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}, annotations: {annotations}}}
spec:
  ingressClassName: nginx
  rules:
  - host: web.example.com
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: {name}, port: {{number: 80}}}}}}}}
"""


CANARY_INGRESS = (
    ingress("web-stable", "{}")
    + "---"
    + ingress(
        "web-canary",
        '{nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "25"}',
    )
)


@pytest.mark.dev_cluster(rps=100)
@pytest.mark.parametrize(
    ("api", "routing", "entry_point"),
    [
        (
            crd("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
            HTTPROUTE,
            "httproute/default/web",
        ),
        (
            crd("networking.istio.io", "v1", "VirtualService", "virtualservices"),
            VIRTUALSERVICE,
            "virtualservice/default/web",
        ),
        (None, CANARY_INGRESS, "ingress/default/web.example.com"),
    ],
    ids=["httproute", "virtualservice", "canary-ingress"],
)
def test_routing_objects_split_the_gateway_load_by_their_weights(
    dev_cluster: DevCluster, api: str | None, routing: str, entry_point: str
) -> None:
    if api is not None:
        dev_cluster.kubectl("apply", "-f", "-", input=api)
    dev_cluster.kubectl("apply", "-f", "-", input=track("stable") + "---" + track("canary"))
    dev_cluster.kubectl("apply", "-f", "-", input=routing)
    for name in ("stable", "canary"):
        dev_cluster.kubectl("rollout", "status", f"deployment/web-{name}", "--timeout=20s")

    def served_by_route(at_least: int) -> Callable[[], bool]:
        def check() -> bool:
            route = dev_cluster.gateway_stats().get(entry_point)
            return route is not None and route.sent >= at_least

        return check

    def served_by_track() -> dict[str, float]:
        counts = {}
        for pod in pods(dev_cluster, "app=web"):
            port = int(pod["metadata"]["annotations"]["slipway.dev/sim-port"])
            counts[pod["metadata"]["labels"]["track"]] = sum(
                float(line.split()[-1])
                for line in _scrape(port).splitlines()
                if line.startswith("http_requests_total{")
            )
        return counts

    # Until the gateway has seen the route, each Service is an entry point of its own: measure after that.
    wait_until(served_by_route(20), "the route in use")
    before, stats_before = served_by_track(), dev_cluster.gateway_stats()
    wait_until(served_by_route(220), "200 more requests through the route")
    after, stats_after = served_by_track(), dev_cluster.gateway_stats()
    canary, stable = after["canary"] - before["canary"], after["stable"] - before["stable"]
    assert abs(canary / (canary + stable) - 0.25) < 0.03, (before, after)
    # The route claims both Services: nothing reaches them as entry points of their own any more.
    for name in stats_after.keys() - {entry_point}:
        sent_before = stats_before[name].sent if name in stats_before else 0
        assert stats_after[name].sent - sent_before <= 5, name  # at most the requests then in flight


def test_a_deleted_pod_is_replaced_and_its_server_stops(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=deployment("web", 2))
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    victim = pods(dev_cluster, "app=web")[0]
    port = int(victim["metadata"]["annotations"]["slipway.dev/sim-port"])
    dev_cluster.kubectl("delete", "pod", victim["metadata"]["name"])

    def replaced() -> bool:
        current = pods(dev_cluster, "app=web")
        names = {pod["metadata"]["name"] for pod in current}
        return len(current) == 2 and victim["metadata"]["name"] not in names and all(map(is_ready, current))

    wait_until(replaced, "a ready replacement pod")
    serving = {pod["metadata"]["annotations"]["slipway.dev/sim-port"] for pod in pods(dev_cluster, "app=web")}
    if str(port) not in serving:  # the kernel may hand the freed port to the replacement
        with pytest.raises(OSError):
            _scrape(port)


def test_rollout_undo_brings_back_the_previous_replica_set_as_the_newest_revision(
    dev_cluster: DevCluster,
) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=deployment("web", 2))
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    (first,) = dev_cluster.kubectl_json("get", "replicasets", "-l", "app=web")["items"]
    dev_cluster.kubectl("set", "image", "deployment/web", "app=demo:2")
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    dev_cluster.kubectl("rollout", "undo", "deployment/web")
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    sets = {
        rs["metadata"]["name"]: rs
        for rs in dev_cluster.kubectl_json("get", "replicasets", "-l", "app=web")["items"]
    }
    assert len(sets) == 2  # the first replica set is reused, not a third one made
    back = sets[first["metadata"]["name"]]
    assert back["spec"]["replicas"] == 2
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    wait_until(
        lambda: {p["spec"]["containers"][0]["image"] for p in pods(dev_cluster, "app=web")} == {"demo:1"},
        "only demo:1 pods",
    )


def test_a_reused_replica_set_records_its_earlier_revisions(dev_cluster: DevCluster) -> None:
    # Follows test/cmd/apps.sh run_deployment_tests (rollout undo, undo, pause/resume, undo): the
    # real deployment controller keeps a reused replica set's earlier revisions in revision-history.
    dev_cluster.kubectl("apply", "-f", "-", input=deployment("web", 1))
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    dev_cluster.kubectl("set", "image", "deployment/web", "app=demo:2")
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    for _ in range(2):
        dev_cluster.kubectl("rollout", "undo", "deployment/web")
        dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    dev_cluster.kubectl("rollout", "pause", "deployment/web")
    dev_cluster.kubectl("rollout", "resume", "deployment/web")
    dev_cluster.kubectl("rollout", "undo", "deployment/web")
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")

    def annotations() -> dict[str, dict[str, str]]:
        items = dev_cluster.kubectl_json("get", "replicasets", "-l", "app=web")["items"]
        return {
            rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs["metadata"]["annotations"]
            for rs in items
        }

    found = wait_until(
        lambda: (a := annotations())["demo:1"].get("deployment.kubernetes.io/revision") == "5" and a,
        "demo:1 at revision 5",
    )
    assert found["demo:1"]["deployment.kubernetes.io/revision-history"] == "1,3"
    assert found["demo:2"]["deployment.kubernetes.io/revision"] == "4"
    assert found["demo:2"]["deployment.kubernetes.io/revision-history"] == "2"


def test_rollout_pause_holds_a_template_change_until_resume(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("apply", "-f", "-", input=deployment("web", 2))
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    dev_cluster.kubectl("rollout", "pause", "deployment/web")
    dev_cluster.kubectl("set", "image", "deployment/web", "app=demo:2")
    dev_cluster.kubectl(
        "wait",
        "--for=jsonpath={.status.conditions[?(@.type=='Progressing')].reason}=DeploymentPaused",
        "deployment/web",
        "--timeout=20s",
    )
    assert {p["spec"]["containers"][0]["image"] for p in pods(dev_cluster, "app=web")} == {"demo:1"}
    dev_cluster.kubectl("rollout", "resume", "deployment/web")
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    wait_until(
        lambda: {p["spec"]["containers"][0]["image"] for p in pods(dev_cluster, "app=web")} == {"demo:2"},
        "only demo:2 pods",
    )


def test_a_job_with_a_ttl_is_deleted_with_its_pods_after_finishing(dev_cluster: DevCluster) -> None:
    manifest = job("smoke", 0).replace("  backoffLimit: 0", "  backoffLimit: 0\n  ttlSecondsAfterFinished: 1")
    dev_cluster.kubectl("apply", "-f", "-", input=manifest)
    dev_cluster.kubectl("wait", "--for=condition=Complete", "job/smoke", "--timeout=20s")
    dev_cluster.kubectl("wait", "--for=delete", "job/smoke", "--timeout=20s")
    wait_until(lambda: not pods(dev_cluster, "job-name=smoke"), "the job's pod collected")


def test_a_service_gets_endpoints_naming_each_pod_and_its_port(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=deployment("web", 2, SLIPWAY_DEMO_STARTUP_SECONDS="3.5") + "---\n" + WEB_SERVICE,
    )

    def endpoints(kind: str) -> dict[str, int]:
        found = dev_cluster.kubectl("get", "endpoints", "web", "-o", "json", check=False)
        subsets = json.loads(found.stdout).get("subsets") or [] if found.returncode == 0 else []
        return {a["targetRef"]["name"]: s["ports"][0]["port"] for s in subsets for a in s.get(kind) or []}

    # Endpoints are rewritten at most once a second: a 3.5 s start-up is seen while it lasts.
    wait_until(lambda: len(endpoints("notReadyAddresses")) == 2, "two starting pods listed as not ready")
    dev_cluster.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    ready = wait_until(lambda: len(found := endpoints("addresses")) == 2 and found, "two ready endpoints")
    ports = {
        p["metadata"]["name"]: int(p["metadata"]["annotations"]["slipway.dev/sim-port"])
        for p in pods(dev_cluster, "app=web")
    }
    assert ready == ports
    table = dev_cluster.kubectl("get", "endpoints", "web").stdout
    assert all(f"127.0.0.1:{port}" in table for port in ports.values())
    # kubectl 1.32 describes a Service's endpoints from its EndpointSlices
    described = dev_cluster.kubectl("describe", "service", "web").stdout
    (line,) = [line for line in described.splitlines() if line.startswith("Endpoints:")]
    assert sorted(line.split()[1].split(",")) == sorted(f"127.0.0.1:{port}" for port in ports.values())
    slices = dev_cluster.kubectl_json("get", "endpointslices", "-l", "kubernetes.io/service-name=web")[
        "items"
    ]
    assert sorted(
        (s["ports"][0]["port"], s["endpoints"][0]["conditions"]["ready"]) for s in slices
    ) == sorted((port, True) for port in ports.values())
    # A pod relabelled away from the Service leaves it: the Service selected it as it was.
    taken = sorted(ports)[0]
    dev_cluster.kubectl("label", "pod", taken, "app=other", "--overwrite")
    wait_until(lambda: taken not in endpoints("addresses"), "the relabelled pod out of the endpoints")
    dev_cluster.kubectl("delete", "service", "web")
    dev_cluster.kubectl("wait", "--for=delete", "endpoints/web", "--timeout=20s")
    assert dev_cluster.kubectl("get", "endpointslices", "-o", "name").stdout == ""


def test_deleting_a_namespace_empties_it_of_everything_the_world_made(dev_cluster: DevCluster) -> None:
    dev_cluster.kubectl("create", "namespace", "shop")
    dev_cluster.kubectl("apply", "-n", "shop", "-f", "-", input=deployment("web", 2) + "---\n" + WEB_SERVICE)
    dev_cluster.kubectl("-n", "shop", "rollout", "status", "deployment/web", "--timeout=20s")
    kinds = "deployments,replicasets,pods,services,endpoints,endpointslices,events"

    def made() -> set[str]:
        names = dev_cluster.kubectl("get", kinds, "-n", "shop", "-o", "name").stdout.split()
        return {name.split("/")[0] for name in names}

    wait_until(lambda: len(made()) == 7, "an object of every kind")
    listed = dev_cluster.kubectl_json("get", "pods", "-n", "shop")["items"]
    ports = [int(p["metadata"]["annotations"]["slipway.dev/sim-port"]) for p in listed]
    assert len(ports) == 2 and all(_answers(port) for port in ports)
    # kubectl waits for the namespace to be gone, as it does on a real cluster
    dev_cluster.kubectl("delete", "namespace", "shop", "--timeout=20s")
    assert dev_cluster.kubectl("get", kinds, "-n", "shop", "-o", "name").stdout == ""
    assert dev_cluster.kubectl("get", "namespace", "shop", check=False).returncode != 0
    # the pods' servers are stopped too
    for port in ports:
        wait_until(lambda port=port: not _answers(port), f"pod server on {port} stopped")


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
            return True
    except OSError:
        return False

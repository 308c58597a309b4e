"""Adapted from kubernetes/kubernetes test/cmd/apps.sh (run_deployment_tests: create, set image, rollout
history/undo/pause/resume/status), test/cmd/scale.sh (run_kubectl_scale_tests) and test/cmd/wait.sh
(run_wait_tests), against a whole dev cluster: its Deployment controller and kubelet are the ones
upstream's test cluster runs."""

from __future__ import annotations

import threading
import time

from upstream_cases import ClusterKubectl, both, eventually, fails, get, names

from slipway_dev.cluster import DevCluster

NGINX = "registry.k8s.io/nginx:test-cmd"
IMAGES = "{{range .spec.template.spec.containers}}{{.image}}:{{end}}"
REVISION = '{{index .metadata.annotations "deployment.kubernetes.io/revision"}}'


def deployment(image: str, replicas: int = 2) -> str:
    """apps.sh's hack/testdata/deployment-revision{1,2}.yaml: `nginx`, two containers... here one."""
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: nginx, labels: {{name: nginx-undo}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{name: nginx-undo}}}}
  template:
    metadata: {{labels: {{name: nginx-undo}}}}
    spec:
      containers:
      - name: nginx
        image: {image}
        env: [{{name: SLIPWAY_DEMO_STARTUP_SECONDS, value: "0.2"}}]
"""


def test_deployments_create_set_image_and_rollout(dev_cluster: DevCluster) -> None:
    kubectl = ClusterKubectl(dev_cluster)
    # apps.sh run_deployment_tests: "Test kubectl create deployment" (apps/v1 defaults)
    kubectl("create", "deployment", "test-nginx-apps", f"--image={NGINX}")
    assert (
        get(kubectl, "deployment test-nginx-apps", "{{(index .spec.template.spec.containers 0).name}}")
        == "nginx"
    )
    assert get(kubectl, "deployment test-nginx-apps", "{{.spec.revisionHistoryLimit}}") == "10"
    # apps.sh run_deployment_tests: "describe rs": the ReplicaSet names its controlling Deployment
    eventually(lambda: (names(kubectl, "rs -l app=test-nginx-apps").count(":") == 1 and "1") or "", "1")
    assert "Controlled By:  Deployment/test-nginx-apps" in kubectl(
        "describe", "rs", "-l", "app=test-nginx-apps"
    )
    kubectl("delete", "deployment", "test-nginx-apps")
    # apps.sh run_deployment_tests: "Test kubectl create deployment with command"
    kubectl("create", "deployment", "nginx-with-command", f"--image={NGINX}", "--", "/bin/sleep", "infinity")
    command = "{{(index .spec.template.spec.containers 0).command}}"
    assert get(kubectl, "deployment nginx-with-command", command) == "[/bin/sleep infinity]"
    kubectl("delete", "deployment", "nginx-with-command")

    # apps.sh run_deployment_tests: "Rollback a deployment" - revisions 1 and 2, then undo to 1
    kubectl("apply", "-f", "-", input=deployment("registry.k8s.io/nginx:test-cmd"))
    assert get(kubectl, "deployment nginx", REVISION) == "1"
    kubectl("rollout", "status", "deployment/nginx", "--timeout=30s")
    kubectl("apply", "-f", "-", input=deployment("registry.k8s.io/nginx:1.7.9"))
    eventually(lambda: get(kubectl, "deployment nginx", REVISION), "2")
    history = kubectl("rollout", "history", "deployment", "nginx")
    assert "REVISION" in history and "1 " in history and "2 " in history
    assert "registry.k8s.io/nginx:1.7.9" in kubectl(
        "rollout", "history", "deployment", "nginx", "--revision=2"
    )
    # apps.sh run_deployment_tests: a dry-run undo changes nothing
    kubectl("rollout", "undo", "deployment", "nginx", "--to-revision=1", "--dry-run=server")
    assert get(kubectl, "deployment nginx", IMAGES) == "registry.k8s.io/nginx:1.7.9:"
    kubectl("rollout", "undo", "deployment", "nginx", "--to-revision=1")
    eventually(lambda: get(kubectl, "deployment nginx", IMAGES), "registry.k8s.io/nginx:test-cmd:")
    # apps.sh run_deployment_tests: "Rollback to revision 1000000 - should fail"
    assert "unable to find specified revision 1000000 in history" in fails(
        kubectl, "rollout", "undo", "deployment", "nginx", "--to-revision=1000000"
    )
    eventually(lambda: get(kubectl, "deployment nginx", REVISION), "3")
    # apps.sh run_deployment_tests: "Rollback to last revision"
    kubectl("rollout", "undo", "deployment", "nginx")
    eventually(lambda: get(kubectl, "deployment nginx", IMAGES), "registry.k8s.io/nginx:1.7.9:")
    # apps.sh run_deployment_tests: "Pause the deployment" - undo of a paused deployment fails
    kubectl("rollout", "pause", "deployment", "nginx")
    assert get(kubectl, "deployment nginx", "{{.spec.paused}}") == "true"
    assert "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume'" in fails(
        kubectl, "rollout", "undo", "deployment", "nginx"
    )
    # apps.sh run_deployment_tests: "Resume the deployment" then undo works
    kubectl("rollout", "resume", "deployment", "nginx")
    assert get(kubectl, "deployment nginx", "{{.spec.paused}}") == "<no value>"
    kubectl("rollout", "undo", "deployment", "nginx")
    eventually(lambda: get(kubectl, "deployment nginx", IMAGES), "registry.k8s.io/nginx:test-cmd:")
    # apps.sh run_deployment_tests: the reused ReplicaSet keeps its earlier revisions
    eventually(
        lambda: get(
            kubectl,
            "rs -l name=nginx-undo",
            "{{range .items}}"
            '{{if eq (index .spec.template.spec.containers 0).image "registry.k8s.io/nginx:test-cmd"}}'
            '{{index .metadata.annotations "deployment.kubernetes.io/revision-history"}}{{end}}{{end}}',
        ),
        "1,3",
    )
    assert 'deployment "nginx" successfully rolled out' in kubectl(
        "rollout", "status", "deployment/nginx", "--timeout=30s"
    )

    # apps.sh run_deployment_tests: "Set image of a deployment" (one container, then every container)
    kubectl("set", "image", "deployment", "nginx", "nginx=registry.k8s.io/nginx:1.7.9", "--dry-run=server")
    assert get(kubectl, "deployment nginx", IMAGES) == "registry.k8s.io/nginx:test-cmd:"
    kubectl("set", "image", "deployment", "nginx", "nginx=registry.k8s.io/nginx:1.7.9")
    assert get(kubectl, "deployment nginx", IMAGES) == "registry.k8s.io/nginx:1.7.9:"
    # apps.sh run_deployment_tests: "Set non-existing container should fail"
    assert 'unable to find container named "redis"' in fails(
        kubectl, "set", "image", "deployment", "nginx", "redis=redis"
    )
    kubectl("set", "image", "deployment", "nginx", "*=registry.k8s.io/pause:3.10")
    assert get(kubectl, "deployment nginx", IMAGES) == "registry.k8s.io/pause:3.10:"
    # apps.sh run_deployment_tests: "Set env of deployments" from a ConfigMap and a Secret
    kubectl("create", "configmap", "test-set-env-config", "--from-literal=key-2=value2")
    kubectl("create", "secret", "generic", "test-set-env-secret", "--from-literal=key-1=value1")
    kubectl("set", "env", "deployment", "nginx", "--from=configmap/test-set-env-config")
    kubectl("set", "env", "deployment", "nginx", "--from=secret/test-set-env-secret")
    env = get(
        kubectl, "deployment nginx", "{{range (index .spec.template.spec.containers 0).env}}{{.name}}:{{end}}"
    )
    assert "KEY_2:" in env and "KEY_1:" in env
    kubectl("delete", "deployment", "nginx")
    assert names(kubectl, "deployments") == ""


def test_scale(dev_cluster: DevCluster) -> None:
    kubectl = ClusterKubectl(dev_cluster)
    # scale.sh run_kubectl_scale_tests: "output for Deployment" (client and server dry runs, then real).
    # Upstream's scale.sh finds the new replicas in `-o yaml`: newer kubectl prints the scaled object,
    # kubectl 1.32 prints the one it read first, so the stored object is what is checked here.
    kubectl("create", "deployment", "test-scale-deploy", "--image=busybox")
    # (upstream also finds "replicas: 2" in the client dry run's output: kubectl 1.32 prints the live object
    # there, a client behaviour newer kubectl changed; the server plays no part)
    kubectl("scale", "deployment", "test-scale-deploy", "--replicas=2", "--dry-run=client", "-o", "yaml")
    assert get(kubectl, "deployment test-scale-deploy", "{{.spec.replicas}}") == "1"
    # (the same for the server dry run: kubectl 1.32 prints the object it read before the dry-run PATCH of
    # /scale, so the server's answer, spec.replicas 3, is checked in kubectl's log instead)
    output = both(
        kubectl, "scale", "deployment", "test-scale-deploy", "--replicas=3", "--dry-run=server", "-v=8"
    )
    assert "/scale?dryRun=All" in output and '\\"spec\\":{\\"replicas\\":3}' in output
    assert get(kubectl, "deployment test-scale-deploy", "{{.spec.replicas}}") == "1"
    kubectl(
        "scale", "deployment", "test-scale-deploy", "--replicas=2", "-o", "yaml"
    )  # (prints the old object)
    assert get(kubectl, "deployment test-scale-deploy", "{{.spec.replicas}}") == "2"
    # core.sh run_rc_tests / apps.sh: "scale with current-replicas" precondition
    assert (
        "expected replicas to be 5, was 2"
        in fails(
            kubectl, "scale", "--current-replicas=5", "--replicas=1", "deployment/test-scale-deploy"
        ).lower()
    )
    kubectl("scale", "--current-replicas=2", "--replicas=1", "deployment/test-scale-deploy")
    assert get(kubectl, "deployment test-scale-deploy", "{{.spec.replicas}}") == "1"
    kubectl("delete", "deployment", "test-scale-deploy")
    # scale.sh run_kubectl_scale_tests: "output for ReplicaSet" (scale -f)
    frontend_rs = """
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: frontend, labels: {app: guestbook, tier: frontend}}
spec:
  replicas: 3
  selector: {matchLabels: {tier: frontend}}
  template:
    metadata: {labels: {app: guestbook, tier: frontend}}
    spec: {containers: [{name: php-redis, image: gb-frontend:v4}]}
"""
    kubectl("create", "-f", "-", input=frontend_rs)
    kubectl("scale", "-f", "-", "--replicas=2", "-o", "yaml", input=frontend_rs)
    assert get(kubectl, "rs frontend", "{{.spec.replicas}}") == "2"
    kubectl("delete", "rs", "frontend")
    # scale.sh run_kubectl_scale_tests: "output for ReplicationController" and "for StatefulSet"
    kubectl(
        "create",
        "-f",
        "-",
        input="""
apiVersion: v1
kind: ReplicationController
metadata: {name: frontend}
spec:
  replicas: 1
  selector: {name: frontend}
  template:
    metadata: {labels: {name: frontend}}
    spec: {containers: [{name: php-redis, image: gb-frontend:v4}]}
""",
    )
    kubectl("scale", "rc", "frontend", "--replicas=3", "-o", "yaml")
    assert get(kubectl, "rc frontend", "{{.spec.replicas}}") == "3"
    kubectl("delete", "rc", "frontend")
    kubectl(
        "create",
        "-f",
        "-",
        input="""
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: nginx}
spec:
  serviceName: nginx
  replicas: 1
  selector: {matchLabels: {app: nginx-statefulset}}
  template:
    metadata: {labels: {app: nginx-statefulset}}
    spec: {containers: [{name: nginx, image: registry.k8s.io/nginx-slim:0.7}]}
""",
    )
    kubectl("scale", "statefulset", "nginx", "--replicas=2", "-o", "yaml")
    assert get(kubectl, "statefulset nginx", "{{.spec.replicas}}") == "2"
    kubectl("delete", "statefulset", "nginx")


def test_wait(dev_cluster: DevCluster) -> None:
    kubectl = ClusterKubectl(dev_cluster)
    # wait.sh run_wait_tests: "Wait for deletion using --all flag"
    # (busybox with no command exits and crash-loops upstream; here the pod is told to crash, the dev
    # cluster's way of a container that never gets Ready)
    crashing = kubectl("create", "deployment", "test-1", "--image=busybox", "--dry-run=client", "-o", "json")
    kubectl(
        "apply",
        "-f",
        "-",
        input=crashing.replace(
            '"resources": {}', '"resources": {}, "env": [{"name": "SLIPWAY_DEMO_CRASH", "value": "1"}]'
        ),
    )
    kubectl("create", "deployment", "test-2", "--image=busybox")
    assert get(kubectl, "deployments", "{{range .items}}{{.metadata.name}},{{end}}") == "test-1,test-2,"
    # wait.sh: "Wait with jsonpath support fields not exist in the first place" times out
    assert "SLIPWAY_DEMO_CRASH" in get(
        kubectl, "deployment test-1", "{{(index .spec.template.spec.containers 0).env}}"
    )
    assert "timed out" in fails(
        kubectl, "wait", "--for=jsonpath=.status.readyReplicas=1", "deploy/test-1", "--timeout=1s"
    )
    waiter = dev_cluster.kubectl  # the wait runs while a deletion happens 2 s later, as upstream
    started = time.monotonic()

    def delete_later() -> None:
        time.sleep(2)
        waiter("delete", "deployment", "--all", "--wait=false")

    thread = threading.Thread(target=delete_later)
    thread.start()
    output = both(kubectl, "wait", "deployment", "--for=delete", "--all", "--timeout=30s")
    thread.join()
    assert "test-1 condition met" in output and "test-2 condition met" in output
    assert time.monotonic() - started >= 2

    # wait.sh: "wait timeout error because condition is invalid" - after about the timeout
    kubectl(
        "apply",
        "-f",
        "-",
        input="""
apiVersion: apps/v1
kind: Deployment
metadata: {name: dtest, labels: {app: dtest}}
spec:
  replicas: 3
  selector: {matchLabels: {app: dtest}}
  template:
    metadata: {labels: {app: dtest}}
    spec: {containers: [{name: bb, image: busybox, command: [/bin/sh, -c, sleep infinity]}]}
""",
    )
    eventually(lambda: str(names(kubectl, "pods -l app=dtest").count(":")), "3")
    started = time.monotonic()
    output = fails(
        kubectl, "wait", "pod", "--selector=app=dtest", "--for=condition=InvalidCondition", "--timeout=1s"
    )
    assert "timed out waiting for the condition " in output
    assert 1 <= time.monotonic() - started <= 4
    kubectl("delete", "deployment", "dtest")
    # wait.sh: "wait with jsonpath without value to succeed"
    kubectl("create", "deployment", "test-3", "--image=busybox")
    output = both(kubectl, "wait", "--for=jsonpath={.status.replicas}", "deploy/test-3", "--timeout=30s")
    assert "deployment.apps/test-3 condition met" in output
    kubectl("delete", "deployment", "test-3")

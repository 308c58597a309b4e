"""`kubectl apply` (client-side), `delete`, `apply --dry-run=server` and `diff` against a fresh server."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from apiserver_support import RELEASE_CRD, REPO, Kubectl

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
        env: [{name: MODE, value: fast}, {name: LEVEL, value: "3"}]
        ports: [{containerPort: 8080, name: http}]
        volumeMounts: [{name: data, mountPath: /data}]
      - name: sidecar
        image: example/sidecar:1
        args: [--verbose]
      volumes: [{name: data, emptyDir: {}}]
"""

SERVICE_CONFIGMAP_NAMESPACE = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {colour: blue}
"""


def _rv(kubectl: Kubectl, *what: str) -> str:
    return str(kubectl.json("get", *what)["metadata"]["resourceVersion"])


def test_apply_creates_then_a_second_identical_apply_changes_nothing(kubectl: Kubectl) -> None:
    assert "deployment.apps/web created" in kubectl("apply", "-f", "-", input=DEPLOYMENT)
    before = _rv(kubectl, "deployment", "web")
    assert "deployment.apps/web unchanged" in kubectl("apply", "-f", "-", input=DEPLOYMENT)
    assert _rv(kubectl, "deployment", "web") == before


def test_apply_after_editing_one_container_keeps_every_untouched_field(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    # Fields kubectl never saw in the manifest: set by another writer, must survive the 3-way merge.
    kubectl(
        "patch",
        "deployment",
        "web",
        "--type",
        "strategic",
        "-p",
        json.dumps(
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "app", "resources": {"limits": {"cpu": "1"}}}]}
                    }
                }
            }
        ),
    )
    edited = DEPLOYMENT.replace("example/app:1", "example/app:2").replace('value: "3"', 'value: "4"')
    assert "deployment.apps/web configured" in kubectl("apply", "-f", "-", input=edited)
    deployment = kubectl.json("get", "deployment", "web")
    app, sidecar = deployment["spec"]["template"]["spec"]["containers"]
    assert app["image"] == "example/app:2"
    assert app["env"] == [{"name": "MODE", "value": "fast"}, {"name": "LEVEL", "value": "4"}]
    assert app["ports"] == [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]  # defaulted
    assert app["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert app["resources"] == {"limits": {"cpu": "1"}}
    assert sidecar == {"name": "sidecar", "image": "example/sidecar:1", "args": ["--verbose"]}
    assert deployment["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert deployment["metadata"]["generation"] == 3


def test_apply_removing_a_container_and_an_env_var_drops_exactly_those(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    manifest = yaml.safe_load(DEPLOYMENT)
    containers = manifest["spec"]["template"]["spec"]["containers"]
    containers[0]["env"] = containers[0]["env"][:1]
    del containers[1]
    kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    live = kubectl.json("get", "deployment", "web")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in live] == ["app"]
    assert live[0]["env"] == [{"name": "MODE", "value": "fast"}]


def test_apply_and_delete_services_configmaps_and_namespaces(kubectl: Kubectl) -> None:
    out = kubectl("apply", "-f", "-", input=SERVICE_CONFIGMAP_NAMESPACE)
    assert "namespace/shop created" in out
    assert "service/web created" in out
    assert "configmap/settings created" in out
    again = kubectl("apply", "-f", "-", input=SERVICE_CONFIGMAP_NAMESPACE)
    assert again.count("unchanged") == 3
    service = kubectl.json("get", "service", "web", "-n", "shop")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    assert kubectl.json("get", "configmap", "settings", "-n", "shop")["data"] == {"colour": "blue"}
    kubectl("delete", "-f", "-", input=SERVICE_CONFIGMAP_NAMESPACE)
    assert "NotFound" in kubectl.run("get", "namespace", "shop").stderr


def test_apply_and_delete_the_release_crd_and_a_release(kubectl: Kubectl) -> None:
    assert "created" in kubectl("apply", "-f", str(RELEASE_CRD))
    kubectl("wait", "--for=condition=Established", "crd/releases.slipway.dev", "--timeout=10s")
    assert kubectl("api-resources", "--api-group=slipway.dev", "--no-headers").split() == [
        "releases",
        "rel",
        "slipway.dev/v1alpha1",
        "true",
        "Release",
    ]
    assert "unchanged" in kubectl("apply", "-f", str(RELEASE_CRD))
    example = REPO / "examples" / "canary.yaml"
    assert "release.slipway.dev/web created" in kubectl("apply", "-f", str(example))
    before = _rv(kubectl, "release", "web")
    # The schema defaults fields inside list items, so kubectl's merge patch resends the list (and says
    # "configured", as against a real server); the server finds nothing changed and writes nothing.
    kubectl("apply", "-f", str(example))
    release = kubectl.json("get", "rel", "web")
    assert release["metadata"]["resourceVersion"] == before
    assert release["spec"]["version"] == "1.0.0"
    assert release["metadata"]["generation"] == 1
    kubectl("delete", "-f", str(example))
    kubectl("delete", "-f", str(RELEASE_CRD))
    assert "NotFound" in kubectl.run("get", "releases").stderr
    assert "releases" not in kubectl("api-resources")


def test_an_invalid_release_is_refused_with_every_field_named(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(RELEASE_CRD))
    bad = yaml.safe_load((REPO / "examples" / "canary.yaml").read_text())
    bad["spec"]["replicas"] = "four"
    bad["spec"]["service"]["port"] = -1
    result = kubectl.run("apply", "-f", "-", input=yaml.safe_dump(bad))
    assert result.returncode != 0
    assert "spec.replicas" in result.stderr
    assert "spec.service.port" in result.stderr
    assert "NotFound" in kubectl.run("get", "release", "web").stderr


def test_apply_dry_run_server_stores_nothing(kubectl: Kubectl) -> None:
    assert "(server dry run)" in kubectl("apply", "--dry-run=server", "-f", "-", input=DEPLOYMENT)
    assert "NotFound" in kubectl.run("get", "deployment", "web").stderr
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    before = _rv(kubectl, "deployment", "web")
    edited = DEPLOYMENT.replace("replicas: 2", "replicas: 5")
    assert "configured (server dry run)" in kubectl("apply", "--dry-run=server", "-f", "-", input=edited)
    deployment = kubectl.json("get", "deployment", "web")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["resourceVersion"] == before


def test_diff_shows_the_change_and_exits_1_then_0_when_equal(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT)
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT)
    assert kubectl.run("diff", "-f", str(manifest)).returncode == 0
    manifest.write_text(DEPLOYMENT.replace("replicas: 2", "replicas: 7"))
    result = kubectl.run("diff", "-f", str(manifest))
    assert result.returncode == 1, result.stderr
    assert "-  replicas: 2" in result.stdout
    assert "+  replicas: 7" in result.stdout
    assert kubectl.json("get", "deployment", "web")["spec"]["replicas"] == 2


def test_unknown_release_fields_are_refused_strictly_or_warned_about(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(RELEASE_CRD))
    release = yaml.safe_load((REPO / "examples" / "canary.yaml").read_text())
    release["spec"]["colour"] = "blue"
    release["spec"]["service"]["prot"] = 80
    strict = kubectl.run("apply", "-f", "-", input=yaml.safe_dump(release))
    assert strict.returncode != 0
    assert 'unknown field "spec.colour"' in strict.stderr
    assert 'unknown field "spec.service.prot"' in strict.stderr
    assert "NotFound" in kubectl.run("get", "release", "web").stderr
    warned = kubectl.run("apply", "--validate=warn", "-f", "-", input=yaml.safe_dump(release))
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.colour"' in warned.stderr
    assert "colour" not in kubectl.json("get", "release", "web")["spec"]


RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: robot, namespace: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: watcher}
rules: [{apiGroups: [slipway.dev], resources: [releases], verbs: [watch]}]
"""


def test_rbac_objects_apply_and_print_like_a_real_server(kubectl: Kubectl) -> None:
    out = kubectl("apply", "-f", "-", input=RBAC)
    assert "role.rbac.authorization.k8s.io/reader created" in out
    assert "clusterrole.rbac.authorization.k8s.io/watcher created" in out
    header, row = (line.split() for line in kubectl("get", "rolebindings", "-o", "wide").splitlines())
    assert header == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert [row[0], row[1], row[5]] == ["reader", "Role/reader", "default/robot"]
    assert kubectl("apply", "-f", "-", input=RBAC).count("unchanged") == 3

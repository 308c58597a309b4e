"""charts/slipway rendered by the real Helm engine (helm-python-sdk wraps Helm's Go SDK), then checked.

Each rendered built-in object is validated offline against the Kubernetes 1.32 OpenAPI schemas
(kubernetes-validate); the operator config the chart writes is parsed by the operator's own config model;
and the objects are applied with a server-side dry run to the dev API server by the real kubectl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from slipway.plugins import workload_rules
from slipway.providers._promql import PrometheusConfig
from slipway.providers.web import WebConfig
from slipway.rbac import chart_rules
from slipway.runtime.config import parse_config
from slipway_dev.apiserver.kubeconfig import write_kubeconfig
from slipway_dev.apiserver.threaded import running_apiserver

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "slipway"
KUBERNETES_VERSION = "1.32"
NAMESPACE = "slipway-system"

Obj = dict[str, Any]


def render(values: Obj | None = None, name: str = "slipway") -> list[Obj]:
    """Every object the chart renders with these values, as `helm template` would print them."""
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values or {}, name=name, namespace=NAMESPACE)
    objects: list[Obj] = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".yaml"):
            objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, (
        f"{len(found)} {kind} {name or ''} in {[(o['kind'], o['metadata']['name']) for o in objects]}"
    )
    return found[0]


def kinds(objects: list[Obj]) -> list[tuple[str, str, str | None]]:
    return sorted((o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects)


def operator_config(objects: list[Obj]) -> Any:
    return parse_config(yaml.safe_load(one(objects, "ConfigMap")["data"]["config.yaml"]), "chart config")


def granted(objects: list[Obj], kind: str) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples granted by every `kind` (Role or ClusterRole) rendered."""
    return {
        (group, resource, verb)
        for role in objects
        if role["kind"] == kind
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


EVERY_EXTRA: Obj = {
    "logLevel": "debug",
    "logFormat": "console",
    "extraArgs": ["--namespace=shop"],
    "extraEnv": [
        {"name": "HTTPS_PROXY", "value": "http://proxy.internal:3128"},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ],
    "extraVolumes": [{"name": "ca", "configMap": {"name": "corporate-ca"}}],
    "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/corporate", "readOnly": True}],
    "terminationGracePeriodSeconds": 120,
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"team": "platform"}},
        }
    ],
    "podDisruptionBudget": {"maxUnavailable": None, "minAvailable": 1},
    "serviceAccount": {"create": True, "name": "delivery", "annotations": {"iam.example.com/role": "x"}},
    "metrics": {"serviceMonitor": {"enabled": True, "namespace": "monitoring", "relabelings": []}},
    "notifications": {
        "allowedHosts": ["hooks.slack.com", "audit.internal:8443"],
        "notifiers": {
            "team-chat": {
                "type": "slack",
                "secretName": "slack-webhook",
                "linkTemplate": "https://g/{{release}}",
            },
            "audit": {"type": "webhook", "secretName": "audit", "urlKey": "endpoint", "tokenKey": "token"},
        },
    },
}

WORKLOAD_RESOURCES = {
    ("slipway.dev", "releases"),
    ("slipway.dev", "releases/status"),
    ("slipway.dev", "releases/finalizers"),  # blockOwnerDeletion on the revisions' ownerReferences
    ("apps", "deployments"),
    ("", "services"),
    ("gateway.networking.k8s.io", "httproutes"),
    ("networking.istio.io", "virtualservices"),
    ("networking.k8s.io", "ingresses"),
    ("batch", "jobs"),
    ("", "events"),
    ("monitoring.coreos.com", "prometheusrules"),  # each Release's alert rules
}


@pytest.mark.parametrize("values", [{}, {"watchNamespaces": ["shop"], "rbac": {"create": False}}])
def test_strict_lint_finds_nothing_worse_than_info(values: Obj) -> None:
    result = helm.lint(str(CHART), values, strict=True, namespace=NAMESPACE)
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] > 1] == []


def test_every_value_is_described_in_the_schema() -> None:
    """docs/install.md points to these descriptions; a value without one is undocumented."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(schema["properties"])
    undescribed = [key for key, spec in schema["properties"].items() if not spec.get("description")]
    assert undescribed == []


def test_values_yaml_matches_its_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.validate(yaml.safe_load((CHART / "values.yaml").read_text()), schema)


@pytest.mark.parametrize(
    "values",
    [
        {"replicas": "two"},
        {"watchNamespaces": ["Not_A_Namespace"]},
        {"imag": {}},
        {"port": 0},
        {"logFormat": "xml"},
        {"logLevel": "verbose"},
        {"extraEnv": {"A": "b"}},
        {"podDisruptionBudget": {"maxUnavailable": "half"}},
        {"metrics": {"serviceMonitor": {"relabeling": []}}},
        {"rbac": {"create": "yes"}},
        {"notifications": {"notifiers": {"chat": {"type": "slack"}}}},
        {"notifications": {"notifiers": {"Chat": {"type": "slack", "secretName": "s"}}}},
    ],
    ids=[
        "wrong-type",
        "bad-namespace",
        "unknown-key",
        "port-range",
        "log-format",
        "log-level",
        "env-not-a-list",
        "pdb-not-int-or-percent",
        "servicemonitor-typo",
        "rbac-not-bool",
        "notifier-without-secret",
        "notifier-name-not-a-dns-label",
    ],
)
def test_schema_refuses_wrong_values(values: Obj) -> None:
    with pytest.raises(helm.HelmValuesError):
        render(values)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"replicas": 3, "metrics": {"serviceMonitor": {"enabled": True}}},
        {"watchNamespaces": ["shop", "payments"], "serviceAccount": {"name": "ops"}},
        EVERY_EXTRA,
        {"replicas": 1, "leaderElection": {"enabled": False}, "podDisruptionBudget": {"enabled": False}},
    ],
    ids=["defaults", "ha-with-servicemonitor", "namespaced", "every-extra", "single-without-election"],
)
def test_every_builtin_object_is_valid_kubernetes(values: Obj) -> None:
    objects = render(values)
    builtins = [o for o in objects if o["apiVersion"] != "monitoring.coreos.com/v1"]
    for obj in builtins:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    assert {o["kind"] for o in builtins} >= {
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "ClusterRole" if not values.get("watchNamespaces") else "Role",
    }


def test_defaults_watch_every_namespace_with_two_pods_electing_a_leader() -> None:
    objects = render()
    config = operator_config(objects)
    assert config.cluster_wide and config.leader_election.enabled
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    # An upgrade adds a new pod (a standby) before it stops an old one; the Lease lets one reconcile.
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    budget = one(objects, "PodDisruptionBudget")
    assert budget["spec"] == {
        "maxUnavailable": 1,
        "selector": deployment["spec"]["selector"],
    }
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": deployment["spec"]["selector"],
        }
    ]
    assert {r for _, r, _ in granted(objects, "Role")} == {"leases"}
    # Cluster mode: the workload's grants and nothing more (no read of CRDs: the Releases' watch retries
    # a collection not served yet, controller/release_watch.py).
    assert {(g, r) for g, r, _ in granted(objects, "ClusterRole")} == WORKLOAD_RESOURCES
    assert not [o for o in objects if o["kind"] == "ServiceMonitor"]


def test_least_privilege_no_wildcards_no_secrets() -> None:
    for values in ({}, {"watchNamespaces": ["shop"], "replicas": 2}):
        objects = render(values)
        rules = granted(objects, "ClusterRole") | granted(objects, "Role")
        assert not [rule for rule in rules if "*" in rule]
        assert not [rule for rule in rules if rule[1] in ("secrets", "pods", "roles", "clusterroles")]
        # Manual actions and status are the only writes to Releases; nothing may create or delete them.
        assert not {v for g, r, v in rules if r == "releases"} & {"create", "delete", "deletecollection"}


def test_one_pod_without_leader_election_is_recreated_never_doubled() -> None:
    objects = render({"replicas": 1, "leaderElection": {"enabled": False}})
    assert not operator_config(objects).leader_election.enabled
    assert one(objects, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    assert not [o for o in objects if o["kind"] == "Role"]


def test_several_pods_without_leader_election_are_refused() -> None:
    with pytest.raises(helm.HelmError, match=r"replicas above 1 needs leaderElection\.enabled"):
        render({"replicas": 2, "leaderElection": {"enabled": False}})


def test_the_disruption_budget_takes_one_bound() -> None:
    budget = one(
        render({"podDisruptionBudget": {"minAvailable": "50%", "maxUnavailable": None}}),
        "PodDisruptionBudget",
    )
    assert budget["spec"]["minAvailable"] == "50%" and "maxUnavailable" not in budget["spec"]
    zero = one(render({"podDisruptionBudget": {"maxUnavailable": 0}}), "PodDisruptionBudget")
    assert zero["spec"]["maxUnavailable"] == 0
    with pytest.raises(helm.HelmError, match="either maxUnavailable or minAvailable"):
        render({"podDisruptionBudget": {"minAvailable": 1}})
    assert not [
        o for o in render({"podDisruptionBudget": {"enabled": False}}) if o["kind"] == "PodDisruptionBudget"
    ]


def test_several_replicas_elect_a_leader_with_a_lease_role() -> None:
    objects = render({"replicas": 3})
    config = operator_config(objects)
    assert config.leader_election.enabled
    assert (config.leader_election.namespace, config.leader_election.lease_name) == (NAMESPACE, "slipway")
    role = one(objects, "Role", "slipway-leases")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert {r for _, r, _ in granted([role], "Role")} == {"leases"}
    binding = one(objects, "RoleBinding", "slipway-leases")
    assert binding["subjects"][0]["name"] == one(objects, "ServiceAccount")["metadata"]["name"]
    single = render({"replicas": 1, "leaderElection": {"enabled": True}})
    assert operator_config(single).leader_election.enabled
    assert one(single, "Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"


def test_sharding_gives_each_replica_a_shard_lease_instead_of_a_leader() -> None:
    objects = render({"replicas": 3, "sharding": {"enabled": True}})
    config = operator_config(objects)
    assert config.sharding.enabled and not config.leader_election.enabled
    sharding = config.sharding
    assert (sharding.shards, sharding.namespace, sharding.lease_name) == (3, NAMESPACE, "slipway")
    assert {r for _, r, v in granted([one(objects, "Role", "slipway-leases")], "Role") if v == "list"} == {
        "leases"
    }
    # A surge pod stands by until an old one hands its shard over.
    assert one(objects, "Deployment")["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": 1,
        "maxUnavailable": 0,
    }
    with pytest.raises(helm.HelmError, match=r"replicas above 1 needs leaderElection\.enabled or sharding"):
        render({"replicas": 2, "leaderElection": {"enabled": False}})


def test_watch_namespaces_get_a_role_each_and_nothing_cluster_scoped() -> None:
    objects = render({"watchNamespaces": ["shop", "payments"]})
    config = operator_config(objects)
    assert config.namespaces == ["shop", "payments"] and not config.cluster_wide
    workload = [o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "slipway"]
    assert {o["metadata"]["namespace"] for o in workload} == {"shop", "payments"}
    bindings = [o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["name"] == "slipway"]
    assert {b["metadata"]["namespace"] for b in bindings} == {"shop", "payments"}
    assert all(b["subjects"][0]["namespace"] == NAMESPACE for b in bindings)
    assert {(g, r) for g, r, _ in granted(workload, "Role")} == WORKLOAD_RESOURCES
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]


def test_probes_and_metrics_use_the_port_the_operator_serves_on() -> None:
    objects = render(
        {"port": 9100, "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}}}
    )
    config = operator_config(objects)
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [
        "run",
        "--config=/etc/slipway/config.yaml",
        "--log-level=info",
        "--log-format=json",
    ]
    assert container["ports"] == [{"name": "http", "containerPort": 9100, "protocol": "TCP"}]
    assert config.server.port == 9100
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    service = one(objects, "Service")
    assert service["spec"]["ports"][0]["port"] == 9100 and service["spec"]["ports"][0]["targetPort"] == "http"
    monitor = one(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


def test_service_monitor_elsewhere_with_relabelings_still_selects_the_release_namespace() -> None:
    relabel = [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}]
    drop = [{"sourceLabels": ["__name__"], "regex": "go_.*", "action": "drop"}]
    monitor = one(
        render(
            {
                "metrics": {
                    "serviceMonitor": {
                        "enabled": True,
                        "namespace": "monitoring",
                        "relabelings": relabel,
                        "metricRelabelings": drop,
                    }
                }
            }
        ),
        "ServiceMonitor",
    )
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    endpoint = monitor["spec"]["endpoints"][0]
    assert (endpoint["relabelings"], endpoint["metricRelabelings"]) == (relabel, drop)
    plain = one(render({"metrics": {"serviceMonitor": {"enabled": True}}}), "ServiceMonitor")
    assert plain["metadata"]["namespace"] == NAMESPACE and "relabelings" not in plain["spec"]["endpoints"][0]


def test_service_monitor_without_its_service_is_refused() -> None:
    with pytest.raises(helm.HelmError, match=r"needs metrics\.service\.enabled"):
        render({"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}})


def test_user_config_is_kept_and_a_config_change_rolls_the_pods() -> None:
    url = "http://prometheus.monitoring:9090"
    objects = render({"config": {"prometheus": {"url": url}, "web": {"allowedHosts": ["*.shop.svc"]}}})
    config = operator_config(objects)
    assert config.section(PrometheusConfig).url == url
    assert config.section(WebConfig).allowed_hosts == ["*.shop.svc"]

    def checksum(objs: list[Obj]) -> str:
        annotations: dict[str, str] = one(objs, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        return annotations["checksum/config"]

    assert checksum(objects) != checksum(render())
    assert checksum(render()) == checksum(render())


def test_pods_run_unprivileged() -> None:
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_names_follow_the_helm_release_and_the_overrides() -> None:
    assert {name for _, name, _ in kinds(render(name="slipway"))} >= {"slipway", "slipway-metrics"}
    names = {name for _, name, _ in kinds(render(name="prod"))}
    assert "prod-slipway" in names and "slipway" not in names
    renamed = render({"nameOverride": "delivery"}, name="prod")
    assert {name for _, name, _ in kinds(renamed)} >= {"prod-delivery", "prod-delivery-metrics"}
    assert (
        one(renamed, "Deployment")["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "delivery"
    )
    fixed = render({"fullnameOverride": "ops-slipway"}, name="prod")
    assert {name for _, name, _ in kinds(fixed)} >= {
        "ops-slipway",
        "ops-slipway-metrics",
    }
    assert operator_config(fixed).leader_election.lease_name == "ops-slipway"
    assert one(fixed, "ConfigMap")["metadata"]["name"] == "ops-slipway"


def test_the_extras_reach_the_operator_container() -> None:
    pod = one(render(EVERY_EXTRA), "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][-3:] == ["--log-level=debug", "--log-format=console", "--namespace=shop"]
    assert container["env"] == EVERY_EXTRA["extraEnv"]
    assert container["volumeMounts"][-1] == EVERY_EXTRA["extraVolumeMounts"][0]
    assert pod["volumes"][-1] == EVERY_EXTRA["extraVolumes"][0]
    assert pod["terminationGracePeriodSeconds"] == 120
    assert pod["topologySpreadConstraints"] == EVERY_EXTRA["topologySpreadConstraints"]


def test_notifiers_read_their_urls_from_mounted_secrets_never_from_the_config_map() -> None:
    objects = render({**EVERY_EXTRA, "config": {"notifications": {"maxAttempts": 3}}})
    config = operator_config(objects).notifications
    assert config.allowed_hosts == ["hooks.slack.com", "audit.internal:8443"]
    assert config.max_attempts == 3  # the delivery settings under config.notifications are kept
    chat, audit = config.notifiers["team-chat"], config.notifiers["audit"]
    assert (chat.type, chat.url_file, chat.token_file, chat.link_template) == (
        "slack",
        "/var/run/slipway/notifiers/team-chat/url",
        None,
        "https://g/{{release}}",
    )
    assert (audit.url_file, audit.token_file) == (
        "/var/run/slipway/notifiers/audit/endpoint",
        "/var/run/slipway/notifiers/audit/token",
    )
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "notifier-audit", "secret": {"secretName": "audit"}} in pod["volumes"]
    assert {
        "name": "notifier-team-chat",
        "mountPath": "/var/run/slipway/notifiers/team-chat",
        "readOnly": True,
    } in pod["containers"][0]["volumeMounts"]
    assert "notifications" not in operator_config(render()).model_dump(exclude_defaults=True)


def test_without_rbac_create_no_role_or_binding_is_rendered() -> None:
    for values in ({}, {"watchNamespaces": ["shop"]}):
        objects = render({**values, "rbac": {"create": False}})
        assert not [o for o in objects if o["apiVersion"].startswith("rbac.authorization.k8s.io")]
        assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "slipway"


def test_chart_ships_the_generated_crd_unchanged() -> None:
    with helm.Chart.load(str(CHART)) as chart:
        shipped = {crd["name"]: crd["data"] for crd in chart.crds}
    generated = (ROOT / "crds" / "releases.slipway.dev.yaml").read_text()
    assert list(shipped) == ["crds/releases.slipway.dev.yaml"]
    assert shipped["crds/releases.slipway.dev.yaml"] == generated, (
        "run `make crd` to refresh the chart's copy"
    )
    kubernetes_validate.validate(yaml.safe_load(generated), KUBERNETES_VERSION, strict=True)


# --- applied to an API server: `kubectl apply --dry-run=server` against the dev API server --------------
# The dev cluster serves no policy/v1 (PodDisruptionBudgets) and no Prometheus Operator CRDs; those
# objects are checked offline above, and are named here so any other kind it refuses fails.

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the real kubectl")
NOT_SERVED_BY_THE_DEV_CLUSTER = {("monitoring.coreos.com/v1", "ServiceMonitor")}


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_apiserver() as server:
        yield write_kubeconfig(tmp_path_factory.mktemp("kube") / "config", server.credentials())


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(kubeconfig.parent)},
    )


@needs_kubectl
def test_the_chart_crd_is_accepted(kubeconfig: Path) -> None:
    done = kubectl(kubeconfig, "apply", "--dry-run=server", "-f", str(CHART / "crds"))
    assert done.returncode == 0, done.stderr
    assert "releases.slipway.dev created (server dry run)" in done.stdout


@needs_kubectl
@pytest.mark.parametrize(
    "values",
    [{"metrics": {"serviceMonitor": {"enabled": True}}, "replicas": 2}, {"watchNamespaces": ["shop"]}],
    ids=["cluster-wide-ha", "namespaced"],
)
def test_rendered_objects_apply_with_server_side_dry_run(kubeconfig: Path, values: Obj) -> None:
    for name in (NAMESPACE, *values.get("watchNamespaces", [])):
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        assert kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(namespace)).returncode == 0
    objects = render(values)
    applicable = [o for o in objects if (o["apiVersion"], o["kind"]) not in NOT_SERVED_BY_THE_DEV_CLUSTER]
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding"} if "watchNamespaces" not in values else set()
    assert {o["kind"] for o in applicable} >= {
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "Role",
        "RoleBinding",
        "PodDisruptionBudget",
        *cluster_scoped,
    }
    done = kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(applicable))
    assert done.returncode == 0, done.stderr
    created = [line for line in done.stdout.splitlines() if line.endswith("created (server dry run)")]
    assert len(created) == len(applicable), done.stdout
    # A dry run stores nothing.
    listed = kubectl(kubeconfig, "get", "deployments,configmaps", "-n", NAMESPACE, "-o", "name")
    assert listed.returncode == 0 and "slipway" not in listed.stdout


def test_the_config_example_in_the_install_guide_is_accepted_by_the_operator() -> None:
    guide = (ROOT / "docs" / "install.md").read_text()
    blocks = [block.split("```", 1)[0] for block in guide.split("```yaml\n")[1:]]
    example = next(yaml.safe_load(block) for block in blocks if block.startswith("config:"))
    config = operator_config(render(example))
    assert config.section(PrometheusConfig).url == example["config"]["prometheus"]["url"]
    assert config.section(WebConfig).allowed_hosts == example["config"]["web"]["allowedHosts"]


@needs_kubectl
def test_the_operator_runs_with_the_config_the_chart_writes(kubeconfig: Path, tmp_path: Path) -> None:
    """`slipway` with the chart's container args and ConfigMap (defaults: leader election on), until it
    leads, /readyz answers 200 and /metrics serves.

    The one change: the server listens on loopback at a port it picks (tests use 127.0.0.1 only); in a
    pod the chart has it listen on the pod's addresses so that the kubelet's probes reach it.
    """
    assert kubectl(kubeconfig, "apply", "-f", str(CHART / "crds")).returncode == 0
    assert kubectl(kubeconfig, "create", "namespace", NAMESPACE).returncode in (0, 1)  # the Lease's
    objects = render()
    config = yaml.safe_load(one(objects, "ConfigMap")["data"]["config.yaml"])
    assert config["server"] == {"host": "0.0.0.0", "port": 8080}
    config["server"] = {"host": "127.0.0.1", "port": 0}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    args = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    args = [f"--config={path}" if arg.startswith("--config=") else arg for arg in args]
    log = tmp_path / "operator.log"
    with log.open("wb") as out:
        operator = subprocess.Popen(
            [sys.executable, "-m", "slipway", *args],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = _poll(lambda: _observability_url(log), operator, "the operator's start-up log line")
        _poll(lambda: _status_of(f"{url}/readyz") == 200, operator, "/readyz to answer 200")
        assert _status_of(f"{url}/healthz") == 200
        assert any('"event": "leading"' in line for line in log.read_text().splitlines())
        with DIRECT.open(f"{url}/metrics", timeout=10) as answer:
            assert b"slipway" in answer.read()
    finally:
        operator.terminate()
        operator.wait(timeout=30)


# Straight to the loopback address, whatever proxy the environment names.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _observability_url(log: Path) -> str | None:
    for line in log.read_text().splitlines():
        if line.startswith("{") and "observability" in line:
            url: str = json.loads(line)["observability"]
            return url
    return None


def _status_of(url: str) -> int:
    try:
        with DIRECT.open(url, timeout=10) as answer:
            status: int = answer.status
            return status
    except urllib.error.HTTPError as refused:
        return refused.code


def _poll(probe: Callable[[], Any], process: subprocess.Popen[bytes], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while not (result := probe()):
        assert process.poll() is None, f"the operator exited while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within {seconds}s"
        time.sleep(0.1)  # polling a log file and an HTTP endpoint under a deadline
    return result


def test_chart_rules_are_the_ones_the_code_declares() -> None:
    """Like the CRD: _rules.tpl is generated (`make rbac`) from what the operator and its plug-ins call."""
    committed = (CHART / "templates" / "_rules.tpl").read_text()
    assert committed == chart_rules(workload_rules()), "run `make rbac`"

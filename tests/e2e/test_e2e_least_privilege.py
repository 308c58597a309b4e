"""Least privilege, the other way round: every verb the chart grants is needed by some scenario.

For each (apiGroup, resource, verb) of the chart's roles, the operator runs as a ServiceAccount bound to
the chart's RBAC minus that one verb, and the smallest scenario that reaches the call shows it failing:
the real 403 message naming the verb and resource (`cannot VERB resource "RESOURCE"`, or the
blockOwnerDeletion refusal) in the operator's log, in the Release's status or in its Events. A grant
no scenario can show missing must leave the code and the chart (operator/slipway/rbac.py, the plug-ins'
`rules`, `make rbac`); test_every_grant_of_the_chart_has_a_scenario keeps the two lists equal.

To stay fast, one dev cluster per worker serves every case. The workload grants share one operator in
namespaced mode, watching a namespace per case whose chart Role lacks that case's verb (RBAC is asked
on every request, so each namespace fails alone); Lease grants (leader election, sharding), which a
Role per namespace cannot take away, get their own operator, ServiceAccount and namespace each. Cluster
mode grants the same workload rules in a ClusterRole and nothing else (tests/chart). Every scenario
starts at once when the cluster comes up; each test then waits for its own evidence.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import (
    CRDS,
    ROOT,
    Operator,
    chart_rbac,
    job_metric,
    operator_identity,
    release_manifest,
    rule_grants,
    wait_for,
    without_grant,
    write_operator_config,
)

from slipway.core.revision import revision_hash
from slipway_dev.cluster import DevCluster

pytestmark = [pytest.mark.e2e]

ROUTING_CRDS = ROOT / "devcluster" / "slipway_dev" / "data" / "routing-crds.yaml"
Grant = tuple[str, str, str]  # (apiGroup, resource, verb)
Obj = dict[str, Any]

PAUSED = [{"setWeight": 50}, {"pause": {}}]
JOB_STEPS = [{"setWeight": 50}, {"analysis": {"successfulMeasurements": 1}}]
PROMOTED = [{"setWeight": 50}, {"pause": {"duration": "1s"}}]
GATEWAY_API = {"gatewayAPI": {"parentRefs": [{"name": "public"}], "hostnames": ["web.example.com"]}}
ISTIO = {"istio": {"hosts": ["web"]}}
NGINX = {"nginx": {"host": "web.example.com"}}


def release(
    version: str,
    steps: list[Obj] | None = None,
    routing: Obj | None = None,
    history: int | None = None,
    **options: Any,
) -> Obj:
    """A Release needing nothing but the API: no analysis unless a Job metric is asked for; `history`,
    its spec.revisionHistoryLimit."""
    options.setdefault("replicas", 1)
    manifest = release_manifest(version, steps=steps or PROMOTED, **options)
    if "metrics" not in options:
        del manifest["spec"]["analysis"]
    if routing is not None:
        manifest["spec"]["trafficRouting"] = routing
    if history is not None:
        manifest["spec"]["revisionHistoryLimit"] = history
    return manifest


@dataclass(frozen=True)
class Scenario:
    """What to do in a namespace to reach the call, and the evidence that the call was refused."""

    name: str
    run: Callable[[DevCluster, str], None]
    evidence: str | None = None
    """A regex over the operator's log lines (and the Release's status and Events) for that namespace;
    None: the real 403 message, `cannot VERB resource "RESOURCE"`."""
    own_operator: bool = False
    """Leader election and sharding: not a namespaced Role, so the case needs an operator of its own."""


def apply(dev: DevCluster, namespace: str, manifest: Obj) -> None:
    text = yaml.safe_dump(manifest)
    wait_for(
        lambda: dev.kubectl("apply", "-n", namespace, "-f", "-", input=text, check=False).returncode == 0,
        30,
        f"a Release applied in {namespace}",
    )


def read(dev: DevCluster, path: str) -> Obj:
    """A GET as the admin, without a kubectl process: dozens of scenarios poll at once on two cores."""
    try:
        with dev.credentials.urlopen(path, timeout=10) as answer:
            found: Obj = json.load(answer)
            return found
    except urllib.error.HTTPError:
        return {}


def status_of(dev: DevCluster, namespace: str) -> Obj:
    found: Obj = (
        read(dev, f"/apis/slipway.dev/v1alpha1/namespaces/{namespace}/releases/web").get("status") or {}
    )
    return found


def healthy(dev: DevCluster, namespace: str, version: str) -> None:
    def reached() -> bool:
        status = status_of(dev, namespace)
        return status.get("phase") == "Healthy" and (status.get("stable") or {}).get("version") == version

    wait_for(reached, 60, f"web Healthy on {version} in {namespace}", interval=0.5)


def first(**options: Any) -> Callable[[DevCluster, str], None]:
    """A first version: the operator's first reads and writes (Release, Deployment, Services, status,
    Event)."""
    return lambda dev, namespace: apply(dev, namespace, release("1", **options))


def second(steps: list[Obj] | None = None, **options: Any) -> Callable[[DevCluster, str], None]:
    """A first version that must succeed, then a canary: what only a rollout calls (scaling, routing
    changes, analysis, keeping or deleting the old revision)."""

    def run(dev: DevCluster, namespace: str) -> None:
        apply(dev, namespace, release("1", **options))
        healthy(dev, namespace, "1")
        apply(dev, namespace, release("2", steps=steps, **options))

    return run


def rescaled(dev: DevCluster, namespace: str) -> None:
    """The same version with more replicas: its Deployment is scaled, not replaced."""
    apply(dev, namespace, release("1"))
    healthy(dev, namespace, "1")
    apply(dev, namespace, release("1", replicas=2))


def rules_turned_off(dev: DevCluster, namespace: str) -> None:
    """A first version with its alert rules, then `alertRules.enabled: false`: its PrometheusRule goes."""
    apply(dev, namespace, release("1"))
    healthy(dev, namespace, "1")
    manifest = release("1")
    manifest["spec"]["alertRules"] = {"enabled": False}
    apply(dev, namespace, manifest)


def manual_promote(dev: DevCluster, namespace: str) -> None:
    """A canary waiting for a person, then `kubectl annotate ... promote`: the operator removes it."""
    second(PAUSED)(dev, namespace)
    wait_for(
        lambda: (
            (dev.kubectl_json("get", "release", "web", "-n", namespace).get("status") or {}).get("phase")
            == "Paused"
        ),
        60,
        f"the canary in {namespace} to wait for a person",
    )
    dev.kubectl("annotate", "release", "web", "-n", namespace, "slipway.dev/promote=now")


def name_taken(dev: DevCluster, namespace: str) -> None:
    """The revision's Deployment name already taken by someone else's Deployment: creating it answers
    409, and the operator reads the one in the way to decide whether it is its own."""
    manifest = release("1")
    stored = json.loads(
        dev.kubectl(
            "create", "--dry-run=server", "-n", namespace, "-o", "json", "-f", "-", input=json.dumps(manifest)
        ).stdout
    )
    revision = revision_hash(stored["spec"]["template"], "1")
    squatter = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"web-{revision}", "namespace": namespace},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "squatter"}},
            "template": {
                "metadata": {"labels": {"app": "squatter"}},
                "spec": {"containers": [{"name": "app", "image": "demo/web:0"}]},
            },
        },
    }
    dev.kubectl("apply", "-f", "-", input=json.dumps(squatter))
    apply(dev, namespace, manifest)


def event_owed(dev: DevCluster, namespace: str, ago: timedelta = timedelta(0)) -> None:
    """A status owing an Event the operator has not seen posted (as after a restart between the
    status write and the post): it looks the Event up before posting it (a GET)."""
    apply(dev, namespace, release("1"))
    healthy(dev, namespace, "1")
    at = (datetime.now(UTC) - ago).strftime("%Y-%m-%dT%H:%M:%SZ")
    owed = {"name": "web.0123456789abcdef", "type": "Normal", "reason": "Ready", "message": "owed", "at": at}
    patch = json.dumps({"status": {"transitionEvents": [owed]}})
    dev.kubectl(
        "patch", "release", "web", "-n", namespace, "--subresource=status", "--type=merge", "-p", patch
    )


def event_owed_from_before_the_start(dev: DevCluster, namespace: str) -> None:
    """The same, the transition half an hour old (before the operator started, within the Event TTL):
    looked up in the namespace's list of Release Events."""
    event_owed(dev, namespace, ago=timedelta(minutes=30))


def nothing(dev: DevCluster, namespace: str) -> None:
    """The operator's start alone reaches the call."""


OWNER = r"cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on"

SCENARIOS: dict[Grant, Scenario] = {
    ("slipway.dev", "releases", "get"): Scenario("first version", first()),
    ("slipway.dev", "releases", "list"): Scenario("first version", first()),
    ("slipway.dev", "releases", "watch"): Scenario("first version", first()),
    ("slipway.dev", "releases", "patch"): Scenario("manual promote acknowledged", manual_promote),
    ("slipway.dev", "releases/status", "patch"): Scenario("first version", first()),
    ("slipway.dev", "releases/finalizers", "update"): Scenario("first version", first(), OWNER),
    ("apps", "deployments", "get"): Scenario("revision name taken", name_taken),
    ("apps", "deployments", "list"): Scenario("first version", first()),
    ("apps", "deployments", "watch"): Scenario("first version", first()),
    ("apps", "deployments", "create"): Scenario("first version", first()),
    ("apps", "deployments", "patch"): Scenario("replicas changed", rescaled),
    ("apps", "deployments", "delete"): Scenario("canary promoted, no revision history", second(history=0)),
    ("", "services", "get"): Scenario("first version", first()),
    ("", "services", "create"): Scenario("first version", first()),
    ("", "services", "patch"): Scenario("canary", second()),
    ("", "services", "list"): Scenario("first version", first()),
    ("", "services", "watch"): Scenario("first version", first()),
    ("", "events", "create"): Scenario("first version", first()),
    ("", "events", "get"): Scenario("an Event owed", event_owed),
    ("", "events", "list"): Scenario("an Event owed from before the start", event_owed_from_before_the_start),
    ("gateway.networking.k8s.io", "httproutes", "get"): Scenario("HTTPRoute", first(routing=GATEWAY_API)),
    ("gateway.networking.k8s.io", "httproutes", "create"): Scenario("HTTPRoute", first(routing=GATEWAY_API)),
    ("gateway.networking.k8s.io", "httproutes", "patch"): Scenario(
        "HTTPRoute canary", second(routing=GATEWAY_API)
    ),
    ("networking.istio.io", "virtualservices", "get"): Scenario("VirtualService", first(routing=ISTIO)),
    ("networking.istio.io", "virtualservices", "create"): Scenario("VirtualService", first(routing=ISTIO)),
    ("networking.istio.io", "virtualservices", "patch"): Scenario(
        "VirtualService canary", second(routing=ISTIO)
    ),
    ("networking.k8s.io", "ingresses", "get"): Scenario("canary Ingress", first(routing=NGINX)),
    ("networking.k8s.io", "ingresses", "create"): Scenario("canary Ingress", first(routing=NGINX)),
    ("networking.k8s.io", "ingresses", "patch"): Scenario("canary Ingress weight", second(routing=NGINX)),
    ("monitoring.coreos.com", "prometheusrules", "get"): Scenario("alert rules", first()),
    ("monitoring.coreos.com", "prometheusrules", "create"): Scenario("alert rules", first()),
    ("monitoring.coreos.com", "prometheusrules", "patch"): Scenario("alert rules", first()),
    ("monitoring.coreos.com", "prometheusrules", "delete"): Scenario("alert rules off", rules_turned_off),
    ("monitoring.coreos.com", "prometheusrules", "list"): Scenario("first version", first()),
    ("monitoring.coreos.com", "prometheusrules", "watch"): Scenario("first version", first()),
    ("batch", "jobs", "list"): Scenario("smoke-test Job", second(JOB_STEPS, metrics=[job_metric()])),
    ("batch", "jobs", "create"): Scenario("smoke-test Job", second(JOB_STEPS, metrics=[job_metric()])),
    ("batch", "jobs", "get"): Scenario("smoke-test Job", second(JOB_STEPS, metrics=[job_metric()])),
    ("batch", "jobs", "watch"): Scenario("first version", first()),
    ("batch", "jobs", "delete"): Scenario("smoke-test Job", second(JOB_STEPS, metrics=[job_metric()])),
    ("coordination.k8s.io", "leases", "get"): Scenario("leader election", nothing, own_operator=True),
    ("coordination.k8s.io", "leases", "create"): Scenario("leader election", nothing, own_operator=True),
    ("coordination.k8s.io", "leases", "patch"): Scenario(
        "leader election renewal", nothing, own_operator=True
    ),
    # Sharding lists the shard Leases to see who holds the others.
    ("coordination.k8s.io", "leases", "list"): Scenario("sharding", nothing, own_operator=True),
}


def chart_grants() -> set[Grant]:
    """Every verb the chart grants, in both modes."""
    return {
        (group, resource, verb)
        for values in ({}, {"watchNamespaces": ["shop"]})
        for _, group, resource, verb in rule_grants(chart_rbac(values))
    }


def case_id(grant: Grant) -> str:
    group, resource, verb = grant
    return f"{verb}-{resource.replace('/', '-')}.{group or 'core'}"


def namespace_of(grant: Grant) -> str:
    return re.sub(r"[^a-z0-9-]", "-", case_id(grant).lower())[:63].strip("-")


@dataclass
class Environment:
    dev: DevCluster
    logs: dict[Grant, Path]
    failures: dict[Grant, BaseException]


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    work = tmp_path_factory.mktemp("least-privilege")
    with DevCluster(state_dir=work / "dev-cluster", prometheus="off", rps=5) as dev:
        for crds in (CRDS, ROUTING_CRDS):
            dev.kubectl("apply", "-f", str(crds))
        operators: list[Operator] = []
        logs: dict[Grant, Path] = {}

        def start(name: str, rbac: list[Obj], **config: Any) -> Path:
            kubeconfig = operator_identity(dev, work / f"{name}.kubeconfig", rbac, namespace=f"op-{name}")
            config.setdefault("allNamespaces", False)
            path = write_operator_config(dev, work / f"{name}.yaml", **config)
            operator = Operator(dev, path, work / f"{name}.log", kubeconfig)
            operator.start()
            operators.append(operator)
            return operator.log

        shared = {grant: namespace_of(grant) for grant, case in SCENARIOS.items() if not case.own_operator}
        rbac = chart_rbac({"watchNamespaces": sorted(shared.values())}, name="shared", namespace="op-shared")
        for grant, namespace in shared.items():
            narrowed = without_grant([o for o in rbac if o["metadata"].get("namespace") == namespace], *grant)
            rbac = [o for o in rbac if o["metadata"].get("namespace") != namespace] + narrowed
        shared_log = start("shared", rbac, namespaces=sorted(shared.values()))
        logs.update(dict.fromkeys(shared, shared_log))

        for grant, case in SCENARIOS.items():
            if not case.own_operator:
                continue
            name, namespace = namespace_of(grant)[:40], namespace_of(grant)
            election = grant[1] == "leases"
            values: Obj = {
                "leaderElection": {"enabled": election},
                "replicas": 1,
                "watchNamespaces": [namespace],
            }
            config: Obj = {"namespaces": [namespace]}
            if election and grant[2] == "list":
                values["sharding"] = {"enabled": True}
                config["sharding"] = {"enabled": True, "leaseName": name, "namespace": f"op-{name}"}
            elif election:
                config["leaderElection"] = {"enabled": True, "leaseName": name, "namespace": f"op-{name}"}
            rbac = without_grant(chart_rbac(values, name=name, namespace=f"op-{name}"), *grant)
            logs[grant] = start(name, rbac, **config)

        environment = Environment(dev, logs, {})

        def run(grant: Grant) -> None:
            try:
                SCENARIOS[grant].run(dev, namespace_of(grant))
            except BaseException as failure:  # reported by the case's own test
                environment.failures[grant] = failure

        threads = [threading.Thread(target=run, args=(grant,), daemon=True) for grant in SCENARIOS]
        for thread in threads:
            thread.start()
        yield environment
        for operator in operators:
            operator.stop()


def refused(environment: Environment, grant: Grant) -> str | None:
    """The first piece of evidence that `grant` was missing, in the operator's log lines about this
    case's namespace (or any line of an operator of its own) or in the Release's status and Events."""
    _, resource, verb = grant
    case = SCENARIOS[grant]
    namespace = namespace_of(grant)
    pattern = re.compile(case.evidence or rf'cannot {verb} resource \\*"{re.escape(resource)}\\*"')
    lines = environment.logs[grant].read_text().splitlines()
    if not case.own_operator:
        lines = [line for line in lines if namespace in line]
    listing = json.dumps(
        [
            read(environment.dev, f"/apis/slipway.dev/v1alpha1/namespaces/{namespace}/releases/web"),
            read(environment.dev, f"/api/v1/namespaces/{namespace}/events"),
        ]
    )
    return next((line for line in [*lines, listing] if pattern.search(line)), None)


def test_every_grant_of_the_chart_has_a_scenario() -> None:
    assert chart_grants() == set(SCENARIOS)


@pytest.mark.parametrize("grant", sorted(SCENARIOS), ids=case_id)
def test_without_the_grant_its_scenario_fails(environment: Environment, grant: Grant) -> None:
    try:
        what = f"{SCENARIOS[grant].name} refused without {grant}"
        wait_for(lambda: refused(environment, grant), 60, what, interval=0.5)
    except AssertionError:
        if grant in environment.failures:
            raise AssertionError(f"the scenario itself failed: {environment.failures[grant]!r}") from None
        raise

"""Helpers of the end-to-end stories: Release manifests, the operator as a process, polling.

The operator runs exactly as a user starts it (`slipway run --config FILE`, KUBECONFIG set) in its own
process group, so a test can SIGKILL it and start it again. It never runs as the admin: its kubeconfig
holds a TokenRequest token of a ServiceAccount bound to the RBAC objects the chart renders
(`operator_identity`), so a grant the chart lacks is a 403 in the operator's log, which every story
refuses (`forbidden_lines`).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import helm_python as helm
import pytest
import yaml

from operator_metrics import requests_of
from slipway.runtime.config import load_config, parse_config
from slipway_dev.apiserver import Credentials
from slipway_dev.apiserver.kubeconfig import write_kubeconfig
from slipway_dev.cluster import DevCluster

E2E = [pytest.mark.e2e, pytest.mark.dev_cluster(prometheus="on", rps=40)]
"""Marks of every story: each gets its own dev cluster with Prometheus scraping the pods."""

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
CHART = ROOT / "charts" / "slipway"
OPERATOR_NAMESPACE = "slipway-system"
"""Where the operator's ServiceAccount (and its leader-election or shard Leases) lives, as the chart
installs it."""
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
TOKEN_DURATION = "4h"
"""Longer than any story or suite: the operator must never meet an expired token mid-test."""
FORBIDDEN = re.compile(r"forbidden|(?<![\w.:-])403(?![\w.:-])", re.IGNORECASE)
WARM_UP_MEASUREMENTS = 15
"""Rates need two scrapes of a new pod: until then a builtin metric has no data (inconclusive)."""
STOP_SECONDS = 2.0
"""The operator stops in a fraction of a second on SIGTERM; one that does not is killed, not waited for."""

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def release_manifest(
    version: str,
    *,
    name: str = "web",
    replicas: int = 2,
    error_rate: float = 0.0,
    crash: bool = False,
    steps: list[dict[str, Any]] | None = None,
    metrics: list[dict[str, Any]] | None = None,
    interval: str = "1s",
    rollback: dict[str, Any] | None = None,
) -> dict[str, Any]:
    env = [
        {"name": "SLIPWAY_DEMO_ERROR_RATE", "value": str(error_rate)},
        {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0.5"},
        {"name": "SLIPWAY_DEMO_LATENCY_MS", "value": "5"},
    ]
    if crash:
        env.append({"name": "SLIPWAY_DEMO_CRASH", "value": "1"})
    spec: dict[str, Any] = {
        "version": version,
        "replicas": replicas,
        "template": {"spec": {"containers": [{"name": "app", "image": f"demo/web:{version}", "env": env}]}},
        "service": {"port": 80, "targetPort": 8080},
        "strategy": {
            "canary": {"steps": steps or [{"setWeight": 50}, {"analysis": {"successfulMeasurements": 2}}]}
        },
        "analysis": {
            "interval": interval,
            "metrics": metrics
            or [{"name": "error-rate", "builtin": "error-rate", "inconclusiveLimit": WARM_UP_MEASUREMENTS}],
        },
        "rollback": rollback or {"progressDeadlineSeconds": 60},
    }
    return {"apiVersion": "slipway.dev/v1alpha1", "kind": "Release", "metadata": {"name": name}, "spec": spec}


Obj = dict[str, Any]


def chart_rbac(
    values: Obj | None = None, name: str = "slipway", namespace: str = OPERATOR_NAMESPACE
) -> list[Obj]:
    """The ServiceAccount, roles and bindings `charts/slipway` renders with `values` (the real Helm
    engine, as tests/chart renders it), installed as Helm release `name` into `namespace`."""
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values or {}, name=name, namespace=namespace)
    objects = [
        doc
        for path, text in sorted(manifests.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc and doc.get("kind") in RBAC_KINDS
    ]
    for obj in objects:
        if obj["kind"] == "ServiceAccount":
            obj["metadata"].setdefault("namespace", namespace)
    return objects


def chart_values(overrides: Obj) -> Obj:
    """The chart values matching an operator config's overrides: its namespaces (namespaced mode) and
    whether it shards (else it elects a leader, as the chart does with its default two replicas)."""
    values: Obj = {}
    if overrides.get("namespaces"):
        values["watchNamespaces"] = list(overrides["namespaces"])
    if (overrides.get("sharding") or {}).get("enabled"):
        values["sharding"] = {"enabled": True}
    return values


def rule_grants(objects: list[Obj]) -> list[tuple[str, str, str, str]]:
    """(role kind/name, apiGroup, resource, verb) for every verb every rendered role grants."""
    return [
        (f"{role['kind']}/{role['metadata']['name']}", group, resource, verb)
        for role in objects
        if role["kind"] in ("ClusterRole", "Role")
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]


def without_grant(objects: list[Obj], group: str, resource: str, verb: str | None = None) -> list[Obj]:
    """The same objects with `verb` (every verb when None) on `resource` of `group` out of every role."""
    kept: list[Obj] = []
    for obj in objects:
        if obj["kind"] not in ("ClusterRole", "Role"):
            kept.append(obj)
            continue
        rules = []
        for rule in obj["rules"]:
            if group in rule["apiGroups"] and resource in rule["resources"]:
                verbs = [v for v in rule["verbs"] if verb is not None and v != verb]
                if not verbs:
                    continue
                rule = {**rule, "verbs": verbs}
            rules.append(rule)
        kept.append({**obj, "rules": rules})
    return kept


def operator_identity(
    cluster: DevCluster, kubeconfig: Path, rbac: list[Obj], namespace: str = OPERATOR_NAMESPACE
) -> Path:
    """Apply `rbac` (chart_rbac's objects) as the admin, mint a token for its ServiceAccount with
    TokenRequest, and write a kubeconfig with that token and the cluster's CA: the operator's identity."""

    def apply(objects: list[Obj]) -> None:  # repeated through injected write faults, as Cluster.write
        text = yaml.safe_dump_all(objects)
        wait_for(
            lambda: cluster.kubectl("apply", "-f", "-", input=text, check=False).returncode == 0,
            30,
            "the operator's RBAC objects to apply",
        )

    names = {obj["metadata"].get("namespace") for obj in rbac} - {None}
    apply(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
            for n in sorted(names | {namespace})
        ]
    )
    apply(rbac)
    account = next(obj["metadata"]["name"] for obj in rbac if obj["kind"] == "ServiceAccount")
    token: list[str] = []

    def minted() -> bool:
        answer = cluster.kubectl(
            "create", "token", account, "-n", namespace, f"--duration={TOKEN_DURATION}", check=False
        )
        if answer.returncode == 0:
            token.append(answer.stdout.strip())
        return answer.returncode == 0

    wait_for(minted, 30, f"a token for ServiceAccount {namespace}/{account}")
    return write_kubeconfig(kubeconfig, cluster.credentials.with_token(token[0]))


def forbidden_lines(log: str) -> list[str]:
    """Lines of an operator log that report a 403: a grant the chart's RBAC lacks."""
    return [line for line in log.splitlines() if FORBIDDEN.search(line)]


def json_lines(log: str) -> list[dict[str, Any]]:
    """The JSON log lines of an operator log (`--log-format json`), skipping anything else."""
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


class Operator:
    """`slipway run` as a child process; start, stop (SIGTERM), kill (SIGKILL) and start again.

    `kubeconfig` is the operator's identity (operator_identity); only scripts outside the suite may
    leave it to the admin's."""

    def __init__(self, cluster: DevCluster, config: Path, log: Path, kubeconfig: Path | None = None) -> None:
        self.cluster = cluster
        self.config = config
        self.log = log
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "slipway", "run", "--config", str(self.config)],
                env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> bool:
        """SIGTERM, then SIGKILL if it has not stopped within STOP_SECONDS; whether it stopped by itself."""
        if self.process is None:
            return True
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            return False
        self.process = None
        return True

    def observability_url(self) -> str:
        """Where this operator serves /metrics, /healthz and /readyz (it logs the address at start)."""

        def announced() -> str | None:
            return next((line["observability"] for line in self.log_lines() if "observability" in line), None)

        return wait_for(announced, 30, "the operator to announce its observability server")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.observability_url() + path, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def requests(self) -> Counter[str]:
        """The requests this operator sent by verb, and its passes (under "passes"), from its /metrics."""
        _, metrics = self.get("/metrics")
        return requests_of(metrics)

    def quiet_requests(self, timeout: float = 15) -> Counter[str]:
        """`requests` once they stayed the same for a second: the passes in flight have ended."""
        last = self.requests()

        def unchanged() -> Counter[str] | None:
            nonlocal last
            now, last = last, self.requests()
            return last if last == now else None

        return wait_for(unchanged, timeout, "the operator's requests to stop for a second", interval=1.0)

    def said(self, event: str) -> bool:
        return any(line.get("event") == event for line in self.log_lines())

    def log_lines(self) -> list[dict[str, Any]]:
        return json_lines(self.log.read_text())


class Cluster:
    """What a story needs from the dev cluster: kubectl, the Release, its objects and Events, in one
    namespace (the kubeconfig's, `default`, unless given)."""

    def __init__(self, dev_cluster: DevCluster, namespace: str | None = None) -> None:
        self.dev = dev_cluster
        self.namespace = namespace

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        where = ("-n", self.namespace) if self.namespace else ()
        return self.dev.kubectl(*where, *args, input=input, check=check, env=env)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def write(self, *args: str, input: str | None = None) -> None:
        """A kubectl write, repeated until it succeeds: stories with injected API faults need it,
        as a person would re-run a command that failed."""
        wait_for(
            lambda: self.kubectl(*args, input=input, check=False).returncode == 0,
            30,
            f"kubectl {' '.join(args)} to succeed",
        )

    def apply(self, manifest: dict[str, Any]) -> None:
        self.write("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def release(self, name: str = "web") -> dict[str, Any]:
        found: dict[str, Any] = self.json("get", "release", name)
        return found

    def status(self, name: str = "web") -> dict[str, Any]:
        return self.release(name).get("status") or {}

    def condition(self, type_: str, name: str = "web") -> dict[str, Any]:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == type_), {})

    def deployments(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json("get", "deployments")["items"]
        return items

    def deployment_of(self, revision: str) -> dict[str, Any] | None:
        matches = [
            d for d in self.deployments() if d["metadata"]["labels"].get("slipway.dev/revision") == revision
        ]
        return matches[0] if matches else None

    def service(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.json("get", "service", name)
        return found

    def events(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json("get", "events")["items"]
        return items

    def wait_phase(
        self, phase: str, version: str, timeout: float = 60.0, name: str = "web"
    ) -> dict[str, Any]:
        """Wait until the Release is in `phase` with `version` as its stable version."""
        seen: list[dict[str, Any]] = [{}]

        def reached() -> dict[str, Any] | None:
            status = seen[0] = self.status(name)
            stable = status.get("stable") or {}
            return status if status.get("phase") == phase and stable.get("version") == version else None

        try:
            return wait_for(reached, timeout, f"{name} {phase} on version {version}")
        except AssertionError as timeout_error:
            raise AssertionError(f"{timeout_error}; status: {json.dumps(seen[0], indent=1)}") from None


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def job_metric(exit_code: int = 0, name: str = "smoke") -> dict[str, Any]:
    """A smoke-test Job as a metric: its pod ends with `exit_code` after a fraction of a second."""
    env = [
        {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0.2"},
        {"name": "SLIPWAY_DEMO_EXIT_CODE", "value": str(exit_code)},
    ]
    container = {"name": "check", "image": "demo/smoke", "env": env}
    template = {
        "backoffLimit": 0,
        "template": {"spec": {"restartPolicy": "Never", "containers": [container]}},
    }
    return {"name": name, "job": {"template": template}}


@dataclass(frozen=True)
class Change:
    """One object change seen by a watch; `rv` orders changes across every collection."""

    rv: int
    kind: str
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    seen_at: float
    """When the log's watch delivered it (time.monotonic())."""


class ChangeLog:
    """Watches opened on some collections of one namespace; `changes()` lists what changed, in the API
    server's order, from the moment the log started."""

    def __init__(self, credentials: Credentials, collections: dict[str, str]) -> None:
        """`collections`: kind -> collection path (`/api/v1/namespaces/default/services`)."""
        self._credentials = credentials
        self._collections = collections
        self._lock = threading.Lock()
        self._changes: list[Change] = []
        self._sockets: list[socket.socket] = []
        self._readers: list[threading.Thread] = []

    def __enter__(self) -> ChangeLog:
        address = urllib.parse.urlsplit(self._credentials.url)
        assert address.hostname is not None and address.port is not None
        tls = self._credentials.ssl_context()
        for kind, path in self._collections.items():
            with self._credentials.urlopen(path, timeout=10) as listing:
                rv = json.load(listing)["metadata"]["resourceVersion"]
            # Our own socket: shutting it down is what ends a blocked read at once.
            connection = http.client.HTTPSConnection(address.hostname, address.port, context=tls)
            connection.sock = tls.wrap_socket(
                socket.create_connection((address.hostname, address.port), timeout=120),
                server_hostname=address.hostname,
            )
            self._sockets.append(connection.sock)
            connection.request(
                "GET", f"{path}?watch=1&resourceVersion={rv}", headers=self._credentials.headers()
            )
            reader = threading.Thread(target=self._follow, args=(kind, connection.getresponse()), daemon=True)
            reader.start()
            self._readers.append(reader)
        return self

    def __exit__(self, *_: object) -> None:
        for watch in self._sockets:
            watch.shutdown(socket.SHUT_RDWR)
            watch.close()
        for reader in self._readers:
            reader.join(timeout=5)

    def _follow(self, kind: str, answer: http.client.HTTPResponse) -> None:
        last: dict[str, dict[str, Any]] = {}
        try:
            for line in answer:
                obj = json.loads(line)["object"]
                name = obj["metadata"]["name"]
                rv = int(obj["metadata"]["resourceVersion"])
                change = Change(rv, kind, name, last.get(name), obj, time.monotonic())
                last[name] = obj
                with self._lock:
                    self._changes.append(change)
        except (OSError, ValueError, http.client.HTTPException):
            pass  # the socket was shut down by __exit__

    def changes(self) -> list[Change]:
        with self._lock:
            return sorted(self._changes, key=lambda change: change.rv)


def write_operator_config(dev_cluster: DevCluster, path: Path, **overrides: Any) -> Path:
    """The dev cluster's operator config (its Prometheus) with `overrides` (camelCase sections)."""
    base = load_config(dev_cluster.operator_config).model_dump(by_alias=True, mode="json")
    path.write_text(parse_config({**base, **overrides}).to_yaml())
    return path


def post_alerts(alertmanager_url: str, alerts: list[dict[str, Any]]) -> None:
    """Post alerts to a real Alertmanager's API v2, as Prometheus does; it answers 200."""
    request = urllib.request.Request(
        f"{alertmanager_url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def first_release(cluster: Cluster, version: str = "1", **options: Any) -> dict[str, Any]:
    """Apply a first version and wait until it serves: the baseline of every rollout story."""
    cluster.apply(release_manifest(version, **options))
    return cluster.wait_phase("Healthy", version, timeout=30)


def plugin_env(cluster: DevCluster) -> dict[str, str]:
    """The environment `kubectl slipway` runs in: the cluster's kubeconfig, the plugin on PATH."""
    return {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def plugin_run(cluster: DevCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl slipway ARGS` as a user types it, whatever its exit code."""
    return subprocess.run(
        ["kubectl", "slipway", *args], env=plugin_env(cluster), capture_output=True, text=True, timeout=120
    )


def plugin(cluster: DevCluster, *args: str) -> str:
    """`kubectl slipway ARGS`, which must succeed; its output."""
    done = plugin_run(cluster, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_release_phase(cluster: DevCluster, phase: str, version: str, name: str = "web") -> None:
    """Until Release `name` (default namespace) is in `phase` on `version`, as `kubectl wait` sees it."""
    for path, value in ((".spec.version", version), (".status.phase", phase)):
        cluster.kubectl(
            "wait", f"release/{name}", f"--for=jsonpath={{{path}}}={value}", "--timeout=90s", timeout=120
        )

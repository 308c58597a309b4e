"""Helpers of the end-to-end stories: Release manifests, the operator as a process, polling.

The operator runs exactly as a user starts it (`slipway run --config FILE`, KUBECONFIG set) in its own
process group, so a test can SIGKILL it and start it again.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from slipway.runtime.config import load_config, parse_config
from slipway_dev.apiserver import Credentials
from slipway_dev.cluster import DevCluster

E2E = [pytest.mark.e2e, pytest.mark.dev_cluster(prometheus="on", rps=40)]
"""Marks of every story: each gets its own dev cluster with Prometheus scraping the pods."""

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
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


class Operator:
    """`slipway run` as a child process; start, stop (SIGTERM), kill (SIGKILL) and start again."""

    def __init__(self, cluster: DevCluster, config: Path, log: Path) -> None:
        self.cluster = cluster
        self.config = config
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "slipway", "run", "--config", str(self.config)],
                env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)},
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

    def said(self, event: str) -> bool:
        return any(line.get("event") == event for line in self.log_lines())

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines


class Cluster:
    """What a story needs from the dev cluster: kubectl, the Release, its objects and Events."""

    def __init__(self, dev_cluster: DevCluster) -> None:
        self.dev = dev_cluster

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.dev.kubectl(*args, input=input, check=check)

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
        found: dict[str, Any] = self.dev.kubectl_json("get", "release", name)
        return found

    def status(self, name: str = "web") -> dict[str, Any]:
        return self.release(name).get("status") or {}

    def condition(self, type_: str, name: str = "web") -> dict[str, Any]:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == type_), {})

    def deployments(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.dev.kubectl_json("get", "deployments")["items"]
        return items

    def deployment_of(self, revision: str) -> dict[str, Any] | None:
        matches = [
            d for d in self.deployments() if d["metadata"]["labels"].get("slipway.dev/revision") == revision
        ]
        return matches[0] if matches else None

    def service(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.dev.kubectl_json("get", "service", name)
        return found

    def events(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.dev.kubectl_json("get", "events")["items"]
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
                change = Change(int(obj["metadata"]["resourceVersion"]), kind, name, last.get(name), obj)
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


def first_release(cluster: Cluster, version: str = "1", **options: Any) -> dict[str, Any]:
    """Apply a first version and wait until it serves: the baseline of every rollout story."""
    cluster.apply(release_manifest(version, **options))
    return cluster.wait_phase("Healthy", version, timeout=30)

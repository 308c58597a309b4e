"""`DevCluster`: the API server, the simulated world and (optionally) Prometheus and Alertmanager, as
one object.

The asyncio parts run on an event loop in a background thread, so the class is a plain synchronous
context manager usable from tests, the CLI and the demo alike:

    with DevCluster(state_dir=tmp) as cluster:
        cluster.kubectl("apply", "-f", "deploy.yaml")

The Release CRD and the upstream PrometheusRule CRD are installed at start (release_crd=False leaves
the cluster bare), so Releases can be applied at once and `operator=True` has something to watch;
`routing_crds=True` (what `slipway dev` does) also serves HTTPRoute and VirtualService, open schemas
(slipway_dev.packaged), as a cluster with Gateway API and Istio installed would.
With Prometheus, each PrometheusRule becomes a rule file it evaluates every second (slipway_dev.rules),
and its alerts go to the cluster's Alertmanager when that runs (the `prometheus-alertmanager` binary
is installed and `alertmanager` is not "off").

The API server speaks HTTPS only; the kubeconfig carries its CA and the admin's bearer token
(user `kubernetes-admin`, group `system:masters`). The simulated world acts as its own user,
`system:slipway-dev:world`, also in `system:masters`.

Files written into `state_dir` (the CLI uses .slipway/): `kubeconfig`, `api-url`, `operator.yaml`
(an operator config naming this cluster's Prometheus and Alertmanager); with Prometheus
`scrape-targets.json`, `rules/` and `prometheus-url`; with Alertmanager `alertmanager-url`; with
`operator=True` the operator's log `operator.log`. The operator runs as `slipway run --config
operator.yaml` in its own process group, exactly as a user would start it. `operator_config` names a
YAML file of operator config sections (`notifications:`, `web:`, ...) merged over the generated ones
before the operator starts (a mapping merged key by key, anything else replaced), so a feature
configured only in the operator config can be tried on the dev cluster too.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import yaml

from slipway import plugins
from slipway.api.crd import build_crd
from slipway.runtime.config import ConfigError, parse_config
from slipway_dev.alertmanager import AlertmanagerProcess
from slipway_dev.apiserver import ApiServer, write_kubeconfig
from slipway_dev.apiserver.credentials import Credentials
from slipway_dev.apiserver.faults import FaultConfig
from slipway_dev.apiserver.podbudget import DEFAULT_MAX_PODS
from slipway_dev.controllers.client import CUSTOM_RESOURCE_DEFINITIONS
from slipway_dev.gateway import EntryStats
from slipway_dev.load import LoadVariant
from slipway_dev.packaged import routing_crds
from slipway_dev.prometheus import PrometheusProcess
from slipway_dev.rules import RULE_FILE_GLOB, prometheus_rule_crd
from slipway_dev.traffic import ServiceKey
from slipway_dev.world import SimulatedWorld

PrometheusMode = Literal["auto", "on", "off"]
START_TIMEOUT_SECONDS = 30.0
# Kopf takes about 5 s to wind down on SIGTERM; a dev cluster's operator holds nothing worth that wait
# (it resumes from status, SPEC invariant 5), so it gets this long before SIGKILL.
OPERATOR_GRACE_SECONDS = 1.0
Result = TypeVar("Result")


class KubectlFailed(RuntimeError):
    """kubectl exited non-zero; the message carries its stderr."""


class DevCluster:
    """API server + simulated world (+ Prometheus, + operator) on 127.0.0.1; see the module docstring.

    `state_dir` defaults to a temporary directory removed on stop; `prometheus` is "auto" (when the
    binary is on PATH), "on" (required) or "off"; `alertmanager` likewise, and only beside Prometheus
    (its alerts come from Prometheus's rules); `faults` go to the API server.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        state_dir: Path | None = None,
        kubeconfig: Path | None = None,
        rps: float = 20.0,
        prometheus: PrometheusMode = "auto",
        alertmanager: PrometheusMode = "auto",
        faults: FaultConfig | None = None,
        operator: bool = False,
        release_crd: bool = True,
        routing_crds: bool = False,
        process_images: list[str] | None = None,
        operator_config: Path | None = None,
        scrape_interval: str = "1s",
        rule_interval: str | None = None,
        max_pods: int | None = None,
        gateway_port: int = 0,
        load: Sequence[LoadVariant] = (),
        test_load: Sequence[ServiceKey] = (),
    ) -> None:
        self.port = port
        self._own_state_dir = state_dir is None
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="slipway-dev-"))
        self.kubeconfig = kubeconfig or self.state_dir / "kubeconfig"
        self.rps = rps
        # The gateway's front door on 127.0.0.1 (0: a free port), the mix of its generated load, and the
        # Services no client calls that get it too, as testers would call them (slipway_dev.gateway).
        self.requested_gateway_port = gateway_port
        self.load = tuple(load)
        self.test_load = tuple(test_load)
        self.prometheus_mode = prometheus
        self.alertmanager_mode = alertmanager
        # How often Prometheus scrapes each pod, and evaluates the rules (Prometheus durations; the
        # rules as often as the scrapes unless given).
        self.scrape_interval = scrape_interval
        self.rule_interval = rule_interval
        self.faults = faults
        self.with_operator = operator
        self.release_crd = release_crd
        self.serve_routing_crds = routing_crds
        # Images whose pods run as local processes (slipway_dev.processes); None: $SLIPWAY_DEV_PROCESS_IMAGES
        # or the chart's default image.
        self.process_images = process_images
        self.extra_operator_config = operator_config
        # Pods the simulated world runs at most; writes declaring more are refused (apiserver/podbudget.py).
        self.max_pods = DEFAULT_MAX_PODS if max_pods is None else max_pods
        self._operator: subprocess.Popen[bytes] | None = None
        self.prometheus_url: str | None = None
        self.alertmanager_url: str | None = None
        self._server: ApiServer | None = None
        self._world: SimulatedWorld | None = None
        self._prometheus: PrometheusProcess | None = None
        self._alertmanager: AlertmanagerProcess | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the dev cluster is not running")
        return str(self._server.url)

    @property
    def credentials(self) -> Credentials:
        """The admin's: URL, CA and token, for raw requests (the kubeconfig holds the same)."""
        if self._server is None:
            raise RuntimeError("the dev cluster is not running")
        return self._server.credentials()

    @property
    def server(self) -> ApiServer:
        if self._server is None:
            raise RuntimeError("the dev cluster is not running")
        return self._server

    @property
    def gateway_port(self) -> int:
        """The port of the gateway's front door, on 127.0.0.1."""
        if self._world is None or self._world.gateway.port is None:
            raise RuntimeError("the dev cluster is not running")
        return self._world.gateway.port

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def gateway_port_file(self) -> Path:
        """Where the front door's port is written, beside the kubeconfig."""
        return self.kubeconfig.parent / "gateway-port"

    @property
    def operator_config(self) -> Path:
        return self.state_dir / "operator.yaml"

    @property
    def scrape_targets(self) -> Path:
        return self.state_dir / "scrape-targets.json"

    @property
    def rules_dir(self) -> Path:
        """Where each PrometheusRule is a rule file (with Prometheus)."""
        return self.state_dir / "rules"

    def start(self) -> Self:
        # The Release CRD and the operator config it serves are completed by the operator's plug-ins.
        plugins.load()
        extra = self._extra_operator_settings()  # a bad file stops the start before anything runs
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="slipway-dev-cluster", daemon=True
        )
        self._thread.start()
        try:
            self.call(self._start_world())
            write_kubeconfig(self.kubeconfig, self.credentials)
            (self.state_dir / "api-url").write_text(self.url + "\n")
            self.gateway_port_file.write_text(f"{self.gateway_port}\n")
            self._start_prometheus()
            self.operator_config.write_text(self._operator_config(extra))
            if self.with_operator:
                self._start_operator()
        except BaseException:
            self.stop()
            raise
        return self

    async def _start_world(self) -> None:
        self._server = ApiServer("127.0.0.1", port=self.port, faults=self.faults, max_pods=self.max_pods)
        await self._server.start()
        if self.release_crd:
            self._install_crd(prometheus_rule_crd())
        for crd in routing_crds() if self.serve_routing_crds else []:
            self._install_crd(crd)
        targets = self.scrape_targets if self._wants_prometheus() else None
        rule_files = (self.rules_dir.resolve(), self._reload_prometheus) if self._wants_prometheus() else None
        self._world = SimulatedWorld(
            self._server.world_credentials(),
            rps=self.rps,
            scrape_targets_path=targets,
            process_images=self.process_images,
            local_socket=self._server.local_socket,
            rule_files=rule_files,
            gateway_port=self.requested_gateway_port,
            load=self.load,
            test_load=self.test_load,
        )
        await self._world.start()
        self._server.log_source = self._world.kubelet  # pods/log reads what the kubelet's pods print
        if self.release_crd:
            self._install_crd(build_crd())

    def _install_crd(self, body: dict[str, Any]) -> None:
        # Stored in-process: the cluster's own set-up is not a client's write, so injected write
        # faults (even a rate of 1) cannot keep it from starting.
        assert self._server is not None
        crd = CUSTOM_RESOURCE_DEFINITIONS
        crds = self._server.cluster.registry.lookup(crd.group, crd.version, crd.plural)
        assert crds is not None  # a built-in type
        self._server.cluster.create(crds, "", body)

    def _wants_prometheus(self) -> bool:
        return self.prometheus_mode == "on" or (
            self.prometheus_mode == "auto" and PrometheusProcess.available()
        )

    def _wants_alertmanager(self) -> bool:
        return self._wants_prometheus() and (
            self.alertmanager_mode == "on"
            or (self.alertmanager_mode == "auto" and AlertmanagerProcess.available())
        )

    def _start_prometheus(self) -> None:
        if not self._wants_prometheus():
            return
        if self._wants_alertmanager():
            self._alertmanager = AlertmanagerProcess().start()
            self.alertmanager_url = self._alertmanager.url
            (self.state_dir / "alertmanager-url").write_text(self.alertmanager_url + "\n")
        self.rules_dir.mkdir(parents=True, exist_ok=True)
        self._prometheus = PrometheusProcess(
            file_sd_path=self.scrape_targets.resolve(),
            scrape_interval=self.scrape_interval,
            rule_files=[self.rules_dir.resolve() / RULE_FILE_GLOB],
            alertmanager_url=self.alertmanager_url,
            rule_interval=self.rule_interval,
        ).start()
        self.prometheus_url = self._prometheus.url
        (self.state_dir / "prometheus-url").write_text(self.prometheus_url + "\n")
        self._reload_prometheus()  # rule files written while it started

    def _reload_prometheus(self) -> None:
        """SIGHUP: Prometheus re-reads its config and rule files (called from the world's thread)."""
        running = self._prometheus
        if running is not None:
            os.kill(running.pid, signal.SIGHUP)

    def _extra_operator_settings(self) -> dict[str, Any]:
        path = self.extra_operator_config
        if path is None:
            return {}
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as unreadable:
            raise ConfigError(f"{path}: cannot read: {unreadable.strerror}") from None
        except yaml.YAMLError as malformed:
            raise ConfigError(f"{path}: not valid YAML: {malformed}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: must be a mapping of operator config sections")
        return data

    def _operator_config(self, extra: dict[str, Any]) -> str:
        settings: dict[str, Any] = {"allNamespaces": True, "server": {"port": 0}}
        if self.prometheus_url is not None:
            settings["prometheus"] = {"url": self.prometheus_url}
        if self.alertmanager_url is not None:
            settings["alertmanager"] = {"url": self.alertmanager_url}
        source = f"dev cluster + {self.extra_operator_config}" if extra else "dev cluster"
        # What `slipway run` would refuse (a notifier's URL file, a host not allowed) is refused here, by
        # the same code and with every problem at once, rather than by an operator exiting in the background.
        return parse_config(_merged(settings, extra), source, read_files=bool(extra)).to_yaml()

    def _start_operator(self) -> None:
        with (self.state_dir / "operator.log").open("ab") as log:
            self._operator = subprocess.Popen(
                [sys.executable, "-m", "slipway", "run", "--config", str(self.operator_config)],
                env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def operator_pid(self) -> int | None:
        return self._operator.pid if self._operator is not None else None

    def _stop_operator(self) -> None:
        if self._operator is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self._operator.pid, sig)
                self._operator.wait(timeout=OPERATOR_GRACE_SECONDS)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self._operator.wait()
        self._operator = None

    def stop(self) -> None:
        self._stop_operator()
        if self._prometheus is not None:
            self._prometheus.stop()
            self._prometheus = None
            self.prometheus_url = None
            (self.state_dir / "prometheus-url").unlink(missing_ok=True)
        if self._alertmanager is not None:
            self._alertmanager.stop()
            self._alertmanager = None
            self.alertmanager_url = None
            (self.state_dir / "alertmanager-url").unlink(missing_ok=True)
        if self._world is not None:
            self.gateway_port_file.unlink(missing_ok=True)
        if self._loop is not None and self._thread is not None:
            if self._loop.is_running():
                self.call(self._stop_world())
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=START_TIMEOUT_SECONDS)
            self._loop.close()
        self._loop = self._thread = None
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    async def _stop_world(self) -> None:
        if self._world is not None:
            await self._world.stop()
            self._world = None
        if self._server is not None:
            await self._server.stop()
            self._server = None

    def call(self, coroutine: Coroutine[Any, Any, Result], timeout: float = START_TIMEOUT_SECONDS) -> Result:
        """Run a coroutine on the cluster's event loop and wait for its result."""
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the dev cluster is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def gateway_stats(self) -> dict[str, EntryStats]:
        """A snapshot of what the gateway's requests got, by entry point."""

        async def snapshot() -> dict[str, EntryStats]:
            assert self._world is not None
            return {name: stats.copy() for name, stats in self._world.gateway.stats.items()}

        return self.call(snapshot())

    def set_load(self, variants: Sequence[LoadVariant]) -> None:
        """A new mix for the generated load (LoadMixError when it cannot be sent), at once."""

        async def apply() -> None:
            assert self._world is not None
            self._world.gateway.set_load(variants)

        self.call(apply())

    def set_test_load(self, services: Sequence[ServiceKey]) -> None:
        """The Services no client calls that get the generated load too, from now on."""

        async def apply() -> None:
            assert self._world is not None
            self._world.gateway.set_test_load(services)

        self.call(apply())

    def faults_injected(self) -> dict[int, int]:
        """The write faults the API server has injected so far, by HTTP status code."""

        async def snapshot() -> dict[int, int]:
            assert self._server is not None
            return dict(self._server.faults_injected)

        return self.call(snapshot())

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster (`env`: more of its environment); with check, a
        failure raises with kubectl's stderr."""
        completed = subprocess.run(
            ["kubectl", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            # A private discovery cache: ports are reused, and another cluster's resources must not linger.
            env={
                **os.environ,
                "KUBECONFIG": str(self.kubeconfig),
                "KUBECACHEDIR": str(self.state_dir / "kube-cache"),
                **(env or {}),
            },
        )
        if check and completed.returncode != 0:
            raise KubectlFailed(
                f"kubectl {' '.join(args)} failed ({completed.returncode}):\n{completed.stderr}"
            )
        return completed

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on `base`: mappings merged key by key (so `prometheus: {timeoutSeconds: 5}` keeps the
    generated URL), any other value replaced."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        merged[key] = _merged(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged

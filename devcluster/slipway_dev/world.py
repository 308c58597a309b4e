"""The simulated world around the dev API server: workload and endpoints controllers, kubelet, gateway,
scrape targets, rule files.

Everything here is a client of the API server's REST API (list + watch, create, patch, delete), so
the world can run against any server that speaks it and nothing bypasses what kubectl can see.
ownerReference garbage collection and namespace cleanup happen inside the API server itself
(slipway_dev.apiserver.cluster), synchronously with the owner's deletion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from slipway_dev.apiserver.credentials import Credentials
from slipway_dev.controllers.client import KubeClient
from slipway_dev.controllers.deployments import DeploymentController
from slipway_dev.controllers.endpoints import EndpointsController
from slipway_dev.controllers.jobs import JobController
from slipway_dev.controllers.kubelet import Kubelet
from slipway_dev.controllers.replicasets import ReplicaSetController
from slipway_dev.controllers.runtime import Informers
from slipway_dev.gateway import Gateway
from slipway_dev.load import LoadVariant
from slipway_dev.processes import ProcessRunner
from slipway_dev.rules import RuleFilesWriter
from slipway_dev.scrape import ScrapeTargetsWriter
from slipway_dev.traffic import ServiceKey


class SimulatedWorld:
    """Start inside a running event loop with `await start()`; `stop()` stops every pod server too."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        rps: float = 20.0,
        scrape_targets_path: Path | None = None,
        process_images: Sequence[str] | None = None,
        local_socket: Path | None = None,
        rule_files: tuple[Path, Callable[[], None]] | None = None,
        gateway_port: int | None = 0,
        load: Sequence[LoadVariant] = (),
        test_load: Sequence[ServiceKey] = (),
    ) -> None:
        self.credentials = credentials
        self.local_socket = local_socket
        self.process_images = process_images
        self.rps = rps
        # The gateway's front door (None: closed), the mix of its generated load, and the Services only
        # testers call that get it too.
        self.gateway_port = gateway_port
        self.load = load
        self.test_load = test_load
        self.scrape_targets_path = scrape_targets_path
        # Where PrometheusRules become rule files, and what tells Prometheus to reload them.
        self.rule_files_target = rule_files
        self._started = False

    async def start(self) -> None:
        self.client = KubeClient(self.credentials, unix_socket=self.local_socket)
        self.informers = Informers(self.client)
        self.deployments = DeploymentController(self.informers)
        self.replica_sets = ReplicaSetController(self.informers)
        self.jobs = JobController(self.informers)
        # Pods of the Slipway image run the real operator; the world's credentials mint their tokens.
        self.kubelet = Kubelet(self.informers, ProcessRunner(self.credentials, self.process_images))
        self.endpoints = EndpointsController(self.informers)
        self.gateway = Gateway(
            self.informers,
            self.rps,
            servers=self.kubelet.servers,
            port=self.gateway_port,
            load=self.load,
            test_load=self.test_load,
        )
        self.scrape_targets = (
            ScrapeTargetsWriter(self.informers, self.scrape_targets_path)
            if self.scrape_targets_path
            else None
        )
        self.rule_files = (
            RuleFilesWriter(self.informers, *self.rule_files_target) if self.rule_files_target else None
        )
        try:
            await self.gateway.start()  # first: a front door port already taken stops the start here
        except OSError:
            await self.gateway.stop()
            await self.informers.stop()
            await self.client.close()
            raise
        for controller in (self.deployments, self.replica_sets, self.jobs, self.kubelet, self.endpoints):
            controller.controller.start()
        if self.scrape_targets is not None:
            self.scrape_targets.start()
        if self.rule_files is not None:
            self.rule_files.start()
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.gateway.stop()
        if self.scrape_targets is not None:
            await self.scrape_targets.stop()
        if self.rule_files is not None:
            await self.rule_files.stop()
        for controller in (self.deployments, self.replica_sets, self.jobs, self.endpoints):
            await controller.controller.stop()
        await self.kubelet.stop()
        await self.informers.stop()
        await self.client.close()

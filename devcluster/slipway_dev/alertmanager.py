"""Run the Debian `prometheus-alertmanager` binary as a plain child process on a free loopback port."""

from __future__ import annotations

from pathlib import Path

import yaml

from slipway_dev.prometheus import LOOPBACK, BinaryServerProcess


class AlertmanagerProcess(BinaryServerProcess):
    """A single Alertmanager that only stores alerts: one receiver that sends nowhere, no clustering."""

    binary = "prometheus-alertmanager"

    def write_config(self, workdir: Path) -> None:
        config = {"route": {"receiver": "nowhere"}, "receivers": [{"name": "nowhere"}]}
        (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def arguments(self, workdir: Path, port: int) -> list[str]:
        return [
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            # An empty cluster address turns gossip off; otherwise it would bind the fixed port 9094.
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

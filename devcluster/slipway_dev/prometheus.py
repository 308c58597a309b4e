"""Run the Debian `prometheus` binary as a plain child process on a free loopback port.

The dev cluster and the tests use it; it is never a system service. `BinaryServerProcess` holds what
Prometheus and Alertmanager share (both come from the Prometheus project: same flags style, same
`/-/ready` endpoint), so `alertmanager.py` only says how its config looks.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

LOOPBACK = "127.0.0.1"
_START_ATTEMPTS = 5
_READY_TIMEOUT_SECONDS = 30.0
_STOP_TIMEOUT_SECONDS = 10.0
_POLL_SECONDS = 0.05


class ProcessStartError(RuntimeError):
    """The binary did not become ready; the message carries the tail of its log."""


def free_port() -> int:
    """A port that was free a moment ago. Callers retry on the rare collision."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


class BinaryServerProcess(ABC):
    """A Prometheus-project server binary in its own process group, with its own temp directory.

    Subclasses name the binary and write its config; this class picks the port, starts the process,
    waits for `/-/ready` and kills the whole process group on stop.
    """

    binary: str

    def __init__(self) -> None:
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @classmethod
    def available(cls) -> bool:
        return shutil.which(cls.binary) is not None

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{self.binary} is not running")
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def pid(self) -> int:
        """The process id, which is also its process group id."""
        if self._process is None:
            raise RuntimeError(f"{self.binary} is not running")
        return self._process.pid

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError(f"{self.binary} is not running")
        return self._workdir

    @abstractmethod
    def write_config(self, workdir: Path) -> None:
        """Write the binary's config files into `workdir`."""

    @abstractmethod
    def arguments(self, workdir: Path, port: int) -> list[str]:
        """The command-line flags, listening on LOOPBACK:port."""

    def start(self) -> Self:
        if self._process is not None:
            raise RuntimeError(f"{self.binary} is already running")
        executable = shutil.which(self.binary)
        if executable is None:
            raise ProcessStartError(f"{self.binary} is not on PATH")
        self._workdir = Path(tempfile.mkdtemp(prefix=f"slipway-{self.binary}-"))
        self.write_config(self._workdir)
        failure = ""
        for _ in range(_START_ATTEMPTS):
            port = free_port()
            process = self._spawn([executable, *self.arguments(self._workdir, port)])
            failure = self._await_ready(process, port)
            if not failure:
                self._process, self._port = process, port
                return self
            _kill_group(process)
            if "address already in use" not in failure:
                break
        self._remove_workdir()
        raise ProcessStartError(f"{self.binary} did not become ready: {failure}")

    def stop(self) -> None:
        if self._process is not None:
            _kill_group(self._process)
        self._process = None
        self._port = None
        self._remove_workdir()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / "process.log").open("wb")
        try:
            # A new session makes the process group ours alone, so stop() can kill all of it.
            return subprocess.Popen(
                argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()

    def _await_ready(self, process: subprocess.Popen[bytes], port: int) -> str:
        """'' once ready; otherwise why not."""
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        ready_url = f"http://{LOOPBACK}:{port}/-/ready"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return f"exited with {process.returncode}: {self._log_tail()}"
            try:
                with urllib.request.urlopen(ready_url, timeout=1) as answer:
                    if answer.status == 200:
                        return ""
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(_POLL_SECONDS)
        return f"not ready after {_READY_TIMEOUT_SECONDS:.0f}s: {self._log_tail()}"

    def _log_tail(self) -> str:
        log = self.workdir / "process.log"
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        return " | ".join(lines[-5:]) or "(no output)"

    def _remove_workdir(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=_STOP_TIMEOUT_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue
    process.wait()


class PrometheusProcess(BinaryServerProcess):
    """Prometheus scraping either explicit `scrape_configs` or the targets listed in a file_sd file.

    `file_sd_path` is a JSON/YAML file in Prometheus file_sd format (a list of {targets, labels});
    Prometheus re-reads it when it changes, so a dev cluster can add and remove pods as they come.
    """

    binary = "prometheus"

    def __init__(
        self,
        scrape_configs: Sequence[Mapping[str, Any]] = (),
        *,
        file_sd_path: Path | None = None,
        scrape_interval: str = "1s",
        rule_files: Sequence[Path] = (),
        alertmanager_url: str | None = None,
        rule_interval: str | None = None,
    ) -> None:
        super().__init__()
        self.scrape_configs = [dict(config) for config in scrape_configs]
        if file_sd_path is not None:
            self.scrape_configs.append(
                {
                    "job_name": "file-sd",
                    "file_sd_configs": [{"files": [str(file_sd_path)], "refresh_interval": "5s"}],
                }
            )
        self.scrape_interval = scrape_interval
        # How often the rules are evaluated: as often as the pods are scraped unless told otherwise.
        self.rule_interval = rule_interval or scrape_interval
        self.rule_files = [str(path) for path in rule_files]
        self.alertmanager_url = alertmanager_url

    def write_config(self, workdir: Path) -> None:
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.rule_interval},
            "scrape_configs": self.scrape_configs,
            "rule_files": self.rule_files,
        }
        if self.alertmanager_url is not None:
            scheme, _, rest = self.alertmanager_url.partition("://")
            host, _, path = rest.partition("/")
            config["alerting"] = {
                "alertmanagers": [
                    {"scheme": scheme, "path_prefix": f"/{path}", "static_configs": [{"targets": [host]}]}
                ]
            }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def arguments(self, workdir: Path, port: int) -> list[str]:
        return [
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            # Alertmanagers are discovered a few seconds after start; resend soon, not after a minute.
            "--rules.alert.resend-delay=1s",
            "--log.level=warn",
        ]

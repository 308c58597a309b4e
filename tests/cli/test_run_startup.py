"""`slipway run` that cannot start: one line for a person, the same as one log line, a non-zero status.

Each case runs the real command as a process, as a pod would, and reads everything it wrote.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slipway_dev.cluster import DevCluster

SLIPWAY = str(Path(sys.executable).parent / "slipway")
# A kubeconfig that loads without contacting anything: the failures below happen before any request.
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
        and not key.startswith("SLIPWAY_")
    }
    return subprocess.run(
        [SLIPWAY, "run", *args],
        env={**clean, "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_failure(done: subprocess.CompletedProcess[str], exit_code: int) -> tuple[str, dict[str, Any]]:
    """The documented shape: nothing on stdout; on stderr one human line, then one JSON log line."""
    assert done.returncode == exit_code, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == ""
    human, logged = done.stderr.splitlines()
    assert human.startswith("slipway run: ")
    line: dict[str, Any] = json.loads(logged)
    assert line["event"] == human.removeprefix("slipway run: ")
    assert (line["level"], line["logger"], line["exit_code"]) == ("error", "slipway.run", exit_code)
    assert "timestamp" in line
    return human, line


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return path


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_no_credentials_says_what_to_set(tmp_path: Path) -> None:
    human, line = one_failure(run(tmp_path), 1)
    assert "no Kubernetes credentials" in human and "set KUBECONFIG" in human
    assert line["reason"] == "CredentialsNotFound"


def test_in_a_pod_without_a_token_names_the_directory_and_its_override(tmp_path: Path) -> None:
    pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    account = tmp_path / "projected"
    human, _ = one_failure(run(tmp_path, **pod, SLIPWAY_SERVICE_ACCOUNT_DIR=str(account)), 1)
    assert f"{account}/token" in human and "SLIPWAY_SERVICE_ACCOUNT_DIR" in human
    flagged = tmp_path / "flagged"
    human, _ = one_failure(run(tmp_path, "--service-account-dir", str(flagged), **pod), 1)
    assert f"{flagged}/token" in human


def test_an_invalid_config_names_the_file_and_field(tmp_path: Path, kubeconfig: Path) -> None:
    config = tmp_path / "slipway.yaml"
    config.write_text("server: {port: 70000}\npromethues: {}\n")
    human, line = one_failure(run(tmp_path, "--config", str(config), KUBECONFIG=str(kubeconfig)), 2)
    assert str(config) in human and "server.port" in human and "promethues: no such section" in human
    assert line["reason"] == "ConfigError"


def test_a_notifier_url_outside_the_allow_list_stops_the_start_without_showing_the_url(
    tmp_path: Path, kubeconfig: Path
) -> None:
    secret = tmp_path / "url"
    secret.write_text("https://hooks.example.net/services/s3cr3t")
    config = tmp_path / "slipway.yaml"
    chat = f"{{type: slack, urlFile: {secret}}}"
    config.write_text(f"notifications: {{allowedHosts: [hooks.slack.com], notifiers: {{chat: {chat}}}}}\n")
    done = run(tmp_path, "--config", str(config), KUBECONFIG=str(kubeconfig))
    human, line = one_failure(done, 2)
    assert "notifications.notifiers.chat.urlFile: host 'hooks.example.net' is not in" in human
    assert line["reason"] == "ConfigError" and "s3cr3t" not in done.stderr + done.stdout


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    human, _ = one_failure(run(tmp_path, "--config", str(tmp_path / "absent.yaml")), 2)
    assert "absent.yaml: cannot read" in human


def test_a_port_in_use_says_which_and_what_to_set(tmp_path: Path, kubeconfig: Path, taken_port: int) -> None:
    config = tmp_path / "slipway.yaml"
    config.write_text(f"server: {{host: 127.0.0.1, port: {taken_port}}}\n")
    human, line = one_failure(run(tmp_path, "--config", str(config), KUBECONFIG=str(kubeconfig)), 1)
    assert f"127.0.0.1:{taken_port}" in human and "in use" in human and "server.port" in human
    assert line["reason"] == "CannotListen"


def test_an_invalid_log_flag_is_refused_the_same_way(tmp_path: Path) -> None:
    human, line = one_failure(run(tmp_path, SLIPWAY_LOG_LEVEL="loud"), 2)
    assert "--log-level (SLIPWAY_LOG_LEVEL)" in human and "'debug'" in human
    assert line["reason"] == "InvalidFlag"


def test_the_console_format_logs_the_failure_as_plain_text(tmp_path: Path) -> None:
    done = run(tmp_path, "--log-format", "console")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    human, logged = done.stderr.splitlines()
    assert human.startswith("slipway run: no Kubernetes credentials")
    assert not logged.startswith("{") and "[error" in logged and "[slipway.run]" in logged
    assert "reason=CredentialsNotFound" in logged and "no Kubernetes credentials" in logged


def test_the_config_sets_the_log_format_and_the_flag_overrides_it(tmp_path: Path) -> None:
    config = tmp_path / "slipway.yaml"
    config.write_text("log: {format: console}\n")
    by_config = run(tmp_path, "--config", str(config))
    assert "[error" in by_config.stderr.splitlines()[1]
    by_flag = run(tmp_path, "--config", str(config), SLIPWAY_LOG_FORMAT="json")
    one_failure(by_flag, 1)


@pytest.mark.dev_cluster(release_crd=False)
def test_watching_namespaces_without_the_crd_says_to_install_it(
    tmp_path: Path, dev_cluster: DevCluster
) -> None:
    # It would serve nothing, ever: with given namespaces it looks for the CRD at start only.
    config = tmp_path / "config.yaml"
    config.write_text("server: {port: 0}\n")
    done = run(
        tmp_path, "--namespace", "default", "--config", str(config), KUBECONFIG=str(dev_cluster.kubeconfig)
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    human, logged = done.stderr.splitlines()[-2:]
    assert human.startswith("slipway run: the Release CRD (releases.slipway.dev, v1alpha1) is not installed")
    assert json.loads(logged)["reason"] == "ReleaseCrdMissing"

"""`slipway dev` in the foreground: prints what runs where, serves kubectl, stops cleanly on SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SLIPWAY = Path(sys.executable).with_name("slipway")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_slipway_dev_starts_with_the_operator_and_stops_everything_on_a_signal(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    process = subprocess.Popen(
        [str(SLIPWAY), "dev", "--operator", "--prometheus", "off", "--rps", "5"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        deadline = time.monotonic() + 30
        for line in process.stdout:
            if line.startswith("ready"):
                break
            label, _, value = line.partition(":")
            printed[label] = value.strip()
            assert time.monotonic() < deadline, printed
        assert printed["API server"].startswith("http://127.0.0.1:")
        assert printed["kubeconfig"].startswith(".slipway/kubeconfig")
        operator_pid = int(printed["operator"].split("pid ")[1].split(")")[0])
        assert _alive(operator_pid)
        env = {**os.environ, "KUBECONFIG": str(tmp_path / ".slipway" / "kubeconfig")}
        crd = subprocess.run(
            ["kubectl", "get", "crd", "releases.slipway.dev", "-o", "name"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert crd.stdout.strip() == "customresourcedefinition.apiextensions.k8s.io/releases.slipway.dev"

        process.send_signal(stop_signal)
        remaining, errors = process.communicate(timeout=20)
        assert process.returncode == 0, errors
        assert remaining.strip().splitlines()[-1] == "stopped"
        assert not _alive(operator_pid)
        gone = subprocess.run(
            ["kubectl", "get", "ns", "--request-timeout=2s"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert gone.returncode != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_slipway_dev_says_why_it_cannot_start_on_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(SLIPWAY), "dev", "--port", str(port), "--prometheus", "off"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "slipway dev: cannot start:" in result.stderr and "Traceback" not in result.stderr

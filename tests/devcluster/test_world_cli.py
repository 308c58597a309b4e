"""`slipway dev` in the foreground: prints what runs where, serves kubectl, stops cleanly on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from e2e_support import wait_for
from front_door import ONE_POD_WEB
from receiver import Receiver

from slipway_dev.alertmanager import AlertmanagerProcess
from slipway_dev.apiserver import read_credentials
from slipway_dev.prometheus import PrometheusProcess

SLIPWAY = Path(sys.executable).with_name("slipway")


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for a parent that will reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _children(pid: int) -> dict[int, str]:
    """The direct child processes of `pid` and their command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if parent == pid:
            found[int(stat.parent.name)] = command
    return found


def _started(tmp_path: Path, *options: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`slipway dev` with these options once it says it is ready, and what it printed, by label."""
    process = subprocess.Popen(
        [str(SLIPWAY), "dev", *options],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    printed: dict[str, str] = {}
    deadline = time.monotonic() + 30
    for line in process.stdout:
        if line.startswith("ready"):
            break
        label, _, value = line.partition(":")
        printed[label] = value.strip()
        assert time.monotonic() < deadline, printed
    assert process.poll() is None, process.communicate()
    return process, printed


def _refused_start(tmp_path: Path, *options: str) -> str:
    """`slipway dev` with these options, which must refuse to start with one line, no traceback: it."""
    result = subprocess.run(
        [str(SLIPWAY), "dev", *options], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "slipway dev: cannot start:" in result.stderr and "Traceback" not in result.stderr
    return result.stderr


def _kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    # A discovery cache of its own: another test's server may have had this port before.
    return subprocess.run(
        ["kubectl", f"--cache-dir={kubeconfig.parent / 'kube-cache'}", *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        input=input,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(("stop_signal", "prometheus"), [(signal.SIGINT, "on"), (signal.SIGTERM, "off")])
def test_slipway_dev_starts_with_the_operator_and_stops_everything_on_a_signal(
    tmp_path: Path, stop_signal: signal.Signals, prometheus: str
) -> None:
    if prometheus == "on" and not PrometheusProcess.available():
        pytest.skip("no prometheus binary on PATH")
    kubeconfig = tmp_path / "elsewhere" / "config"
    options = ("--operator", "--prometheus", prometheus, "--rps", "5", "--kubeconfig", str(kubeconfig))
    process, printed = _started(tmp_path, *options)
    try:
        assert printed["API server"].startswith("https://127.0.0.1:")
        assert printed["kubeconfig"].startswith(str(kubeconfig))
        assert printed["Prometheus"].startswith("http://127.0.0.1:") == (prometheus == "on")
        alertmanager = prometheus == "on" and AlertmanagerProcess.available()
        assert printed["Alertmanager"].startswith("http://127.0.0.1:") == alertmanager
        operator_pid = int(printed["operator"].split("pid ")[1].split(")")[0])
        children = _children(process.pid)
        assert operator_pid in children
        assert any("prometheus" in command for command in children.values()) == (prometheus == "on")
        crd = _kubectl(kubeconfig, "get", "crd", "releases.slipway.dev", "-o", "name")
        assert crd.stdout.strip() == "customresourcedefinition.apiextensions.k8s.io/releases.slipway.dev"

        asked = time.monotonic()
        process.send_signal(stop_signal)
        remaining, errors = process.communicate(timeout=20)
        # about 1.5 s on the shared 2-core machine; the bound leaves room for its load
        assert time.monotonic() - asked < 5
        assert process.returncode == 0, errors
        assert remaining.strip().splitlines()[-1] == "stopped"
        assert [pid for pid in children if _alive(pid)] == []
        gone = _kubectl(kubeconfig, "get", "ns", "--request-timeout=2s")
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
        _refused_start(tmp_path, "--port", str(port), "--prometheus", "off")


@pytest.mark.parametrize(
    ("option", "refusal"),
    [
        ("--fault-write-error-rate", "Internal error occurred: injected fault (write_error_rate)"),
        (
            "--fault-write-conflict-rate",
            "Operation cannot be fulfilled: injected fault (write_conflict_rate)",
        ),
    ],
)
def test_slipway_dev_starts_even_when_every_write_fails_and_kubectl_sees_the_faults(
    tmp_path: Path, option: str, refusal: str
) -> None:
    process, _ = _started(
        tmp_path, "--prometheus", "off", "--rps", "0", option, "1", "--fault-latency-ms", "300"
    )
    kubeconfig = tmp_path / ".slipway" / "kubeconfig"
    try:
        started = time.monotonic()
        read = _kubectl(kubeconfig, "get", "--raw", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        assert time.monotonic() - started >= 0.3  # one request, delayed by the added 300 ms
        assert [crd["metadata"]["name"] for crd in json.loads(read.stdout)["items"]] == [
            "httproutes.gateway.networking.k8s.io",
            "prometheusrules.monitoring.coreos.com",
            "releases.slipway.dev",
            "virtualservices.networking.istio.io",
        ]
        write = _kubectl(kubeconfig, "create", "configmap", "settings")
        assert write.returncode != 0 and refusal in write.stderr
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)


def test_slipway_dev_drops_watches_and_forgets_history_as_asked(tmp_path: Path) -> None:
    options = (
        "--prometheus",
        "off",
        "--rps",
        "0",
        "--fault-watch-drop-seconds",
        "1",
        "--fault-watch-history",
        "2",
    )
    process, _ = _started(tmp_path, *options)
    kubeconfig = tmp_path / ".slipway" / "kubeconfig"
    try:
        credentials = read_credentials(kubeconfig)
        assert credentials.url == (tmp_path / ".slipway" / "api-url").read_text().strip()
        namespaces = "/api/v1/namespaces"
        with credentials.urlopen(namespaces) as answer:
            start = json.load(answer)["metadata"]["resourceVersion"]
        for name in ("a", "b", "c"):
            assert _kubectl(kubeconfig, "create", "namespace", name).returncode == 0
        with credentials.urlopen(f"{namespaces}?watch=true&resourceVersion={start}", timeout=30) as stream:
            assert b'"code":410' in stream.readline()
        began = time.monotonic()
        with credentials.urlopen(f"{namespaces}?watch=true", timeout=30) as stream:
            stream.read()  # ends when the server drops it
        assert 0.9 < time.monotonic() - began < 10
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)


def _notify_config(tmp_path: Path, url: str) -> Path:
    (tmp_path / "team-chat.url").write_text(url)
    path = tmp_path / "notify.yaml"
    path.write_text(
        "notifications:\n"
        "  allowedHosts: [127.0.0.1]\n"
        f"  notifiers: {{team-chat: {{type: webhook, urlFile: {tmp_path / 'team-chat.url'}}}}}\n"
    )
    return path


def test_slipway_dev_merges_an_operator_config_file_so_notifications_can_be_tried(tmp_path: Path) -> None:
    release = {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": "web"},
        "spec": {
            "version": "1",
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "app", "image": "demo/web:1"}]}},
            "service": {"port": 80, "targetPort": 8080},
            "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
            "notify": [{"notifier": "team-chat", "on": ["Promoted"]}],
        },
    }
    with Receiver() as receiver:
        config = _notify_config(tmp_path, receiver.url())
        options = ("--operator", "--prometheus", "off", "--rps", "0", "--operator-config", config.name)
        process, _ = _started(tmp_path, *options)
        kubeconfig = tmp_path / ".slipway" / "kubeconfig"
        try:
            written = yaml.safe_load((tmp_path / ".slipway" / "operator.yaml").read_text())
            assert written["allNamespaces"] is True  # the generated sections are kept
            assert written["notifications"]["notifiers"]["team-chat"]["type"] == "webhook"
            (tmp_path / "web.yaml").write_text(json.dumps(release))
            applied = _kubectl(kubeconfig, "apply", "-f", str(tmp_path / "web.yaml"))
            assert applied.returncode == 0, applied.stderr
            deadline = time.monotonic() + 60
            while not receiver.accepted():
                status = _kubectl(kubeconfig, "get", "release", "web", "-o", "jsonpath={.status}").stdout
                assert "NotifierNotConfigured" not in status
                assert time.monotonic() < deadline, status
                time.sleep(0.2)
            body = receiver.accepted()[0].body
            assert (body["notifier"], body["on"], body["version"]) == ("team-chat", ["Promoted"], "1")
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=20)


def test_slipway_dev_refuses_an_operator_config_the_operator_would_refuse(tmp_path: Path) -> None:
    """Every problem at once, as `slipway run` lists them: a bad link no longer hides a host not allowed."""
    config = _notify_config(tmp_path, "http://evil.example.com/hook")
    config.write_text(config.read_text().replace("type: webhook,", "type: webhook, linkTemplate: '{{pod}}',"))
    refusal = _refused_start(tmp_path, "--prometheus", "off", "--operator-config", config.name)
    assert "team-chat.urlFile: host 'evil.example.com' is not in notifications.allowedHosts" in refusal
    assert "linkTemplate: unknown placeholder {{pod}}" in refusal


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_slipway_dev_opens_the_front_door_on_the_gateway_port_and_writes_it_beside_the_kubeconfig(
    tmp_path: Path,
) -> None:
    port = _free_port()
    kubeconfig = tmp_path / "elsewhere" / "config"
    options = ("--prometheus", "off", "--rps", "0", "--kubeconfig", str(kubeconfig))
    tested = ("--test-load", "web-canary", "--test-load", "shop/web-preview", "--test-load", "web-canary")
    process, printed = _started(
        tmp_path, *options, "--gateway-port", str(port), "--load-variant", "qa,5", *tested
    )
    port_file = kubeconfig.parent / "gateway-port"
    try:
        assert printed["gateway"].startswith(f"http://127.0.0.1:{port}   ")
        assert str(port_file) in printed["gateway"] and port_file.read_text().strip() == str(port)
        assert printed["load"] == "0 requests/s per Service or route clients call, 5 % qa"
        assert printed["test load"] == "default/web-canary, shop/web-preview"
        assert _kubectl(kubeconfig, "apply", "-f", "-", input=ONE_POD_WEB).returncode == 0

        def answer() -> dict[str, str] | None:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "web.default"})
            try:
                with urllib.request.urlopen(request, timeout=5) as answered:
                    return dict(answered.headers)
            except urllib.error.HTTPError:
                return None  # no ready pod yet

        headers = wait_for(answer, 30, "an answer through the front door")
        assert headers["X-Slipway-Pod"].startswith("web-") and headers["X-Slipway-Version"] == "1.2"
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert not port_file.exists()


def test_slipway_dev_refuses_a_taken_gateway_port_a_bad_load_variant_and_a_bad_test_load(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        _refused_start(tmp_path, "--gateway-port", str(taken.getsockname()[1]), "--prometheus", "off")
    bad = subprocess.run(
        [str(SLIPWAY), "dev", "--load-variant", "qa,60", "--load-variant", "beta,50"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--load-variant" in bad.stderr and "more than 100" in bad.stderr
    bad = subprocess.run(
        [str(SLIPWAY), "dev", "--test-load", "shop/Web"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--test-load" in bad.stderr and "DNS-1035 label" in bad.stderr, bad.stderr


def test_dev_help_shows_operator_as_a_flag_pair_taking_no_value() -> None:
    helped = subprocess.run([str(SLIPWAY), "dev", "-h"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "--operator / --no-operator" in helped.stdout and "<bool>" not in helped.stdout

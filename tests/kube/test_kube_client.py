"""The one Kubernetes client: credentials found as kubectl finds them (kubeconfig, else in-cluster), its
one error type, retries of transient failures, and watches, against real servers.

The in-cluster path runs for real: a token, a CA and a namespace written where a pod has them, and an
HTTPS server (its certificate made by openssl) that records the Authorization header it receives.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway.controller.handlers import connection_info
from slipway.kube.client import ApiError, CredentialsNotFound, KubeApi, connect, load_credentials
from slipway_dev.apiserver import Credentials, FaultConfig, running_apiserver, write_kubeconfig
from slipway_dev.apiserver.tls import Pki

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
# The tests' own ConfigMaps: a namespace also holds kube-root-ca.crt, as on a real cluster.
OURS = {"made-by": "test"}


def configmap(name: str) -> dict[str, Any]:
    metadata = {"name": name, "labels": OURS}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": name}}


def kubeconfig_with(path: Path, contexts: dict[str, tuple[str, str]], current: str) -> Path:
    """A kubeconfig with one cluster per context: name -> (server URL, namespace)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": url}} for n, (url, _) in contexts.items()],
        "users": [{"name": "me", "user": {"token": "kubeconfig-token"}}],
        "contexts": [
            {"name": n, "context": {"cluster": n, "user": "me", "namespace": ns}}
            for n, (_, ns) in contexts.items()
        ],
        "current-context": current,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


# ------------------------------------------------------------------------------------ kubeconfig


def test_no_credentials_at_all_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(CredentialsNotFound) as missing:
        load_credentials(environ={"HOME": str(tmp_path)}, service_account_dir=tmp_path / "none")
    assert "KUBECONFIG" in str(missing.value) and "KUBERNETES_SERVICE_HOST" in str(missing.value)


def test_a_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    with pytest.raises(CredentialsNotFound, match=r"nope \(from --kubeconfig\) does not exist"):
        load_credentials(str(tmp_path / "nope"), environ={"HOME": str(tmp_path)})
    with pytest.raises(CredentialsNotFound, match=r"\(from KUBECONFIG\) does not exist"):
        load_credentials(environ={"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "gone")})


def test_kubeconfig_order_explicit_then_env_then_home_then_in_cluster(tmp_path: Path) -> None:
    home = kubeconfig_with(tmp_path / ".kube" / "config", {"h": ("http://home:1", "home-ns")}, "h")
    env = kubeconfig_with(tmp_path / "env", {"e": ("http://env:2", "env-ns")}, "e")
    explicit = kubeconfig_with(tmp_path / "explicit", {"x": ("http://explicit:3", "x-ns")}, "x")
    # In-cluster variables are present throughout: any kubeconfig found wins over them, as with kubectl.
    pod = {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    chosen = load_credentials(str(explicit), environ={**pod, "KUBECONFIG": str(env)})
    assert (chosen.configuration.host, chosen.namespace) == ("http://explicit:3", "x-ns")
    chosen = load_credentials(environ={**pod, "KUBECONFIG": str(env)})
    assert (chosen.configuration.host, chosen.namespace) == ("http://env:2", "env-ns")
    chosen = load_credentials(environ=pod)
    assert (chosen.configuration.host, chosen.namespace) == ("http://home:1", "home-ns")
    assert chosen.source == f"kubeconfig {home}"


def test_context_selection(tmp_path: Path) -> None:
    path = kubeconfig_with(
        tmp_path / "config", {"a": ("http://a:1", "team-a"), "b": ("http://b:2", "")}, current="a"
    )
    env = {"HOME": str(tmp_path)}
    assert load_credentials(str(path), environ=env).namespace == "team-a"
    other = load_credentials(str(path), context="b", environ=env)
    assert (other.configuration.host, other.namespace) == ("http://b:2", "default")
    assert other.configuration.get_api_key_with_prefix("BearerToken") == "Bearer kubeconfig-token"
    with pytest.raises(CredentialsNotFound, match="cannot use kubeconfig"):
        load_credentials(str(path), context="c", environ=env)
    with pytest.raises(CredentialsNotFound, match="context 'b' needs a kubeconfig"):
        load_credentials(context="b", environ=env, service_account_dir=tmp_path)


def test_a_broken_kubeconfig_is_one_error(tmp_path: Path) -> None:
    broken = tmp_path / "config"
    broken.write_text("clusters: [this is not: a kubeconfig")
    with pytest.raises(CredentialsNotFound, match="cannot use kubeconfig"):
        load_credentials(str(broken), environ={"HOME": str(tmp_path)})


# ------------------------------------------------------------------------------------ in-cluster


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, made by openssl."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        ["openssl", *request, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
    )
    return cert, key


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        Recorder.seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps({"kind": "ConfigMap", "metadata": {"name": "seen"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 recording each request's path and Authorization: (port, its CA)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a certificate")
    cert, key = self_signed(tmp_path, "server")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()


def service_account(directory: Path, ca: Path, token: str = "pod-token", namespace: str = "team") -> Path:
    directory.mkdir()
    (directory / "token").write_text(token)
    shutil.copy(ca, directory / "ca.crt")
    (directory / "namespace").write_text(namespace)
    return directory


def test_in_cluster_credentials_send_the_token_over_tls_checked_by_the_ca(
    https_server: tuple[int, Path], tmp_path: Path
) -> None:
    port, ca = https_server
    account = service_account(tmp_path / "serviceaccount", ca)
    environ = {
        "HOME": str(tmp_path),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(port),
    }
    credentials = load_credentials(environ=environ, service_account_dir=account)
    assert credentials.configuration.host == f"https://127.0.0.1:{port}"
    assert (credentials.namespace, credentials.source) == ("team", "in-cluster service account")
    api = KubeApi(credentials)
    try:
        assert api.get("/api/v1/namespaces/team/configmaps/seen") == {
            "kind": "ConfigMap",
            "metadata": {"name": "seen"},
        }
    finally:
        api.close()
    assert Recorder.seen == [("/api/v1/namespaces/team/configmaps/seen", "bearer pod-token")]
    # Kopf's watches log in with the very same credentials.
    login = connection_info(credentials)
    assert (login.server, login.scheme, login.token) == (f"https://127.0.0.1:{port}", "bearer", "pod-token")
    assert login.ca_path == str(account / "ca.crt") and not login.insecure


def test_in_cluster_with_the_wrong_ca_is_refused_not_retried(
    https_server: tuple[int, Path], tmp_path: Path
) -> None:
    port, _ = https_server
    other_ca, _ = self_signed(tmp_path, "other")
    account = service_account(tmp_path / "serviceaccount", other_ca)
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(port)}
    api = KubeApi(load_credentials(environ={**environ, "HOME": str(tmp_path)}, service_account_dir=account))
    with pytest.raises(ApiError) as refused:
        api.get("/api/v1/namespaces")
    api.close()
    assert (refused.value.status, refused.value.reason) == (0, "TLSError")
    assert Recorder.seen == []


def test_in_cluster_without_a_token_says_what_is_missing(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(CredentialsNotFound) as missing:
        load_credentials(environ=environ, service_account_dir=tmp_path / "serviceaccount")
    message = str(missing.value)
    assert "token file does not exist" in message and str(tmp_path / "serviceaccount" / "token") in message


def test_the_service_account_directory_moves_with_its_variable(tmp_path: Path) -> None:
    ca, _ = self_signed(tmp_path, "ca")
    account = service_account(tmp_path / "elsewhere", ca, token="projected-token", namespace="shop")
    environ = {
        "HOME": str(tmp_path),
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "SLIPWAY_SERVICE_ACCOUNT_DIR": str(account),
    }
    credentials = load_credentials(environ=environ)
    assert (credentials.namespace, credentials.source) == ("shop", "in-cluster service account")
    token = credentials.configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
    assert token == "bearer projected-token" and credentials.configuration.ssl_ca_cert == str(
        account / "ca.crt"
    )
    # An explicit directory (slipway run --service-account-dir) wins over the variable.
    with pytest.raises(CredentialsNotFound, match="nowhere/token"):
        load_credentials(environ=environ, service_account_dir=tmp_path / "nowhere")


@pytest.mark.parametrize("command", ["slipway", "kubectl-slipway"])
def test_the_commands_print_one_line_without_credentials(command: str, tmp_path: Path) -> None:
    args = ["run"] if command == "slipway" else ["list"]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / command), *args],
        env={**env, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    # `slipway run` logs the same line again, as JSON (tests/cli/test_run_startup.py checks it).
    (line,) = [line for line in done.stderr.strip().splitlines() if not line.startswith("{")]
    assert "no Kubernetes credentials" in line and "set KUBECONFIG" in line


# ------------------------------------------------------------------------------- requests, errors


def test_errors_retries_and_counting_against_a_faulty_api_server(tmp_path: Path) -> None:
    faults = FaultConfig(write_error_rate=0.4, seed=7)
    counted: Counter[tuple[str, int]] = Counter()
    waited: list[float] = []

    def answered(verb: str, status: int, seconds: float) -> None:
        counted.update([(verb, status)])
        waited.append(seconds)

    with running_apiserver(faults=faults) as server:
        path = write_kubeconfig(tmp_path / "config", server.credentials())
        api = connect(str(path), on_response=answered)
        try:
            for index in range(12):
                api.create(CONFIGMAPS, configmap(f"c{index}"))
            assert len(api.list(CONFIGMAPS, label_selector=OURS)) == 12
            assert api.get(f"{CONFIGMAPS}/missing") is None
            assert api.delete(f"{CONFIGMAPS}/missing") is False
            with pytest.raises(ApiError) as missing:
                api.request("GET", f"{CONFIGMAPS}/missing")
        finally:
            api.close()
    assert missing.value.not_found and missing.value.reason == "NotFound"
    # Every injected 500 was retried until the write went through; each answer was counted.
    assert counted[("POST", 201)] == 12 and counted[("POST", 500)] > 0
    assert counted[("LIST", 200)] == 1 and counted[("GET", 404)] == 2
    assert len(waited) == sum(counted.values()) and all(0 < seconds < 10 for seconds in waited)


def test_a_conflict_is_raised_at_once(tmp_path: Path) -> None:
    counted: list[tuple[str, int]] = []
    with running_apiserver(faults=FaultConfig(write_conflict_rate=1.0)) as server:
        api = connect(
            str(write_kubeconfig(tmp_path / "config", server.credentials())),
            on_response=lambda verb, status, _seconds: counted.append((verb, status)),
        )
        with pytest.raises(ApiError) as conflict:
            api.create(CONFIGMAPS, configmap("a"))
        api.close()
    assert conflict.value.conflict and conflict.value.status == 409
    assert counted == [("POST", 409)]


def test_an_unreachable_server_is_an_api_error_with_status_0(tmp_path: Path) -> None:
    import socket

    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        unreachable_at = Credentials(f"https://127.0.0.1:{bound.getsockname()[1]}", Pki.generate().ca_pem)
        path = write_kubeconfig(tmp_path / "config", unreachable_at)
        api = connect(str(path))
        with pytest.raises(ApiError) as unreachable:
            api.list(CONFIGMAPS)
        api.close()
    assert (unreachable.value.status, unreachable.value.reason) == (0, "ConnectionError")


def test_watch_streams_events_until_the_server_ends_it(tmp_path: Path) -> None:
    with running_apiserver() as server:
        api = connect(str(write_kubeconfig(tmp_path / "config", server.credentials())))
        try:
            api.create(CONFIGMAPS, configmap("a"))
            api.create(CONFIGMAPS, configmap("b"))
            events = list(api.watch(CONFIGMAPS, timeout_seconds=1, field_selector="metadata.name=b"))
        finally:
            api.close()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b")]


def test_pages_follow_the_servers_continue_tokens_with_the_selectors_kept(tmp_path: Path) -> None:
    with running_apiserver() as server:
        api = connect(str(write_kubeconfig(tmp_path / "config", server.credentials())))
        try:
            for name in ("a", "b", "c", "d", "e", "f"):
                labelled = configmap(name)
                if name != "f":
                    labelled["metadata"]["labels"] = {**OURS, "kept": "yes"}
                api.create(CONFIGMAPS, labelled)
            pages = list(api.pages(CONFIGMAPS, 2, field_selector="metadata.name!=c", label_selector="kept"))
        finally:
            api.close()
    assert [[item["metadata"]["name"] for item in page] for page in pages] == [["a", "b"], ["d", "e"]]


def test_one_client_serves_many_threads(tmp_path: Path) -> None:
    with running_apiserver() as server:
        api = connect(str(write_kubeconfig(tmp_path / "config", server.credentials())))
        try:
            threads = [
                threading.Thread(target=api.create, args=(CONFIGMAPS, configmap(f"t{i}"))) for i in range(16)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            names = {item["metadata"]["name"] for item in api.list(CONFIGMAPS, label_selector=OURS)}
        finally:
            api.close()
    assert names == {f"t{i}" for i in range(16)}

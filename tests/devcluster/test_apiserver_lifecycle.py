"""Starting and stopping servers: free loopback ports only, and stop() ends open watches at once."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from slipway_dev.apiserver import ApiServer, Credentials, running_apiserver, write_kubeconfig
from slipway_dev.apiserver.kubeconfig import KubeconfigInUse


def test_servers_take_free_loopback_ports() -> None:
    with running_apiserver() as first, running_apiserver() as second:
        assert first.url.startswith("https://127.0.0.1:")
        assert first.port != second.port
        with first.credentials().urlopen("/version", timeout=10) as answer:
            assert json.load(answer)["major"] == "1"
    with pytest.raises(OSError):
        first.credentials().urlopen("/version", timeout=5)


def test_the_server_speaks_https_only_with_a_certificate_its_own_ca_signed() -> None:
    with running_apiserver() as server, running_apiserver() as other:
        # Plain HTTP to the TLS port gets no API answer.
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/version", timeout=5)
        # Without the CA (the system trust store only), the certificate is refused.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"{server.url}/version", timeout=5)
        # Another server's CA does not vouch for this one: each start makes its own.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            Credentials(server.url, other.pki.ca_pem, server.authn.admin_token).urlopen("/version", timeout=5)
        # The certificate names localhost as well as 127.0.0.1.
        by_name = Credentials(f"https://localhost:{server.port}", server.pki.ca_pem, server.authn.admin_token)
        with by_name.urlopen("/version", timeout=5) as answer:
            assert answer.status == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "::"])
def test_only_loopback_addresses_are_accepted(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ApiServer(host=host)


def _at(url: str) -> Credentials:
    return Credentials(url, b"-----BEGIN CERTIFICATE-----\n", "t0ken")


def test_write_kubeconfig_names_the_server_its_ca_the_token_and_namespace(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "nested" / "config", _at("https://127.0.0.1:1234"), namespace="shop")
    text = path.read_text()
    assert "server: https://127.0.0.1:1234" in text
    assert "certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==" in text
    assert "token: t0ken" in text and "insecure" not in text
    assert "namespace: shop" in text
    assert path.stat().st_mode & 0o777 == 0o600


def test_write_kubeconfig_replaces_its_own_file_but_never_a_users(tmp_path: Path) -> None:
    ours = write_kubeconfig(tmp_path / "ours", _at("https://127.0.0.1:1234"))
    write_kubeconfig(ours, _at("https://127.0.0.1:5678"))
    assert "server: https://127.0.0.1:5678" in ours.read_text()

    users = tmp_path / "config"
    original = (
        "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: https://prod:6443}\n"
    )
    users.write_text(original)
    with pytest.raises(KubeconfigInUse, match="refusing to overwrite"):
        write_kubeconfig(users, _at("https://127.0.0.1:1234"))
    assert users.read_text() == original


def test_stop_ends_open_watches_promptly() -> None:
    async def scenario() -> float:
        server = ApiServer()
        await server.start()
        credentials = server.credentials()
        async with aiohttp.ClientSession(headers=credentials.headers()) as session:
            response = await session.get(
                f"{server.url}/api/v1/namespaces?watch=true", ssl=credentials.ssl_context()
            )
            await response.content.readline()  # the synthetic ADDED of a first namespace: the watch is live
            started = time.monotonic()
            await server.stop()
            await asyncio.wait_for(response.read(), 10)
            return time.monotonic() - started

    assert asyncio.run(scenario()) < 5


def test_the_threaded_server_stops_with_a_watch_open() -> None:
    with running_apiserver() as server:
        stream = server.credentials().urlopen("/api/v1/namespaces?watch=true", timeout=30)
        stream.readline()
        reader = threading.Thread(target=stream.read, daemon=True)
        reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive()


def test_a_watcher_reset_while_its_buffer_is_full_is_no_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A watcher that stops reading, then dies (the benchmarks SIGKILL operators), leaves the server
    waiting for its buffer to drain; the reset that ends the wait is the client gone, not an error."""
    with running_apiserver() as server:
        credentials = server.credentials()
        context = credentials.ssl_context()
        watcher = context.wrap_socket(
            socket.create_connection((server.host, server.port)), server_hostname=server.host
        )
        request = (
            "GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\n"
            f"Host: {server.host}\r\nAuthorization: Bearer {credentials.token}\r\n\r\n"
        )
        watcher.sendall(request.encode())
        assert watcher.recv(1024).startswith(b"HTTP/1.1 200")
        big = {"data": {"x": "y" * 500_000}}
        for index in range(40):  # ~20 MB it never reads: more than the connection's buffers hold
            body = json.dumps({"metadata": {"name": f"c{index}"}, **big}).encode()
            create = urllib.request.Request(
                f"{server.url}/api/v1/namespaces/default/configmaps",
                data=body,
                method="POST",
                headers={**credentials.headers(), "Content-Type": "application/json"},
            )
            urllib.request.urlopen(create, context=context, timeout=30).close()
        # A reset, as a killed process's connection with unread data gets.
        watcher.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        watcher.close()
        deadline = time.monotonic() + 15
        while server._watchers and time.monotonic() < deadline:  # the stream noticed and ended
            time.sleep(0.05)
        assert not server._watchers
    assert not [record for record in caplog.records if "internal error" in record.getMessage()]

"""Starting and stopping servers: free loopback ports only, and stop() ends open watches at once."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from slipway_dev.apiserver import ApiServer, running_apiserver, write_kubeconfig
from slipway_dev.apiserver.kubeconfig import KubeconfigInUse


def test_servers_take_free_loopback_ports() -> None:
    with running_apiserver() as first, running_apiserver() as second:
        assert first.url.startswith("http://127.0.0.1:")
        assert first.port != second.port
        with urllib.request.urlopen(first.url + "/version", timeout=10) as answer:
            assert json.load(answer)["major"] == "1"
    with pytest.raises(OSError):
        urllib.request.urlopen(first.url + "/version", timeout=5)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "::"])
def test_only_loopback_addresses_are_accepted(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ApiServer(host=host)


def test_write_kubeconfig_names_the_server_and_namespace(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "nested" / "config", "http://127.0.0.1:1234", namespace="shop")
    text = path.read_text()
    assert "server: http://127.0.0.1:1234" in text
    assert "namespace: shop" in text


def test_write_kubeconfig_replaces_its_own_file_but_never_a_users(tmp_path: Path) -> None:
    ours = write_kubeconfig(tmp_path / "ours", "http://127.0.0.1:1234")
    write_kubeconfig(ours, "http://127.0.0.1:5678")
    assert "server: http://127.0.0.1:5678" in ours.read_text()

    users = tmp_path / "config"
    original = (
        "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: https://prod:6443}\n"
    )
    users.write_text(original)
    with pytest.raises(KubeconfigInUse, match="refusing to overwrite"):
        write_kubeconfig(users, "http://127.0.0.1:1234")
    assert users.read_text() == original


def test_stop_ends_open_watches_promptly() -> None:
    async def scenario() -> float:
        server = ApiServer()
        await server.start()
        async with aiohttp.ClientSession() as session:
            response = await session.get(f"{server.url}/api/v1/namespaces?watch=true")
            await response.content.readline()  # the synthetic ADDED of a first namespace: the watch is live
            started = time.monotonic()
            await server.stop()
            await asyncio.wait_for(response.read(), 10)
            return time.monotonic() - started

    assert asyncio.run(scenario()) < 5


def test_the_threaded_server_stops_with_a_watch_open() -> None:
    with running_apiserver() as server:
        stream = urllib.request.urlopen(server.url + "/api/v1/namespaces?watch=true", timeout=30)
        stream.readline()
        reader = threading.Thread(target=stream.read, daemon=True)
        reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive()

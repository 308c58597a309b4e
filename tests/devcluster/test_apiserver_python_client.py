"""The official Python client: typed calls, Watch with bookmarks, and recovery from 410 Gone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from slipway_dev.apiserver import ApiServer, FaultConfig, write_kubeconfig


def _core(server: ApiServer, tmp_path: Path) -> kubernetes.client.CoreV1Api:
    path = write_kubeconfig(tmp_path / "kubeconfig", server.credentials())
    client = kubernetes.config.new_client_from_config(config_file=str(path))
    return kubernetes.client.CoreV1Api(client)


def _configmap(name: str) -> kubernetes.client.V1ConfigMap:
    return kubernetes.client.V1ConfigMap(metadata=kubernetes.client.V1ObjectMeta(name=name), data={"k": name})


def test_typed_calls_and_strategic_patch(apiserver: ApiServer, tmp_path: Path) -> None:
    core = _core(apiserver, tmp_path)
    core.create_namespaced_config_map("default", _configmap("a"))
    core.patch_namespaced_config_map("a", "default", {"data": {"extra": "1"}})
    assert core.read_namespaced_config_map("a", "default").data == {"k": "a", "extra": "1"}
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", "default")
    assert missing.value.status == 404
    names = [ns.metadata.name for ns in core.list_namespace().items]
    assert {"default", "kube-system"} <= set(names)


def test_watch_sees_bookmarks(make_apiserver: Callable[..., ApiServer], tmp_path: Path) -> None:
    server = make_apiserver(bookmark_seconds=0.2)
    core = _core(server, tmp_path)
    core.create_namespaced_config_map("default", _configmap("a"))
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    watch = kubernetes.watch.Watch()
    seen = []
    for event in watch.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=10,
    ):
        seen.append(event["type"])
        if event["type"] == "BOOKMARK":
            watch.stop()
    assert seen == ["BOOKMARK"]
    assert watch.resource_version == rv


def test_watch_recovers_from_410_gone_by_relisting(
    make_apiserver: Callable[..., ApiServer], tmp_path: Path
) -> None:
    server = make_apiserver(faults=FaultConfig(watch_history_size=3))
    core = _core(server, tmp_path)
    old_rv = core.list_namespaced_config_map("default").metadata.resource_version
    for i in range(6):
        core.create_namespaced_config_map("default", _configmap(f"c{i}"))
    watch = kubernetes.watch.Watch()
    with pytest.raises(ApiException) as expired:
        next(iter(watch.stream(core.list_namespaced_config_map, "default", resource_version=old_rv)))
    assert expired.value.status == 410
    # The documented recovery: relist, then watch from the list's resourceVersion.
    listed = core.list_namespaced_config_map("default")
    assert len(listed.items) == 7  # and the root-CA publisher's ConfigMap, as on a real cluster
    core.create_namespaced_config_map("default", _configmap("after"))
    stream = watch.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=5,
    )
    event = next(iter(stream))
    watch.stop()
    assert (event["type"], event["object"].metadata.name) == ("ADDED", "after")

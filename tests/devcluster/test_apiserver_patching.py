"""The patch algorithms on their own: strategic merge directives, merge patch, JSON patch."""

from __future__ import annotations

from typing import Any

import pytest

from slipway_dev.apiserver.errors import ApiError
from slipway_dev.apiserver.patching import PatchTestFailed, json_patch, merge_patch
from slipway_dev.apiserver.strategic import strategic_merge


def _pod_spec(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(containers)}}}}


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return containers


def test_containers_merge_by_name_and_keep_untouched_fields() -> None:
    original = _pod_spec({"name": "a", "image": "a:1", "args": ["x"]}, {"name": "b", "image": "b:1"})
    patched = strategic_merge(original, _pod_spec({"name": "b", "image": "b:2"}))
    assert _containers(patched) == [
        {"name": "a", "image": "a:1", "args": ["x"]},
        {"name": "b", "image": "b:2"},
    ]
    assert _containers(original)[1]["image"] == "b:1"


def test_ports_env_and_mounts_use_their_own_merge_keys() -> None:
    original = _pod_spec(
        {
            "name": "a",
            "ports": [{"containerPort": 80, "name": "http"}],
            "env": [{"name": "X", "value": "1"}],
            "volumeMounts": [{"name": "v", "mountPath": "/data"}],
        }
    )
    patch = _pod_spec(
        {
            "name": "a",
            "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 9090}],
            "env": [{"name": "Y", "value": "2"}],
            "volumeMounts": [{"name": "w", "mountPath": "/data"}],
        }
    )
    container = _containers(strategic_merge(original, patch))[0]
    assert container["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"},
        {"containerPort": 9090},
    ]
    assert container["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert container["volumeMounts"] == [{"name": "w", "mountPath": "/data"}]


def test_service_ports_merge_by_port() -> None:
    original = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    patched = strategic_merge(original, {"spec": {"ports": [{"port": 443, "name": "tls"}]}})
    assert patched["spec"]["ports"] == [{"port": 80, "targetPort": 8080}, {"port": 443, "name": "tls"}]


def test_patch_delete_and_replace_directives() -> None:
    original = _pod_spec({"name": "a"}, {"name": "b"}, {"name": "c"})
    deleted = strategic_merge(original, _pod_spec({"name": "b", "$patch": "delete"}))
    assert [c["name"] for c in _containers(deleted)] == ["a", "c"]
    replaced = strategic_merge(original, _pod_spec({"$patch": "replace"}, {"name": "z"}))
    assert [c["name"] for c in _containers(replaced)] == ["z"]
    whole_map = strategic_merge({"spec": {"a": 1, "b": 2}}, {"spec": {"$patch": "replace", "c": 3}})
    assert whole_map == {"spec": {"c": 3}}
    gone = strategic_merge(
        {"spec": {"strategy": {"type": "Recreate"}, "x": 1}}, {"spec": {"strategy": {"$patch": "delete"}}}
    )
    assert gone == {"spec": {"x": 1}}


def test_set_element_order_retain_keys_and_delete_from_primitive_list() -> None:
    original = {
        "metadata": {"finalizers": ["a", "b", "c"]},
        **_pod_spec({"name": "a"}, {"name": "b"}, {"name": "c"}),
    }
    patch = {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["d"]},
        "spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]}}},
    }
    patched = strategic_merge(original, patch)
    assert patched["metadata"]["finalizers"] == ["a", "c", "d"]
    assert [c["name"] for c in _containers(patched)] == ["c", "a", "b"]
    retained = strategic_merge(
        {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}},
    )
    assert retained == {"strategy": {"type": "Recreate"}}


def test_lists_without_a_strategy_are_replaced_and_null_deletes() -> None:
    original = {"spec": {"args": ["a", "b"], "tolerations": [{"key": "x"}], "keep": 1, "drop": 2}}
    patched = strategic_merge(
        original, {"spec": {"args": ["c"], "tolerations": [{"key": "y"}], "drop": None}}
    )
    assert patched == {"spec": {"args": ["c"], "tolerations": [{"key": "y"}], "keep": 1}}


def test_a_merge_list_item_without_its_key_is_a_bad_request() -> None:
    with pytest.raises(ApiError) as error:
        strategic_merge(_pod_spec({"name": "a"}), _pod_spec({"image": "no-name"}))
    assert error.value.code == 400


def test_merge_patch() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1, 2]}, {"a": {"b": None, "d": 3}, "l": [3]}) == {
        "a": {"c": 2, "d": 3},
        "l": [3],
    }


def test_json_patch_operations() -> None:
    document = {"a": {"b": [1, 2]}, "c": "x", "k~/": 0}
    patched = json_patch(
        document,
        [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/e"},
            {"op": "remove", "path": "/k~0~1"},
            {"op": "test", "path": "/a/b", "value": [0, 1, 2, 3]},
        ],
    )
    assert patched == {"a": {"b": [0, 1, 2, 3]}, "c": "y", "e": "y"}


@pytest.mark.parametrize(
    ("operations", "code"),
    [
        ([{"op": "test", "path": "/a", "value": 2}], 422),
        ([{"op": "test", "path": "/missing", "value": 2}], 422),
        ([{"op": "remove", "path": "/missing"}], 422),
        ([{"op": "add", "path": "/a/b/c", "value": 1}], 422),
        ([{"op": "move", "from": "/missing", "path": "/b"}], 422),
        ([{"op": "add", "path": "no-slash", "value": 1}], 422),
        ([{"op": "frobnicate", "path": "/a"}], 400),
        ([{"op": "add", "path": "/a"}], 400),
        ({"op": "add"}, 400),
        ([{"op": "move", "path": "/b"}], 400),
    ],
)
def test_json_patch_failures(operations: Any, code: int) -> None:
    with pytest.raises(ApiError) as error:
        json_patch({"a": 1}, operations)
    assert error.value.code == code
    if operations and isinstance(operations, list) and operations[0]["op"] == "test":
        assert isinstance(error.value, PatchTestFailed)

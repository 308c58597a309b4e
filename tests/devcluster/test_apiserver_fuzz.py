"""Arbitrary JSON sent to every kind of write: a Status error or success, never an internal error; a
failed write leaves the store as it was; whatever is stored, every read path can show it."""

from __future__ import annotations

import copy
import time
from typing import Any

import yaml
from apiserver_support import RELEASE_CRD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slipway_dev.apiserver.cluster import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    Cluster,
    DeleteOptions,
    WriteOptions,
)
from slipway_dev.apiserver.errors import ApiError
from slipway_dev.apiserver.tables import table

KEYS = (
    "metadata",
    "name",
    "spec",
    "status",
    "names",
    "versions",
    "group",
    "plural",
    "kind",
    "scope",
    "finalizers",
    "labels",
    "containers",
    "replicas",
    "op",
    "path",
    "value",
    "$patch",
    "storage",
    "served",
    "preconditions",
    "propagationPolicy",
    "ports",
    "port",
    "data",
    "stringData",
    "template",
    "selector",
    "matchLabels",
    "subresources",
    "scale",
    "additionalPrinterColumns",
    "jsonPath",
    "type",
    "ownerReferences",
    "uid",
    "conditions",
    "startTime",
    "image",
    "env",
    "version",
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "a", "web", "spec", "Release"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(KEYS), children, max_size=4)
    ),
    max_leaves=12,
)

# Bodies that get past the name checks, so the fuzzing reaches what lies behind them.
named_bodies = st.fixed_dictionaries(
    {"metadata": st.fixed_dictionaries({"name": st.sampled_from(["web", "a.b"])})},
    optional={"spec": json_values, "status": json_values, "data": json_values, "kind": json_values},
)
bodies = json_values | named_bodies

RELEASE_CRD_OBJECT = yaml.safe_load(RELEASE_CRD.read_text())

RESOURCES = [
    ("", "v1", "configmaps"),
    ("apps", "v1", "deployments"),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
    ("", "v1", "namespaces"),
    ("", "v1", "services"),
    ("", "v1", "pods"),
    ("", "v1", "secrets"),
    ("batch", "v1", "jobs"),
    ("slipway.dev", "v1alpha1", "releases"),
]
ACTIONS = ["create", "update", "status", "delete", JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH]


def _snapshot(cluster: Cluster) -> tuple[int, list[bytes]]:
    keys = sorted(cluster.store.collections())
    return cluster.store.rv, [s.raw for key in keys for s in cluster.store.items(key, None)]


def _attempt(cluster: Cluster, action: str, body: Any, resource_index: int) -> None:
    resource = cluster.registry.lookup(*RESOURCES[resource_index])
    if resource is None:  # the Release CRD itself may have been deleted by an earlier action
        return
    namespace = "default" if resource.namespaced else ""
    before = _snapshot(cluster)
    try:
        if action == "create":
            cluster.create(resource, namespace, body)
        elif action in ("update", "status"):
            subresource = "status" if action == "status" and resource.status_subresource else None
            cluster.update(resource, namespace, "web", body, subresource)
        elif action == "delete":
            cluster.delete(resource, namespace, "web", DeleteOptions.parse(body, None))
        else:
            cluster.patch(
                resource, namespace, "web", action, body, None, WriteOptions(field_validation="Strict")
            )
    except ApiError as error:
        assert error.code != 500, error.message
        assert _snapshot(cluster) == before


def _read_everything(cluster: Cluster) -> None:
    for served in cluster.registry:
        objects = [s.obj for s in cluster.store.items(served.storage_key, None)]
        table(served, objects, time.time(), "Object", {})
        for obj in objects if served.scale is not None else ():
            cluster.get_scale(served, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    actions=st.lists(
        st.tuples(st.sampled_from(ACTIONS), bodies, st.integers(0, len(RESOURCES) - 1)),
        max_size=6,
    )
)
def test_arbitrary_writes_never_fail_internally(actions: list[tuple[str, Any, int]]) -> None:
    cluster = Cluster(root_ca="")
    crds = cluster.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    configmaps = cluster.registry.lookup("", "v1", "configmaps")
    assert crds is not None and configmaps is not None
    cluster.create(crds, "", copy.deepcopy(RELEASE_CRD_OBJECT))
    cluster.create(configmaps, "default", {"metadata": {"name": "web"}})
    for action, body, resource_index in actions:
        _attempt(cluster, action, body, resource_index)
        _read_everything(cluster)

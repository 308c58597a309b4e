"""The few Kubernetes API calls `kubectl slipway` makes, on the official client. Thin: no decisions here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from slipway.cli._plugin_view import Obj
from slipway.manifests import GROUP, PLURAL, VERSION

# The kubernetes package types its generated API but not its config and watch helpers.
kubeconfig_loader: Any = config
watch_helpers: Any = watch

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


@dataclass
class Cluster:
    """One kube context: an API client and the namespace commands default to, chosen as kubectl does."""

    api: client.ApiClient
    namespace: str

    @property
    def custom(self) -> Any:
        """CustomObjectsApi; typed as Any since its answers are plain JSON typed as `object`."""
        return client.CustomObjectsApi(self.api)

    def to_dict(self, model: object) -> dict[str, Any]:
        result: dict[str, Any] = cast(Any, self.api).sanitize_for_serialization(model)
        return result


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Cluster:
    """Honours --kubeconfig (else $KUBECONFIG, else ~/.kube/config), --context and -n like kubectl."""
    api = kubeconfig_loader.new_client_from_config(config_file=kubeconfig, context=context)
    if namespace:
        return Cluster(api, namespace)
    contexts, active = kubeconfig_loader.list_kube_config_contexts(config_file=kubeconfig)
    chosen = next((c for c in contexts if c.get("name") == context), active) if context else active
    default = (chosen or {}).get("context", {}).get("namespace") or "default"
    return Cluster(api, default)


def _translate(error: ApiException, what: str) -> Exception:
    if error.status == 404:
        return NotFound(f"{what} not found")
    if error.status in (409, 422):
        return Conflict(f"{what} changed or was refused: {error.reason}")
    return error


def get_release(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    try:
        release: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as error:
        raise _translate(error, f"Release {namespace}/{name}") from error
    return release


def list_releases(cluster: Cluster, namespace: str | None) -> list[Obj]:
    """Releases in one namespace, or in all of them when namespace is None."""
    if namespace is None:
        answer = cluster.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    else:
        answer = cluster.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    items: list[Obj] = answer.get("items", [])
    return items


def patch_release(
    cluster: Cluster,
    namespace: str,
    name: str,
    body: dict[str, Any] | list[dict[str, Any]],
    content_type: str,
) -> dict[str, Any]:
    try:
        release: dict[str, Any] = cluster.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, body, _content_type=content_type
        )
    except ApiException as error:
        raise _translate(error, f"Release {namespace}/{name}") from error
    return release


def watch_release(
    cluster: Cluster, namespace: str, name: str, timeout_seconds: int
) -> Iterator[dict[str, Any]]:
    """The Release as it changes until the server ends the watch; NotFound if it is deleted."""
    stream = watch_helpers.Watch().stream(
        cluster.custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        field_selector=f"metadata.name={name}",
        timeout_seconds=timeout_seconds,
    )
    for event in stream:
        if event["type"] == "DELETED":
            raise NotFound(f"Release {namespace}/{name} was deleted")
        if event["type"] in ("ADDED", "MODIFIED"):
            yield event["object"]


def list_events(cluster: Cluster, namespace: str) -> list[Obj]:
    answer = client.CoreV1Api(cluster.api).list_namespaced_event(namespace)
    return [cluster.to_dict(event) for event in answer.items]


def get_deployment(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    try:
        deployment = client.AppsV1Api(cluster.api).read_namespaced_deployment(name, namespace)
    except ApiException as error:
        raise _translate(error, f"Deployment {namespace}/{name}") from error
    return cluster.to_dict(deployment)

"""A thin, dict-in/dict-out Kubernetes REST client.

The official client loads the kubeconfig (certificates, tokens, auth plugins); requests go through its
connection pool but bodies stay plain JSON dicts, so every resource (built-in or custom) is handled the
same way and each request can be counted. Transient failures (429, 5xx, dropped connections) are
retried with a short backoff; everything else is raised as `ApiError` for the caller to judge.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import kubernetes
import urllib3

Obj = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_ATTEMPTS = 6
_FIRST_BACKOFF_SECONDS = 0.05


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


ResponseHook = Callable[[str, int], None]


class KubeApi:
    """Requests against one cluster. Thread-safe: the reconciler calls it from worker threads."""

    def __init__(self, kubeconfig: str | None = None, on_response: ResponseHook | None = None) -> None:
        self._client = kubernetes.config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        self._config = self._client.configuration
        self._on_response = on_response

    def close(self) -> None:
        self._client.close()

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        token = self._config.get_api_key_with_prefix("BearerToken") or self._config.get_api_key_with_prefix(
            "authorization"
        )
        if token:
            headers["Authorization"] = token
        return headers

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str | None = None,
        query: Mapping[str, str] | None = None,
        verb: str | None = None,
    ) -> Obj:
        """One request; `verb` names it for counting (LIST versus GET share a method)."""
        url = self._config.host + path + (f"?{urlencode(query)}" if query else "")
        if body is not None and content_type is None:
            content_type = "application/json"
        backoff = _FIRST_BACKOFF_SECONDS
        for attempt in range(_ATTEMPTS):
            try:
                response = self._client.rest_client.request(
                    method, url, headers=self._headers(content_type), body=body, _request_timeout=30
                )
                data = response.read()
                status = response.status
            except (urllib3.exceptions.HTTPError, OSError) as error:
                if attempt == _ATTEMPTS - 1:
                    raise ApiError(0, "ConnectionError", str(error)) from error
                time.sleep(backoff)
                backoff *= 2
                continue
            self._count(verb or method, status)
            if status in _RETRIED_STATUSES and attempt < _ATTEMPTS - 1:
                time.sleep(backoff)
                backoff *= 2
                continue
            if status >= 400:
                raise _api_error(status, data)
            return json.loads(data) if data else {}
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _count(self, verb: str, status: int) -> None:
        if self._on_response is not None:
            self._on_response(verb, status)

    def get(self, path: str) -> Obj | None:
        try:
            return self.request("GET", path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(self, path: str, label_selector: Mapping[str, str] | None = None) -> list[Obj]:
        query = (
            {"labelSelector": ",".join(f"{k}={v}" for k, v in label_selector.items())}
            if label_selector
            else None
        )
        items: list[Obj] = self.request("GET", path, query=query, verb="LIST").get("items") or []
        return items

    def create(self, path: str, body: Obj) -> Obj:
        return self.request("POST", path, body=body)

    def patch(self, path: str, body: Any, content_type: str = MERGE_PATCH) -> Obj:
        return self.request("PATCH", path, body=body, content_type=content_type)

    def delete(self, path: str) -> bool:
        """Delete in the background (dependents are garbage-collected); False when already gone."""
        try:
            self.request("DELETE", path, body={"propagationPolicy": "Background"})
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True


def _api_error(status: int, data: bytes) -> ApiError:
    try:
        body = json.loads(data)
    except ValueError:
        return ApiError(status, "Unknown", data[:200].decode(errors="replace"))
    return ApiError(status, str(body.get("reason", "Unknown")), str(body.get("message", "")))


def deployments_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    return f"{base}/{name}" if name else base


def services_path(namespace: str, name: str | None = None) -> str:
    return object_path("Service", namespace, name)


# The Services every router splits between; each router's own kinds are added when the plug-ins are
# loaded (slipway.plugins.load), so kube names no router.
_ROUTING_COLLECTIONS = {"Service": "/api/v1/namespaces/{namespace}/services"}


def add_routing_collections(collections: Mapping[str, str]) -> None:
    """Kinds of routing objects (kind -> API path with `{namespace}`) that `object_path` can address."""
    _ROUTING_COLLECTIONS.update(collections)


def object_path(kind: str, namespace: str, name: str | None = None) -> str:
    """Path of a routing object (a Service, or a kind a router declares), or of its collection."""
    base = _ROUTING_COLLECTIONS[kind].format(namespace=namespace)
    return f"{base}/{name}" if name else base


def events_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/events"


def releases_path(namespace: str | None = None, name: str | None = None) -> str:
    base = "/apis/slipway.dev/v1alpha1"
    if namespace is None:
        return f"{base}/releases"
    path = f"{base}/namespaces/{namespace}/releases"
    return f"{path}/{name}" if name else path

"""A small asyncio Kubernetes REST client: what the simulated controllers need and nothing more.

The simulated world talks to the dev API server only through its REST API, exactly like real
controllers do, so anything the world does can also be seen and done with kubectl.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from slipway_dev.apiserver.credentials import Credentials

JsonObject = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Resource:
    """One REST resource: where it lives and whether it is namespaced."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
            if subresource is not None:
                base += f"/{subresource}"
        return base


PODS = Resource("", "v1", "pods", "Pod")
SERVICES = Resource("", "v1", "services", "Service")
EVENTS = Resource("", "v1", "events", "Event")
ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints")
ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
JOBS = Resource("batch", "v1", "jobs", "Job")
CUSTOM_RESOURCE_DEFINITIONS = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False
)
INGRESSES = Resource("networking.k8s.io", "v1", "ingresses", "Ingress")
VIRTUALSERVICES = Resource("networking.istio.io", "v1", "virtualservices", "VirtualService")
HTTPROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")


class ApiError(Exception):
    """A non-2xx answer; `status` is the HTTP code, `body` the Status object when there is one."""

    def __init__(self, status: int, body: Any) -> None:
        reason = body.get("message", "") if isinstance(body, dict) else str(body)
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.body = body

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else ""


class WatchExpired(Exception):
    """The server no longer holds history from the requested resourceVersion (410 Gone)."""


class KubeClient:
    """JSON over HTTPS to one API server, verified against its CA and with its bearer token; create it
    inside the event loop that uses it. Connections are kept alive and reused, so the TLS handshake is
    paid once per connection, not per request.

    With `unix_socket` (the server's ApiServer.local_socket, when the client runs beside it) the
    requests go over that socket in plain HTTP instead, still with the bearer token."""

    def __init__(
        self,
        credentials: Credentials,
        user_agent: str = "slipway-dev-world/1 (controllers, kubelet)",
        unix_socket: Path | None = None,
    ) -> None:
        connector: aiohttp.BaseConnector
        if unix_socket is None:
            self.base_url = credentials.url.rstrip("/")
            connector = aiohttp.TCPConnector(limit=64, ssl=credentials.ssl_context(), keepalive_timeout=60)
        else:
            self.base_url = "http://localhost"  # the socket is the address; the host is only a header
            connector = aiohttp.UnixConnector(str(unix_socket), limit=64, keepalive_timeout=60)
        # Watch lines can carry big objects; the default 64 KiB line limit is too small for them.
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            read_bufsize=1 << 22,
            connector=connector,
            # The server records writes without a fieldManager under the User-Agent's product name.
            headers={**credentials.headers(), "User-Agent": user_agent},
        )

    async def close(self) -> None:
        await self._session.close()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()  # bytes: no str payload to encode
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        async with self._session.request(
            method,
            self.base_url + path,
            data=data,
            headers=headers,
            params=params,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            text = await response.text()
            payload: Any = json.loads(text) if text else None
            if response.status >= 300:
                raise ApiError(response.status, payload)
            return payload

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JsonObject | None:
        try:
            found: JsonObject = await self._request("GET", resource.path(namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return found

    async def list_objects(
        self, resource: Resource, namespace: str | None = None
    ) -> tuple[list[JsonObject], str]:
        listed = await self._request("GET", resource.path(namespace))
        return list(listed.get("items") or []), str(listed["metadata"]["resourceVersion"])

    async def watch(
        self, resource: Resource, resource_version: str, timeout_seconds: int = 60
    ) -> AsyncIterator[JsonObject]:
        """Yield watch events after `resource_version` until the server ends the stream."""
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
        async with self._session.get(
            self.base_url + resource.path(),
            params=params,
            headers={"Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30),
        ) as response:
            if response.status == 410:
                raise WatchExpired()
            if response.status >= 300:
                raise ApiError(response.status, await response.text())
            async for line in response.content:
                if not line.strip():
                    continue
                event: JsonObject = json.loads(line)
                if event.get("type") == "ERROR":
                    if event.get("object", {}).get("code") == 410:
                        raise WatchExpired()
                    raise ApiError(int(event.get("object", {}).get("code") or 500), event.get("object"))
                yield event

    async def create(self, resource: Resource, namespace: str | None, body: JsonObject) -> JsonObject:
        created: JsonObject = await self._request("POST", resource.path(namespace), body=body)
        return created

    async def post(self, path: str, body: JsonObject) -> JsonObject:
        """POST to a path the typed methods do not cover, such as a ServiceAccount's token subresource."""
        answer: JsonObject = await self._request("POST", path, body=body)
        return answer

    async def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: JsonObject,
        subresource: str | None = None,
    ) -> JsonObject | None:
        """Merge-patch an object (or its subresource); None when it no longer exists."""
        try:
            patched: JsonObject = await self._request(
                "PATCH", resource.path(namespace, name, subresource), body=body, content_type=MERGE_PATCH
            )
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return patched

    async def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        uid: str | None = None,
        grace_period_seconds: int | None = None,
    ) -> JsonObject | None:
        """Delete with background propagation of dependents; None when already gone, else the server's
        answer: the object as it was removed, or as it now is when its deletion is pending (a pod in
        its grace period, finalizers).

        With `uid` the delete is conditional on it, so an object recreated under the same name survives
        (the server then answers 409, raised like any other failure for the caller to retry).
        """
        options: JsonObject = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        try:
            answer: JsonObject = await self._request("DELETE", resource.path(namespace, name), body=options)
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return answer

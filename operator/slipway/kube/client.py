"""The one Kubernetes client of the operator and `kubectl slipway`: dict-in/dict-out REST.

Credentials come from the `kubernetes` package's own loaders (kubeconfig with its auth plugins, or the
pod's service account), and requests go through that package's connection pool (its TLS and proxy
settings), but bodies stay plain JSON dicts: every resource, built-in or custom, is handled the same
way and each request can be counted. Transient failures (429, 5xx, dropped connections) are retried
with a short backoff; everything else is raised as `ApiError` for the caller to judge.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import kubernetes
import orjson
import urllib3

Obj = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
"""Server-side apply; the body is sent as JSON, which is YAML."""

_WRITES = frozenset({"POST", "PUT", "PATCH"})

_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_ATTEMPTS = 6
_FIRST_BACKOFF_SECONDS = 0.05
_REQUEST_SECONDS = 30

# Where Kubernetes mounts a pod's service-account token, CA and namespace; the variable moves it (a pod
# run as a local process, whose token is projected elsewhere).
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
SERVICE_ACCOUNT_DIR_VARIABLE = "SLIPWAY_SERVICE_ACCOUNT_DIR"

# The package types its generated API but not its config loaders.
_config: Any = kubernetes.config


class CredentialsNotFound(Exception):
    """No usable credentials; the message says what is missing and what to set."""


class ApiError(Exception):
    """An answer other than success from the API server; status 0 when it could not be reached."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """The object changed meanwhile (409) or the server refused the change as invalid (422)."""
        return self.status in (409, 422)


@dataclass(frozen=True)
class Credentials:
    """A loaded client configuration and the namespace commands default to, chosen as kubectl does."""

    configuration: Any  # kubernetes.client.Configuration
    namespace: str
    source: str  # where they came from, for messages


def load_credentials(
    kubeconfig: str | None = None,
    context: str | None = None,
    environ: Mapping[str, str] = os.environ,
    service_account_dir: Path | None = None,
) -> Credentials:
    """kubectl's order: `kubeconfig` (--kubeconfig), else $KUBECONFIG, else ~/.kube/config when it
    exists, else the pod's service account when KUBERNETES_SERVICE_HOST says we run in a cluster.

    The service account's files are read from `service_account_dir`, else $SLIPWAY_SERVICE_ACCOUNT_DIR,
    else where Kubernetes mounts them."""
    if kubeconfig:
        return _from_kubeconfig(kubeconfig, context, "--kubeconfig")
    if environ.get("KUBECONFIG"):
        return _from_kubeconfig(environ["KUBECONFIG"], context, "KUBECONFIG")
    home_config = Path(environ.get("HOME") or Path.home()) / ".kube" / "config"
    if home_config.is_file():
        return _from_kubeconfig(str(home_config), context, "~/.kube/config")
    if context:
        raise CredentialsNotFound(
            f"context {context!r} needs a kubeconfig and none was found: "
            "set --kubeconfig or KUBECONFIG, or create ~/.kube/config"
        )
    if environ.get("KUBERNETES_SERVICE_HOST"):
        directory = service_account_dir or Path(
            environ.get(SERVICE_ACCOUNT_DIR_VARIABLE) or SERVICE_ACCOUNT_DIR
        )
        return _in_cluster(environ, directory)
    raise CredentialsNotFound(
        "no Kubernetes credentials: no kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) and not "
        "in a pod (KUBERNETES_SERVICE_HOST is unset); set KUBECONFIG to a kubeconfig file, or run in a "
        "pod with a service account"
    )


def _from_kubeconfig(paths: str, context: str | None, given_by: str) -> Credentials:
    # $KUBECONFIG may list several files; the package merges the ones that exist, as kubectl does.
    if not any(Path(path).expanduser().is_file() for path in paths.split(os.pathsep) if path):
        raise CredentialsNotFound(
            f"kubeconfig {paths} (from {given_by}) does not exist: set {given_by} to a kubeconfig file"
        )
    configuration = kubernetes.client.Configuration()
    try:
        _config.load_kube_config(config_file=paths, context=context, client_configuration=configuration)
        contexts, current = _config.list_kube_config_contexts(config_file=paths)
    # A bad kubeconfig raises ConfigException, OSError, yaml or type errors: no common base but Exception.
    except Exception as error:
        raise CredentialsNotFound(f"cannot use kubeconfig {paths} (from {given_by}): {error}") from error
    chosen = next((c for c in contexts if c.get("name") == context), current) if context else current
    namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    return Credentials(configuration, namespace, f"kubeconfig {paths}")


def _in_cluster(environ: Mapping[str, str], directory: Path) -> Credentials:
    configuration = kubernetes.client.Configuration()
    # The loader re-reads the token file every minute, so a rotated (projected) token is picked up.
    loader = _config.incluster_config.InClusterConfigLoader(
        token_filename=str(directory / "token"), cert_filename=str(directory / "ca.crt"), environ=environ
    )
    try:
        loader.load_and_set(configuration)
    except (_config.ConfigException, OSError) as error:
        raise CredentialsNotFound(
            f"in-cluster credentials unusable: {error} (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT, "
            f"{directory}/token and {directory}/ca.crt are needed, the directory moved by "
            f"{SERVICE_ACCOUNT_DIR_VARIABLE}; or set KUBECONFIG)"
        ) from error
    namespace_file = directory / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "default"
    return Credentials(configuration, namespace or "default", "in-cluster service account")


ResponseHook = Callable[[str, int, float], None]
"""Told of every answer: the verb, the HTTP status and the seconds until the answer began."""


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    on_response: ResponseHook | None = None,
    field_manager: str | None = None,
) -> KubeApi:
    """A client with credentials found the standard way (see `load_credentials`)."""
    return KubeApi(load_credentials(kubeconfig, context), on_response, field_manager)


class KubeApi:
    """Requests against one cluster. Thread-safe: the reconciler calls it from worker threads."""

    def __init__(
        self,
        credentials: Credentials,
        on_response: ResponseHook | None = None,
        field_manager: str | None = None,
        connections: int | None = None,
    ) -> None:
        """`field_manager` names every write in the objects' managedFields (without it the server takes
        the User-Agent's product name) and is required by `apply`. `connections`: how many requests
        may be in flight at once (threads calling); without it the official client keeps 5 per core,
        and a request beyond those opens a TLS connection of its own and throws it away afterwards."""
        self.field_manager = field_manager
        if connections is not None:
            credentials.configuration.connection_pool_maxsize = connections
        self._credentials = credentials
        self._client: Any = kubernetes.client.ApiClient(credentials.configuration)  # untyped close()
        self._config = credentials.configuration
        self._pool: urllib3.PoolManager = self._client.rest_client.pool_manager
        self._on_response = on_response
        self.namespace = credentials.namespace

    def close(self) -> None:
        self._client.close()

    def another(self) -> KubeApi:
        """A client of its own (its own connections) with the same credentials and hooks: a watch ended
        from another thread then never ends a connection some other request has taken from the pool."""
        return KubeApi(self._credentials, self._on_response, self.field_manager)

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        # Asked on every request: the loaders' hook refreshes rotated or expiring tokens here.
        token = self._config.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            headers["Authorization"] = token
        return headers

    def _send(
        self,
        method: str,
        path: str,
        body: Any,
        content_type: str | None,
        query: Mapping[str, str] | None,
        verb: str,
        timeout: urllib3.Timeout,
    ) -> urllib3.BaseHTTPResponse:
        """The first answer that is neither transient nor an error; its body is not read yet."""
        if self.field_manager and method in _WRITES:
            query = {**(query or {}), "fieldManager": self.field_manager}
        url = self._config.host + path + (f"?{urlencode(query)}" if query else "")
        if body is not None and content_type is None:
            content_type = "application/json"
        data = None if body is None else orjson.dumps(body)
        backoff = _FIRST_BACKOFF_SECONDS
        for attempt in range(_ATTEMPTS):
            last = attempt == _ATTEMPTS - 1
            sent = time.monotonic()
            try:
                response = self._pool.request(
                    method,
                    url,
                    body=data,
                    headers=self._headers(content_type),
                    timeout=timeout,
                    preload_content=False,
                )
            except (urllib3.exceptions.HTTPError, OSError) as error:
                # urllib3 wraps the error that ended its own retries; a wrong CA never heals by itself.
                cause = getattr(error, "reason", error)
                if isinstance(cause, urllib3.exceptions.SSLError):
                    raise ApiError(0, "TLSError", str(cause)) from error
                if last:
                    raise ApiError(0, "ConnectionError", str(error)) from error
                time.sleep(backoff)
                backoff *= 2
                continue
            self._count(verb, response.status, time.monotonic() - sent)
            if response.status < 400:
                return response
            answer = response.read()
            response.release_conn()
            if response.status in _RETRIED_STATUSES and not last:
                time.sleep(backoff)
                backoff *= 2
                continue
            raise _api_error(response.status, answer)
        raise AssertionError("unreachable: the last attempt returns or raises")

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
        timeout = urllib3.Timeout(total=_REQUEST_SECONDS)
        response = self._send(method, path, body, content_type, query, verb or method, timeout)
        data = response.read()
        response.release_conn()
        return orjson.loads(data) if data else {}

    def _count(self, verb: str, status: int, seconds: float) -> None:
        if self._on_response is not None:
            self._on_response(verb, status, seconds)

    def get(self, path: str) -> Obj | None:
        try:
            return self.request("GET", path)
        except ApiError as error:
            if error.not_found:
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

    def pages(
        self, path: str, limit: int, field_selector: str | None = None, label_selector: str | None = None
    ) -> Iterator[Sequence[Obj]]:
        """A collection `limit` items at a time (following the server's continue tokens), so that a
        large one never sits whole in memory."""
        for answer in self.list_answers(path, limit, field_selector, label_selector):
            yield answer.get("items") or []

    def list_answers(
        self, path: str, limit: int, field_selector: str | None = None, label_selector: str | None = None
    ) -> Iterator[Obj]:
        """The answers (List objects) of `pages`: each page's items with its list metadata (the
        resourceVersion a watch takes up from)."""
        query = {"limit": str(limit)}
        if field_selector:
            query["fieldSelector"] = field_selector
        if label_selector:
            query["labelSelector"] = label_selector
        while True:
            answer = self.request("GET", path, query=query, verb="LIST")
            yield answer
            token = (answer.get("metadata") or {}).get("continue")
            if not token:
                return
            query = {**query, "continue": token}

    def create(self, path: str, body: Obj) -> Obj:
        return self.request("POST", path, body=body)

    def patch(self, path: str, body: Any, content_type: str = MERGE_PATCH) -> Obj:
        return self.request("PATCH", path, body=body, content_type=content_type)

    def apply(self, path: str, config: Obj, force: bool = True) -> Obj:
        """Server-side apply of `config` (created when missing) as this client's field manager, which
        then owns exactly the fields `config` names. `force` takes fields another manager set (a
        person's edit of a field the operator owns is put back); without it such a field is a 409."""
        if not self.field_manager:
            raise ValueError("server-side apply needs a field manager")
        query = {"force": "true"} if force else None
        return self.request("PATCH", path, body=config, content_type=APPLY_PATCH, query=query)

    def delete(self, path: str) -> bool:
        """Delete in the background (dependents are garbage-collected); False when already gone."""
        try:
            self.request("DELETE", path, body={"propagationPolicy": "Background"})
        except ApiError as error:
            if error.not_found:
                return False
            raise
        return True

    def watch(
        self,
        path: str,
        timeout_seconds: int,
        field_selector: str | None = None,
        label_selector: str | None = None,
        resource_version: str | None = None,
        opened: Callable[[Callable[[], None]], None] | None = None,
    ) -> Iterator[Obj]:
        """The events ({"type", "object"}) of one watch on a collection, until the server ends it; from
        `resource_version` (a LIST's) with BOOKMARK events among them, else from now.

        `opened` is handed, once the watch is open, what ends it from another thread (the events then
        stop with an ApiError). An ERROR event is raised as ApiError: 410 Gone means the place in the
        history expired, so the caller reads afresh and watches again."""
        query = {"watch": "true", "timeoutSeconds": str(timeout_seconds)}
        if field_selector:
            query["fieldSelector"] = field_selector
        if label_selector:
            query["labelSelector"] = label_selector
        if resource_version is not None:
            query |= {"resourceVersion": resource_version, "allowWatchBookmarks": "true"}
        # The server ends the watch at timeout_seconds; the read timeout only catches a silent peer.
        timeout = urllib3.Timeout(connect=_REQUEST_SECONDS, read=timeout_seconds + _REQUEST_SECONDS)
        response = self._send("GET", path, None, None, query, "WATCH", timeout)
        if opened is not None:
            opened(response.shutdown)
        try:
            for line in _lines(response):
                event: Obj = orjson.loads(line)
                if event.get("type") == "ERROR":
                    status: Obj = event.get("object") or {}
                    raise ApiError(
                        int(status.get("code") or 500),
                        str(status.get("reason", "Unknown")),
                        str(status.get("message", "")),
                    )
                yield event
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ApiError(0, "ConnectionError", f"watch ended early: {error}") from error
        finally:
            response.release_conn()


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """The non-empty lines of a streamed body, each as soon as its newline arrives."""
    buffer = b""
    for chunk in response.stream(None):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        yield from (line for line in lines if line.strip())
    if buffer.strip():
        yield buffer


def _api_error(status: int, data: bytes) -> ApiError:
    try:
        body = orjson.loads(data)
    except ValueError:
        return ApiError(status, "Unknown", data[:200].decode(errors="replace"))
    return ApiError(status, str(body.get("reason", "Unknown")), str(body.get("message", "")))


def deployments_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    return f"{base}/{name}" if name else base


def jobs_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/batch/v1/namespaces/{namespace}/jobs"
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


def prometheus_rules_path(namespace: str, name: str) -> str:
    """A PrometheusRule (prometheus-operator's CRD, which a cluster may not serve)."""
    return f"/apis/monitoring.coreos.com/v1/namespaces/{namespace}/prometheusrules/{name}"


def events_path(namespace: str, name: str | None = None) -> str:
    base = f"/api/v1/namespaces/{namespace}/events"
    return f"{base}/{name}" if name else base


def releases_path(namespace: str | None = None, name: str | None = None) -> str:
    base = "/apis/slipway.dev/v1alpha1"
    if namespace is None:
        return f"{base}/releases"
    path = f"{base}/namespaces/{namespace}/releases"
    return f"{path}/{name}" if name else path

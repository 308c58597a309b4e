"""The HTTP shell: aiohttp handlers that parse requests, call the Cluster and stream watches."""

from __future__ import annotations

import asyncio
import functools
import gc
import ipaddress
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from slipway_dev.apiserver import discovery, openapi, openapi_v2
from slipway_dev.apiserver.access import CURRENT_USER, Access
from slipway_dev.apiserver.apply import server_side_apply, server_side_apply_scale
from slipway_dev.apiserver.authn import Authenticator
from slipway_dev.apiserver.cluster import (
    APPLY_PATCH,
    PATCH_TYPES,
    Cluster,
    DeleteOptions,
    WriteOptions,
    dry_run_requested,
)
from slipway_dev.apiserver.credentials import Credentials
from slipway_dev.apiserver.errors import (
    ApiError,
    bad_request,
    gone,
    method_not_allowed,
    unsupported_media_type,
)
from slipway_dev.apiserver.faults import FaultConfig, FaultInjector
from slipway_dev.apiserver.logs import pod_logs
from slipway_dev.apiserver.managedfields import ManagerInfo, write_manager
from slipway_dev.apiserver.nesting import check_depth, too_deep
from slipway_dev.apiserver.paging import SWEEP_SECONDS, Collection, ListSnapshots
from slipway_dev.apiserver.podbudget import DEFAULT_MAX_PODS
from slipway_dev.apiserver.protobuf import decode_object
from slipway_dev.apiserver.routing import Target, resolve
from slipway_dev.apiserver.selectors import labels_match, parse_field_selector, parse_label_selector
from slipway_dev.apiserver.storage import Stored, encode
from slipway_dev.apiserver.tables import partial_metadata, table
from slipway_dev.apiserver.tls import Pki
from slipway_dev.apiserver.watch import Entry, Matcher, Watcher
from slipway_dev.logs import LogSource

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024  # the real server's limit
DEFAULT_WATCH_SECONDS = 1800
# Like the real namespace controller, contents go shortly after the namespace turns Terminating.
NAMESPACE_CLEANUP_DELAY = 0.05
# How long after a write the garbage collector deletes an object whose owners are all absent.
GARBAGE_COLLECTOR_DELAY = 0.1
_JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
BODY_TYPES = (_JSON, "application/yaml")
OBJECT_BODY_TYPES = (*BODY_TYPES, PROTOBUF)  # typed `kubectl create <kind>` sends protobuf


def _json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=_JSON)


def _error_response(error: ApiError) -> web.Response:
    return _json_response(encode(error.status()), error.code)


def _media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return any("as=Table" in part for part in accept.split(",")) and "g=meta.k8s.io" in accept


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


class ApiServer:
    """A Kubernetes API server for kubectl, kopf and the Python client, on a loopback address, HTTPS
    only: a CA and a serving certificate are made at every start (`credentials()` carries the CA).

    `_plain_http` exists only so bench/bench_apiserver.py can show what TLS costs; nothing else may set
    it, and no command or option exposes it.

    The same API (same authentication, same RBAC) is also served on `local_socket`, a Unix socket in a
    directory only this user can enter: the control plane's own way in, for the simulated world that
    runs in this process (as kube-controller-manager is a privileged local client of kube-apiserver).
    It speaks plain HTTP, so the world's thousands of requests pay no TLS on either side of one
    process; every other client meets HTTPS on the TCP port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultConfig | None = None,
        bookmark_seconds: float = 30.0,
        *,
        max_pods: int = DEFAULT_MAX_PODS,
        _plain_http: bool = False,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the dev API server only listens on loopback addresses, not {host}")
        self.host = host
        self.port = port
        self.faults = faults or FaultConfig()
        self.bookmark_seconds = bookmark_seconds
        self._injector = FaultInjector(self.faults)
        self.faults_injected = self._injector.injected
        self._runner: web.AppRunner | None = None
        self._watchers: set[Watcher] = set()
        self._lists = ListSnapshots()
        self._list_sweep: asyncio.TimerHandle | None = None
        self._stopping = asyncio.Event()
        self._plain_http = _plain_http
        self.pki = Pki.generate()
        self.cluster = Cluster(
            self.pki.ca_pem.decode(), history_size=self.faults.watch_history_size, max_pods=max_pods
        )
        self.authn = Authenticator()
        self.access = Access(self.cluster, self.authn)
        # Where pods/log reads container logs (the simulated kubelet); without one, no pod has logs.
        self.log_source: LogSource | None = None
        self._socket_dir: Path | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'http' if self._plain_http else 'https'}://{host}:{self.port}"

    def credentials(self, token: str | None = None) -> Credentials:
        """How to reach this server: its URL, its CA and a token (the admin's unless another is given)."""
        return Credentials(self.url, self.pki.ca_pem, token or self.authn.admin_token)

    def world_credentials(self) -> Credentials:
        """The simulated world's controllers: their own identity, in group system:masters."""
        return self.credentials(self.authn.world_token)

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._errors])
        # `[\s\S]`, not `.`: a path may hold a newline (an escaped one in a name), and must still reach
        # the API rather than fall through the router.
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self.host,
            self.port,
            reuse_address=True,
            ssl_context=None if self._plain_http else self.pki.server_context(),
        )
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        # mkdtemp makes the directory 0700: only this user can reach the socket inside.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="slipway-apiserver-"))
        await web.UnixSite(self._runner, str(self.local_socket)).start()
        self._sweep_lists()
        _settle_garbage_collector()

    def _sweep_lists(self) -> None:
        self._lists.expire()
        self._list_sweep = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep_lists)

    @property
    def local_socket(self) -> Path:
        """The Unix socket serving the API in plain HTTP to this user's local control plane."""
        if self._socket_dir is None:
            raise RuntimeError("the API server is not running")
        return self._socket_dir / "api.sock"

    async def stop(self) -> None:
        self._stopping.set()
        if self._list_sweep is not None:
            self._list_sweep.cancel()
            self._list_sweep = None
        for watcher in list(self._watchers):
            watcher.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            if self.faults.latency_ms:
                await asyncio.sleep(self.faults.latency_ms / 1000)
            # kube-apiserver's filter order: authentication, impersonation, authorization, handlers.
            user = self.access.authenticate(request)
            self.access.authorize(request, user)
            token = CURRENT_USER.set(user)
            try:
                response: web.StreamResponse | None = await self.access.serve(request, user)
                if response is None:
                    response = await handler(request)
            finally:
                CURRENT_USER.reset(token)
            return response
        except ApiError as error:
            return _error_response(error)
        except web.HTTPRequestEntityTooLarge:
            return _error_response(
                ApiError(
                    413, "RequestEntityTooLarge", f"the request body is larger than {MAX_BODY_BYTES} bytes"
                )
            )
        except (ConnectionError, asyncio.CancelledError):  # the client went away: nothing to answer
            raise
        except RecursionError:
            return _error_response(too_deep())
        except web.HTTPException as error:
            return _error_response(ApiError(error.status, error.reason.replace(" ", ""), error.reason))
        except Exception:
            log.exception("internal error handling %s %s", request.method, request.path)
            return _error_response(ApiError(500, "InternalError", "an internal error occurred"))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        target = resolve(self.cluster.registry, path)
        if target is None:
            if request.method != "GET":
                raise method_not_allowed(request.method)
            return self._meta(path, request)
        if request.method == "GET":
            if target.name is None:
                if _flag(request, "watch"):
                    return await self._watch(request, target)
                return self._list(request, target)
            if target.subresource == "log":
                return await pod_logs(
                    request, self.cluster, self.log_source, target.namespace or "", target.name
                )
            if target.subresource == "scale":
                return _json_response(
                    encode(self.cluster.get_scale(target.resource, target.namespace or "", target.name))
                )
            return self._object(
                request, target, self.cluster.get(target.resource, target.namespace or "", target.name)
            )
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            return await self._write(request, target)
        raise method_not_allowed(request.method)

    # -- discovery and openapi

    def _meta(self, path: str, request: web.Request) -> web.StreamResponse:
        registry = self.cluster.registry
        document: dict[str, Any] | None = None
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            document = discovery.VERSION_INFO
        elif path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        elif path == "/api":
            document = discovery.api_versions()
        elif path == "/apis":
            document = discovery.api_group_list(registry)
        elif parts[0] == "api" and len(parts) == 2:
            document = discovery.api_resource_list(registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            document = discovery.api_group(registry, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            document = discovery.api_resource_list(registry, parts[1], parts[2])
        elif path == "/openapi/v2":
            return self._openapi_v2(request)
        elif path == "/openapi/v3":
            document = openapi.root_document(registry)
        elif parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
            group, version = (
                (parts[3], parts[4]) if parts[2] == "apis" and len(parts) == 5 else ("", parts[3])
            )
            document = openapi.group_version_document(registry, group, version)
        if document is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        return _json_response(encode(document))

    def _openapi_v2(self, request: web.Request) -> web.StreamResponse:
        document = openapi_v2.document(self.cluster.registry)
        accept = request.headers.get("Accept", "")
        if "protobuf" in accept and "application/json" not in accept:
            return web.Response(
                body=openapi_v2.encode_protobuf(document),
                headers={"Content-Type": openapi_v2.PROTOBUF_V2},
            )
        return _json_response(encode(document))

    # -- reads

    def _object(self, request: web.Request, target: Target, stored: Stored) -> web.StreamResponse:
        if _wants_table(request):
            body = table(
                target.resource,
                [stored.obj],
                time.time(),
                request.query.get("includeObject", "Metadata"),
                {"resourceVersion": stored.obj["metadata"]["resourceVersion"]},
            )
            return _json_response(encode(body))
        return _json_response(stored.raw)

    def _matcher(self, request: web.Request) -> Matcher:
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector", ""))
        return lambda obj: labels_match(labels, obj) and fields(obj)

    def _candidates(self, request: web.Request, target: Target) -> Iterator[Stored]:
        """What a LIST filters: with a `label=value` term only the objects carrying that label (from
        the store's index), else the whole collection."""
        store, key = self.cluster.store, target.resource.storage_key
        for requirement in parse_label_selector(request.query.get("labelSelector", "")):
            if requirement.operator == "=":
                (value,) = requirement.values
                return store.labelled(key, target.namespace, requirement.key, value)
        return store.items(key, target.namespace)

    def _list(self, request: web.Request, target: Target) -> web.StreamResponse:
        limit = request.query.get("limit", "")
        page_size = int(limit) if limit.isdigit() and int(limit) > 0 else None
        collection = Collection(
            target.resource.storage_key,
            target.namespace,
            request.query.get("labelSelector", ""),
            request.query.get("fieldSelector", ""),
        )
        matches = self._matcher(request)

        def current() -> tuple[list[Stored], int]:
            return [s for s in self._candidates(request, target) if matches(s.obj)], self.cluster.store.rv

        token = request.query.get("continue")
        if token:
            if request.query.get("resourceVersion", "") not in ("", "0"):
                raise bad_request("specifying resource version is not allowed when using continue")
            page = self._lists.next(collection, token, page_size, current)
        else:
            page = self._lists.first(collection, *current(), page_size)
        items = page.items
        meta: dict[str, Any] = {"resourceVersion": str(page.rv)}
        if page.continue_token:
            meta["continue"] = page.continue_token
        if _wants_table(request):
            body = table(
                target.resource,
                [s.obj for s in items],
                time.time(),
                request.query.get("includeObject", "Metadata"),
                meta,
            )
            return _json_response(encode(body))
        resource = target.resource
        head = encode({"kind": resource.list_kind, "apiVersion": resource.api_version, "metadata": meta})
        return _json_response(head[:-1] + b',"items":[' + b",".join(s.raw for s in items) + b"]}")

    # -- watches

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        store = self.cluster.store
        storage_key = target.resource.storage_key
        watcher = Watcher(target.namespace, self._matcher(request))
        since = request.query.get("resourceVersion", "")
        # sendInitialEvents (the "watch list" protocol): the current objects, then a bookmark marking
        # their end, whatever resourceVersion was asked for.
        initial_events = _flag(request, "sendInitialEvents")
        initial: list[Stored] = []
        expired = False
        if initial_events or since in ("", "0"):
            initial = [s for s in store.items(storage_key, target.namespace) if watcher.matches(s.obj)]
        elif not since.isdigit():
            raise bad_request(f"invalid resourceVersion {since!r}")
        else:
            events = store.events_after(int(since), storage_key)
            expired = events is None
            for event in events or ():
                watcher.offer(event)
        snapshot_rv = store.rv
        # Subscribing in the same step as the snapshot: no event can fall between them.
        store.subscribe(storage_key, watcher)
        self._watchers.add(watcher)
        response = web.StreamResponse(headers={"Content-Type": _JSON, "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            stream = _WatchStream(
                request, target, _wants_table(request), request.query.get("includeObject", "Metadata")
            )
            if expired:
                stream.send_error(gone(f"too old resource version: {since} ({snapshot_rv})"))
                return response
            for stored in initial:
                stream.send_object("ADDED", stored)
                await stream.drain()
            if initial_events and _flag(request, "allowWatchBookmarks"):
                stream.send_bookmark(snapshot_rv, initial_events_end=True)
            await self._pump(request, watcher, stream)
        except (ConnectionError, asyncio.CancelledError):
            # The watcher went away; a reset seen while waiting for its full buffer to drain comes as
            # aiohttp's plain ConnectionError ("Connection lost"), which was logged as an internal error.
            pass
        finally:
            store.unsubscribe(storage_key, watcher)
            self._watchers.discard(watcher)
        return response

    async def _pump(self, request: web.Request, watcher: Watcher, stream: _WatchStream) -> None:
        timeout = request.query.get("timeoutSeconds", "")
        lifetime = float(timeout) if timeout.isdigit() and int(timeout) > 0 else DEFAULT_WATCH_SECONDS
        if self.faults.watch_drop_seconds is not None:
            lifetime = min(lifetime, self.faults.watch_drop_seconds)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        bookmarks = _flag(request, "allowWatchBookmarks")
        # From here on the writer of an event delivers it itself when it can; this task sends what it
        # could not (a full connection, a Table stream), bookmarks, and ends the stream.
        watcher.attach(stream.deliver)
        while not self._stopping.is_set():
            left = deadline - loop.time()
            if left <= 0:
                return
            wait = min(left, self.bookmark_seconds) if bookmarks else left
            # Everything already queued goes out in one write.
            batch = await watcher.take(wait)
            if not batch:
                if bookmarks and deadline - loop.time() > 0:
                    stream.send_bookmark(self.cluster.store.rv)
                    await stream.drain()
                continue
            events = [entry for entry in batch if entry is not None]
            if events:
                stream.send_events(events)
                await stream.drain()
            if len(events) < len(batch):
                return

    # -- writes

    async def _body(self, request: web.Request, allowed: tuple[str, ...], kind: str | None = None) -> Any:
        raw = await request.read()
        media_type = _media_type(request)
        if not raw:
            return None
        if media_type == PROTOBUF and PROTOBUF in allowed:
            return decode_object(raw)
        if media_type not in allowed and not (media_type == "" and _JSON in allowed):
            raise unsupported_media_type(media_type, allowed)
        try:
            if media_type == "application/yaml":
                return check_depth(yaml.safe_load(raw))
            return check_depth(json.loads(raw))
        except (ValueError, yaml.YAMLError) as error:
            if kind is not None and media_type != "application/yaml":
                # An object body that is not JSON (a YAML file sent as JSON): the real decoder cannot
                # tell its kind.
                raise bad_request(
                    f"the object provided is unrecognized (must be of type {kind}): couldn't get "
                    f"version/kind; json parse error: {str(error).splitlines()[0]}"
                ) from error
            raise bad_request(
                f"the request body is not valid {'YAML' if 'yaml' in media_type else 'JSON'}: "
                f"{str(error).splitlines()[0]}"
            ) from error

    async def _write(self, request: web.Request, target: Target) -> web.StreamResponse:
        cluster, resource = self.cluster, target.resource
        namespace, name, subresource = target.namespace or "", target.name, target.subresource
        cluster.warnings.clear()
        dry_run = dry_run_requested(request.query.getall("dryRun", None))
        # A real server warns by default; kubectl asks for Strict.
        validation = request.query.get("fieldValidation", "Warn")
        if validation not in ("Strict", "Warn", "Ignore"):
            raise bad_request(f"fieldValidation must be Strict, Warn or Ignore, not {validation!r}")
        method = request.method
        applying = method == "PATCH" and _media_type(request) == APPLY_PATCH
        manager = write_manager(method, request.query, request.headers.get("User-Agent", ""), applying)
        if subresource == "scale":
            manager = ManagerInfo(manager.name, subresource="scale")
        options = WriteOptions(dry_run, validation, manager)
        if applying:
            if name is None:
                raise method_not_allowed(method)
            fault = None if dry_run else self._injector.write_fault(resource.plural)
            if fault is not None:
                raise fault
            if subresource == "scale":
                scale = server_side_apply_scale(
                    cluster, resource, namespace, name, await request.read(), options, _flag(request, "force")
                )
                return self._answer(encode(scale))
            stored, created = server_side_apply(
                cluster,
                resource,
                namespace,
                name,
                await request.read(),
                subresource,
                options,
                _flag(request, "force"),
            )
            return self._answer(stored.raw, 201 if created else 200)
        if method == "PATCH":
            body = await self._body(request, PATCH_TYPES)
        elif method == "DELETE":
            body = await self._body(request, OBJECT_BODY_TYPES)
            deletion = DeleteOptions.parse(
                body, request.query.get("propagationPolicy"), request.query.get("gracePeriodSeconds")
            )
            dry_run = dry_run or deletion.dry_run
        else:
            body = await self._body(request, OBJECT_BODY_TYPES, resource.kind)
            if body is None:
                raise bad_request("the request has no body")
        if method == "POST" and (name is not None or (resource.namespaced and target.namespace is None)):
            raise method_not_allowed(method)
        if method != "POST" and name is None and method != "DELETE":
            raise method_not_allowed(method)
        fault = None if dry_run else self._injector.write_fault(resource.plural)
        if fault is not None:
            raise fault
        if method == "POST":
            return self._answer(cluster.create(resource, namespace, body, options).raw, 201)
        if method == "DELETE":
            if name is None:
                return self._delete_collection(request, target, deletion, dry_run)
            deleted = cluster.delete(resource, namespace, name, deletion, dry_run)
            if cluster.terminating:
                asyncio.get_running_loop().call_later(
                    NAMESPACE_CLEANUP_DELAY, cluster.empty_terminating_namespaces
                )
            return _json_response(deleted.raw)
        assert name is not None
        if subresource == "scale":
            if method == "PUT":
                scale = cluster.update_scale(resource, namespace, name, body, options)
            else:
                scale = cluster.patch_scale(resource, namespace, name, _media_type(request), body, options)
            return self._answer(encode(scale))
        if method == "PUT":
            return self._answer(cluster.update(resource, namespace, name, body, subresource, options).raw)
        stored = cluster.patch(resource, namespace, name, _media_type(request), body, subresource, options)
        return self._answer(stored.raw)

    def _answer(self, body: bytes, status: int = 200) -> web.Response:
        """A write's response, with the warnings it raised as `Warning` headers (kubectl prints them)."""
        response = _json_response(body, status)
        if self.cluster.dangling:
            # the garbage collector's turn comes after the write that made an object dangle
            asyncio.get_running_loop().call_later(GARBAGE_COLLECTOR_DELAY, self.cluster.collect_dangling)
        for warning in self.cluster.warnings:
            response.headers.add("Warning", f"299 - {json.dumps(warning)}")
        self.cluster.warnings.clear()
        return response

    def _delete_collection(
        self, request: web.Request, target: Target, options: DeleteOptions, dry_run: bool
    ) -> web.StreamResponse:
        matches = self._matcher(request)
        resource = target.resource
        if (resource.group, resource.plural) == ("", "namespaces"):
            raise method_not_allowed("DELETE")  # a real server serves no deletecollection of namespaces
        doomed = [
            s for s in self.cluster.store.items(resource.storage_key, target.namespace) if matches(s.obj)
        ]
        deleted = []
        for stored in doomed:
            if self.cluster.store.get(resource.storage_key, stored.namespace, stored.name) is not None:
                deleted.append(self.cluster.delete(resource, stored.namespace, stored.name, options, dry_run))
        head = encode(
            {
                "kind": resource.list_kind,
                "apiVersion": resource.api_version,
                "metadata": {"resourceVersion": str(self.cluster.store.rv)},
            }
        )
        return _json_response(head[:-1] + b',"items":[' + b",".join(s.raw for s in deleted) + b"]}")


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of a chunked response body."""
    return b"%x\r\n" % len(data) + data + b"\r\n"


class _WatchStream:
    """Writes watch events to one client, as JSON lines or as one-row Tables (`kubectl get --watch`).

    Each write is one HTTP chunk put straight on the connection (after the response's headers went
    out), without the awaits of StreamResponse.write, so that the writer of an event can deliver it
    to every watcher in its own call: no task wakes per watcher."""

    def __init__(self, request: web.Request, target: Target, as_table: bool, include_object: str):
        self._request = request
        self._target = target
        self._as_table = as_table
        self._include_object = include_object
        self._headers_sent = False

    def _transport(self) -> asyncio.Transport | None:
        """The connection's transport, None once the client went away."""
        transport = self._request.transport
        return None if transport is None or transport.is_closing() else transport

    def _write(self, data: bytes) -> None:
        transport = self._transport()
        if transport is None:
            raise ConnectionResetError("the watcher went away")
        transport.write(_chunk(data))

    async def drain(self) -> None:
        """Wait while the client is not reading fast enough for the connection's buffer."""
        await self._request.writer.drain()

    def deliver(self, entry: Entry) -> bool:
        """Write one event now if the connection takes it without waiting; False leaves it queued for
        the stream's task. Table rows are built per watcher, so they stay off the writer's path."""
        if self._as_table or self._request.protocol.writing_paused or self._transport() is None:
            return False
        event, type_ = entry
        self._write(event.line(type_))
        return True

    def _table_line(self, type_: str, obj: dict[str, Any]) -> bytes:
        rows = table(
            self._target.resource,
            [obj],
            time.time(),
            self._include_object,
            {"resourceVersion": obj["metadata"]["resourceVersion"]},
            headers=not self._headers_sent,
        )
        self._headers_sent = True
        return encode({"type": type_, "object": rows}) + b"\n"

    def send_object(self, type_: str, stored: Stored) -> None:
        if self._as_table:
            self._write(self._table_line(type_, stored.obj))
        else:
            self._write(b'{"type":"' + type_.encode() + b'","object":' + stored.raw + b"}\n")

    def send_events(self, batch: list[Entry]) -> None:
        if self._as_table:
            lines = [self._table_line(type_, event.stored.obj) for event, type_ in batch]
        else:
            lines = [event.line(type_) for event, type_ in batch]
        self._write(b"".join(lines))

    def send_bookmark(self, rv: int, initial_events_end: bool = False) -> None:
        resource = self._target.resource
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_events_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": meta}
        if self._as_table:
            obj = partial_metadata(obj)
        self._write(encode({"type": "BOOKMARK", "object": obj}) + b"\n")

    def send_error(self, error: ApiError) -> None:
        self._write(b'{"type":"ERROR","object":' + encode(error.status()) + b"}\n")


@functools.cache
def _settle_garbage_collector() -> None:
    """Once per process, when the first server is up: what exists now (modules, schemas, OpenAPI) lives
    as long as the process, so it leaves the collector's reach, and full collections are made rarer.
    A full collection walking that heap paused every watcher of the event in flight for up to 2.4 ms;
    with this the fan-out p99 went from about 1.8 to 1.4 ms (bench/bench_apiserver.py, quiet machine)."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 10_000)

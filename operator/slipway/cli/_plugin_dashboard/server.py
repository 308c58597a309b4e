"""The dashboard's server: watches in threads, the page and its live updates over aiohttp, the buttons.

It runs as the person who starts it (their kubeconfig, as every `kubectl slipway` command), never as the
operator: it sees and changes only what their RBAC allows (DASHBOARD_RULES), and says so on the page
when a read is refused. It listens on 127.0.0.1 only, and every request must carry the random token of
the URL it prints, so neither another local user nor a web page open in the browser can act through it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import signal
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from slipway.api.models import GROUP
from slipway.cli._plugin_dashboard.view import BUTTONS, board
from slipway.cli.plugin import (
    WATCH_SECONDS,
    Cluster,
    Refused,
    console,
    now,
    send,
)
from slipway.kube.client import ApiError, KubeApi, Obj, events_path, releases_path
from slipway.rbac import Rule

# What the person running the dashboard needs, in the namespace shown (or cluster-wide with -A):
# Releases listed and watched, and read afresh and patched by the buttons (annotations only, judged on
# the Release as read); Events (the rollback's timeline) listed and watched; without Events the page
# shows the timeline from status alone.
DASHBOARD_RULES: Final = (
    Rule(GROUP, "releases", ("get", "list", "watch", "patch")),
    Rule("", "events", ("list", "watch")),
)

TOKEN_HEADER: Final = "X-Slipway-Token"
TICK_SECONDS: Final = 5.0
"""The page is drawn again this often without a change, so that ages and the plots' time move on."""
SETTLE_SECONDS: Final = 0.1
"""Changes arriving together (a status write and its Event) are drawn once."""
KEEPALIVE_SECONDS: Final = 15.0
RETRY_SECONDS: Final = (1.0, 2.0, 5.0, 10.0)
"""Waits before watching again after a failure, the last repeated."""
BUTTON_KEYS: Final = {button.action: button.key for button in BUTTONS}


class Mirror:
    """One collection as the API server holds it, kept current by list + watch in a daemon thread;
    `problem` says why it may be stale (a refused or failed watch)."""

    def __init__(
        self, api: KubeApi, path: str, what: str, changed: Callable[[], None], field_selector: str = ""
    ) -> None:
        self.objects: dict[str, Obj] = {}
        self.problem: str | None = None
        self._api, self._path, self._what, self._changed = api, path, what, changed
        self._query = {"fieldSelector": field_selector} if field_selector else None
        self._field_selector = field_selector or None
        self._lock = threading.Lock()

    def snapshot(self) -> list[Obj]:
        with self._lock:
            return list(self.objects.values())

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"watch {self._what}", daemon=True).start()

    def _run(self) -> None:
        failures = 0
        while True:
            try:
                self._follow()
                failures = 0
                continue
            except ApiError as error:
                if error.status == 410:  # our place in the history expired: read afresh at once
                    continue
                why = f"{error.status} {error.reason}: {error.message}"
            except Exception as error:  # the thread must not end: whatever failed is said, and tried again
                why = f"{type(error).__name__}: {error}"
            self._report(f"cannot watch {self._what}: {why}")
            time.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1

    def _follow(self) -> None:
        """Read the whole collection (dropping what was deleted meanwhile), then follow its changes until
        the server ends the watch."""
        listed = self._api.request("GET", self._path, query=self._query, verb="LIST").get("items") or []
        with self._lock:
            self.objects = {_uid(obj): obj for obj in listed}
        self._report(None)
        for event in self._api.watch(self._path, WATCH_SECONDS, self._field_selector):
            with self._lock:
                if event["type"] == "DELETED":
                    self.objects.pop(_uid(event["object"]), None)
                elif event["type"] in ("ADDED", "MODIFIED"):
                    self.objects[_uid(event["object"])] = event["object"]
            self._changed()

    def _report(self, problem: str | None) -> None:
        self.problem = problem
        self._changed()


def _uid(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")


class Board:
    """What the open pages show: the Releases (and their Events) in scope, drawn at each change and each
    tick, and sent to every page listening whenever the drawing differs."""

    def __init__(self, api: KubeApi, namespace: str | None) -> None:
        self.scope = "every namespace" if namespace is None else f"namespace {namespace}"
        self.releases = Mirror(api, releases_path(namespace), f"Releases in {self.scope}", self._wake)
        self.events = Mirror(
            api,
            "/api/v1/events" if namespace is None else events_path(namespace),
            f"Events in {self.scope}",
            self._wake,
            field_selector="involvedObject.kind=Release",
        )
        self.html = ""
        self._listeners: set[asyncio.Queue[str | None]] = set()
        self._dirty = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        """Start the watches, then draw at each change (settled) or tick, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self.draw()
        self.releases.start()
        self.events.start()
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), TICK_SECONDS)
                await asyncio.sleep(SETTLE_SECONDS)
            except TimeoutError:
                pass
            self._dirty.clear()
            self.draw()

    def _wake(self) -> None:
        """Called by the watch threads."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._dirty.set)

    def release(self, namespace: str, name: str) -> Obj | None:
        for release in self.releases.snapshot():
            meta = release.get("metadata") or {}
            if meta.get("namespace") == namespace and meta.get("name") == name:
                return release
        return None

    def draw(self) -> None:
        problems = [m.problem for m in (self.releases, self.events) if m.problem]
        html = board(self.releases.snapshot(), self.events.snapshot(), now(), self.scope, problems)
        if html != self.html:
            self.html = html
            for queue in self._listeners:
                _replace(queue, html)

    def listen(self) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1)
        _replace(queue, self.html)
        self._listeners.add(queue)
        return queue

    def forget(self, queue: asyncio.Queue[str | None]) -> None:
        self._listeners.discard(queue)

    def close(self) -> None:
        """End every page's stream (None), so that the server stops without waiting for them."""
        for queue in self._listeners:
            _replace(queue, None)


def _replace(queue: asyncio.Queue[str | None], item: str | None) -> None:
    """Only the newest drawing matters to a page that is behind."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


def build_app(cluster: Cluster, all_namespaces: bool, token: str) -> web.Application:
    """The page, its stream of drawings and the buttons, behind the token; the watches start with it."""
    board_ = Board(cluster.api, None if all_namespaces else cluster.namespace)
    app = web.Application(middlewares=[_guard(token)])
    page = resources.files("slipway.cli._plugin_dashboard").joinpath("static/index.html").read_text()

    async def start(app: web.Application) -> None:
        app["drawing"] = asyncio.create_task(board_.run())

    async def stop(app: web.Application) -> None:
        board_.close()
        app["drawing"].cancel()

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue = board_.listen()
        try:
            while True:
                try:
                    html = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if html is None:
                    break
                await response.write(f"event: board\ndata: {json.dumps({'html': html})}\n\n".encode())
        except ConnectionResetError:
            pass  # the page was closed
        finally:
            board_.forget(queue)
        return response

    async def act(request: web.Request) -> web.Response:
        namespace, name, action = (request.match_info[k] for k in ("namespace", "name", "action"))
        key = BUTTON_KEYS.get(action)
        release = board_.release(namespace, name)
        if key is None or release is None:
            return web.json_response(
                {"error": f"no {action} for Release {namespace}/{name} here"}, status=404
            )
        version = str((release.get("spec") or {}).get("version"))
        target = Cluster(cluster.api, namespace)
        try:
            # Judged and sent as the command of the same name does: NoEffect says the core's reason.
            sent = await asyncio.to_thread(send, key, name, target, version)
        except Refused as error:
            return web.json_response({"error": str(error)}, status=409)
        except ApiError as error:
            said = f"the API server answered {error.status} {error.reason}: {error.message}"
            return web.json_response({"error": said}, status=403 if error.status == 403 else 502)
        said = f"release {namespace}/{name}: {action} requested (annotation {key}={sent.value})"
        console.print(said, highlight=False)
        return web.json_response({"message": said})

    app.router.add_get("/", index)
    app.router.add_get("/events", stream)
    app.router.add_post("/api/releases/{namespace}/{name}/{action}", act)
    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return app


def _guard(token: str) -> Middleware:
    """Only this machine's names (a page from another site re-pointing its own name at 127.0.0.1 is
    refused), and only with the token: in the query (the URL printed) or, for the buttons, the header
    that the page's own script sends and a form on another site cannot."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.url.host not in ("127.0.0.1", "localhost"):
            return web.Response(status=403, text="the dashboard answers on 127.0.0.1 only")
        given = request.headers.get(TOKEN_HEADER, "")
        if request.method == "GET":
            given = given or request.query.get("token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return web.Response(status=403, text="open the URL the dashboard printed: it carries the token")
        response: web.StreamResponse = await handler(request)
        return response

    return guard


async def _serve(app: web.Application, port: int, token: str) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except OSError as refused:
        await runner.cleanup()
        raise SystemExit(
            f"error: cannot listen on 127.0.0.1:{port}: {refused.strerror}; try --port 0"
        ) from None
    bound = runner.addresses[0][1]
    console.print(
        f"Slipway dashboard: http://127.0.0.1:{bound}/?token={token}  (Ctrl-C to stop)", highlight=False
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    await runner.cleanup()


def serve(cluster: Cluster, port: int, all_namespaces: bool) -> None:
    """Serve until Ctrl-C or SIGTERM, printing the URL (with its token) once listening."""
    token = secrets.token_urlsafe(24)
    asyncio.run(_serve(build_app(cluster, all_namespaces, token), port, token))

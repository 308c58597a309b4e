"""Pods that run the real thing: a pod whose image is the Slipway image runs as a local process.

Every other pod of the dev cluster is a simulated HTTP server (slipway_dev.pods). A pod whose first
container's image is one of the `process images` (default: the chart's own, `slipway/slipway:<appVersion>`;
$SLIPWAY_DEV_PROCESS_IMAGES lists others, comma-separated) runs the image's program instead, as a child
process of the dev cluster, with what a real kubelet would give the container:

- command and args from the pod spec; the command defaults to the image's entrypoint `slipway`, and a
  bare program name is looked up first beside this Python (the venv's bin directory), so `slipway`
  is the checkout's operator. `$(VAR)` references are expanded as Kubernetes does.
- the env of the spec: values, `fieldRef`s (metadata.name/namespace/uid/labels/annotations,
  spec.serviceAccountName/nodeName, status.podIP/hostIP), `configMapKeyRef`/`secretKeyRef`, `envFrom`;
  plus PATH, HOME (the pod's own directory) and KUBERNETES_SERVICE_HOST=127.0.0.1 /
  KUBERNETES_SERVICE_PORT=<the API server's port>. Nothing of the dev cluster's own environment
  (no KUBECONFIG) leaks in: the process finds the API server as a pod does.
- volumes as files in a per-pod directory: ConfigMaps and Secrets written key by key, emptyDirs empty.
  Without a private mount namespace the files cannot be where the container expects them, so every
  command/arg/env value that is a path under a volumeMount's mountPath (alone or after `--flag=`) is
  rewritten to the volume's directory.
- the service account: a token minted by TokenRequest for spec.serviceAccountName (renewed at 80 % of
  its life), ca.crt and namespace, in the pod's own directory, passed as SLIPWAY_SERVICE_ACCOUNT_DIR (the
  operator's override of /var/run/secrets/kubernetes.io/serviceaccount).
- its port: every pod shares podIP 127.0.0.1, so the container's first port is served on a free local
  port instead, published like a simulated pod's in the annotation slipway.dev/sim-port (Services,
  scrapes and probes follow it) and given to the process as $SLIPWAY_DEV_POD_PORT. The `slipway` program
  is told without it: its `--config` file's `server`
  section is rewritten to host 127.0.0.1 and that port.

The kubelet probes it (httpGet liveness and readiness, on that port; until the first success readiness
is polled every second rather than every periodSeconds), restarts it when it exits (restartCount,
lastState, CrashLoopBackOff with the kubelet's back-off) or fails its liveness probe, and stops it when
the pod goes: SIGTERM, then SIGKILL after terminationGracePeriodSeconds. stdout and stderr are the
container's log (`kubectl logs`). The per-pod directories live under one temporary directory, removed
with every process when the cluster stops.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from slipway import __version__
from slipway_dev.apiserver.credentials import Credentials
from slipway_dev.controllers.client import ApiError, KubeClient, Resource
from slipway_dev.logs import LogBuffer

log = logging.getLogger(__name__)

# The chart's default image (values.yaml image.repository, tag = Chart.yaml appVersion).
DEFAULT_IMAGE = f"slipway/slipway:{__version__}"
IMAGES_VARIABLE = "SLIPWAY_DEV_PROCESS_IMAGES"
# The Dockerfile's ENTRYPOINT: the command when the pod spec gives none.
DEFAULT_ENTRYPOINT = ("slipway",)
SERVICE_ACCOUNT_DIR_VARIABLE = "SLIPWAY_SERVICE_ACCOUNT_DIR"
# The local port a process serves its container port on (any program can listen there).
PORT_VARIABLE = "SLIPWAY_DEV_POD_PORT"
TOKEN_SECONDS = 3600
POD_IP = "127.0.0.1"
# Grace on the dev cluster's own stop: it holds nothing a pod needs to hand over.
SHUTDOWN_GRACE_SECONDS = 1.0
BACKOFF_FIRST_SECONDS = 10.0
BACKOFF_MAX_SECONDS = 300.0

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
SECRETS = Resource("", "v1", "secrets", "Secret")
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")

JsonObject = dict[str, Any]


def process_images(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    listed = [name.strip() for name in environ.get(IMAGES_VARIABLE, "").split(",") if name.strip()]
    return tuple(listed) or (DEFAULT_IMAGE,)


def image_matches(image: str, names: Sequence[str]) -> bool:
    """`image` is one of `names`; a name without a tag matches every tag of that repository."""
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return any(image == name or (":" not in name.rsplit("/", 1)[-1] and repository == name) for name in names)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((POD_IP, 0))
        return int(probe.getsockname()[1])


def _field(pod: JsonObject, path: str) -> str:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if match := re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path):
        return str((meta.get(match[1]) or {}).get(match[2], ""))
    values = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName") or "slipway-dev",
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        "status.podIP": POD_IP,
        "status.podIPs": POD_IP,
        "status.hostIP": POD_IP,
    }
    return str(values.get(path) or "")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known variables replaced, $$ escapes, unknown ones kept."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]),
        text,
    )


def rewrite_paths(value: str, mounts: Mapping[str, Path]) -> str:
    """A path under a mountPath (the whole value, or after `--flag=`) moved to the volume's directory."""
    prefix, sep, rest = value.partition("=") if value.startswith("-") else ("", "", value)
    for mount_path in sorted(mounts, key=len, reverse=True):
        stripped = mount_path.rstrip("/")
        if rest == (stripped or "/"):
            return prefix + sep + str(mounts[mount_path])
        if rest.startswith(stripped + "/"):
            return prefix + sep + str(mounts[mount_path] / rest[len(stripped) + 1 :])
    return value


def _paths_moved(value: Any, mounts: Mapping[str, Path]) -> Any:
    """Every string of a parsed config that is a path under a mountPath, moved (`rewrite_paths`)."""
    if isinstance(value, dict):
        return {key: _paths_moved(item, mounts) for key, item in value.items()}
    if isinstance(value, list):
        return [_paths_moved(item, mounts) for item in value]
    return rewrite_paths(value, mounts) if isinstance(value, str) and value.startswith("/") else value


def _config_argument(args: Sequence[str]) -> str | None:
    for index, arg in enumerate(args):
        if arg.startswith("--config="):
            return arg.partition("=")[2]
        if arg == "--config" and index + 1 < len(args):
            return args[index + 1]
    return None


@dataclass
class ContainerState:
    """What the kubelet reports about the container: containerStatuses[0] and Ready."""

    state: JsonObject
    last_state: JsonObject
    restarts: int
    ready: bool
    started_at: datetime | None


class PodProcess:
    """One pod's container as a local process; `changed` is called whenever its status changes."""

    def __init__(
        self,
        pod: JsonObject,
        client: KubeClient,
        credentials: Credentials,
        root: Path,
        changed: Callable[[], None],
    ) -> None:
        self.pod = pod
        self.client = client
        self.credentials = credentials
        self.changed = changed
        meta = pod["metadata"]
        self.namespace, self.name = str(meta["namespace"]), str(meta["name"])
        self.dir = root / f"{self.namespace}_{self.name}_{meta.get('uid', '')}"
        spec = pod.get("spec") or {}
        self.container: JsonObject = (spec.get("containers") or [{}])[0]
        self.restart_policy = str(spec.get("restartPolicy") or "Always")
        self.grace = float(spec.get("terminationGracePeriodSeconds", 30))
        self.port = free_port()
        self.log = LogBuffer()
        self.status = ContainerState({"waiting": {"reason": "ContainerCreating"}}, {}, 0, False, None)
        self.finished: int | None = None  # exit code once it ended for good (restartPolicy)
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def stop(self, grace: float | None = None) -> None:
        """SIGTERM, SIGKILL after the grace period, then the pod's directory goes."""
        self._stopping = True
        await self._terminate(self.grace if grace is None else grace)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL now, whatever grace a stop in progress still gives it (the cluster is stopping)."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    async def _terminate(self, grace: float) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    def _set(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.status, key, value)
        self.changed()

    async def _supervise(self) -> None:
        try:
            command, env = await self._prepare()
        except Exception as error:  # a missing ConfigMap or ServiceAccount: the kubelet tries again
            log.info("pod %s/%s not started yet: %s", self.namespace, self.name, error)
            self._set(state={"waiting": {"reason": "ContainerCreating", "message": str(error)}})
            await asyncio.sleep(1.0)
            self._task = asyncio.get_running_loop().create_task(self._supervise())
            return
        renewing = asyncio.get_running_loop().create_task(self._renew_token())
        try:
            while not self._stopping:
                code = await self._run_once(command, env)
                if self._stopping:
                    return
                if self.restart_policy == "Never" or (self.restart_policy == "OnFailure" and code == 0):
                    self.finished = code
                    self.changed()
                    return
                backoff = (
                    0.0
                    if self.status.restarts == 0
                    else min(BACKOFF_FIRST_SECONDS * 2 ** (self.status.restarts - 1), BACKOFF_MAX_SECONDS)
                )
                if backoff:
                    self._set(
                        state={
                            "waiting": {
                                "reason": "CrashLoopBackOff",
                                "message": f"back-off {backoff:.0f}s restarting failed container",
                            }
                        }
                    )
                    await asyncio.sleep(backoff)
                self.status.restarts += 1
        finally:
            renewing.cancel()

    async def _run_once(self, command: list[str], env: dict[str, str]) -> int:
        """Start the process, probe it until it exits (or fails liveness); its exit code."""
        self.log.close()
        self.log = LogBuffer()  # `kubectl logs` shows the current container's lines
        started = datetime.now(UTC)
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            cwd=self.dir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self._process = process
        self._set(state={"running": {"startedAt": _stamp(started)}}, ready=False, started_at=started)
        pumping = asyncio.get_running_loop().create_task(self._pump(process, self.log))
        probing = asyncio.get_running_loop().create_task(self._probe(process))
        code = await process.wait()
        probing.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await probing
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pumping, 2.0)
        finished = datetime.now(UTC)
        terminated = {
            "exitCode": code if code >= 0 else 128 - code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": _stamp(started),
            "finishedAt": _stamp(finished),
        }
        if not self._stopping:
            self._set(state={"terminated": terminated}, last_state={"terminated": terminated}, ready=False)
        return int(terminated["exitCode"])

    @staticmethod
    async def _pump(process: asyncio.subprocess.Process, buffer: LogBuffer) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            buffer.write(line.decode(errors="replace"))

    # -- probes

    def _probe_url(self, probe: JsonObject) -> str | None:
        http = probe.get("httpGet")
        if not isinstance(http, dict):
            return None
        return f"http://{POD_IP}:{self.port}{http.get('path') or '/'}"

    async def _probe(self, process: asyncio.subprocess.Process) -> None:
        liveness = self.container.get("livenessProbe") or {}
        readiness = self.container.get("readinessProbe") or {}
        ready_url, live_url = self._probe_url(readiness), self._probe_url(liveness)
        if ready_url is None:
            self._set(ready=True)
        started = time.monotonic()
        live_failures = ready_failures = 0
        next_live = started + float(liveness.get("initialDelaySeconds", 0))
        next_ready = started + float(readiness.get("initialDelaySeconds", 0))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while process.returncode is None:
                moment = time.monotonic()
                if ready_url is not None and moment >= next_ready:
                    ok = await _http_ok(session, ready_url, readiness)
                    ready_failures = 0 if ok else ready_failures + 1
                    if ok and not self.status.ready:
                        self._set(ready=True)
                    elif self.status.ready and ready_failures >= int(readiness.get("failureThreshold", 3)):
                        self._set(ready=False)
                    period = float(readiness.get("periodSeconds", 10))
                    next_ready = moment + (period if self.status.ready else min(period, 1.0))
                if live_url is not None and moment >= next_live:
                    ok = await _http_ok(session, live_url, liveness)
                    live_failures = 0 if ok else live_failures + 1
                    if live_failures >= int(liveness.get("failureThreshold", 3)):
                        self.log.write(f"liveness probe failed {live_failures} times: restarting")
                        await self._terminate(self.grace)
                        return
                    next_live = moment + float(liveness.get("periodSeconds", 10))
                await asyncio.sleep(max(0.05, min(next_ready, next_live) - time.monotonic()))

    # -- what the container is given

    async def _prepare(self) -> tuple[list[str], dict[str, str]]:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "home").mkdir(exist_ok=True)
        mounts = await self._volumes()
        account = self.dir / "serviceaccount"
        account.mkdir(exist_ok=True)
        await self._write_token()
        (account / "ca.crt").write_bytes(self.credentials.ca_pem)
        (account / "namespace").write_text(self.namespace)
        api_port = str(self.credentials.url.rstrip("/").rsplit(":", 1)[1])
        env: dict[str, str] = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.dir / "home"),
            "HOSTNAME": self.name,
            "PYTHONUNBUFFERED": "1",
            "KUBERNETES_SERVICE_HOST": POD_IP,
            "KUBERNETES_SERVICE_PORT": api_port,
            "KUBERNETES_SERVICE_PORT_HTTPS": api_port,
            SERVICE_ACCOUNT_DIR_VARIABLE: str(account),
            PORT_VARIABLE: str(self.port),
        }
        # Only the spec's values name container paths; the dev cluster's own (under $TMPDIR) stay.
        spec_env = await self._spec_env(env)
        env.update({key: rewrite_paths(value, mounts) for key, value in spec_env.items()})
        raw = [str(part) for part in self.container.get("command") or DEFAULT_ENTRYPOINT]
        args = [str(part) for part in self.container.get("args") or []]
        command = [rewrite_paths(expand(part, env), mounts) for part in raw]
        args = [rewrite_paths(expand(part, env), mounts) for part in args]
        beside = Path(sys.executable).parent / command[0]
        if "/" not in command[0] and beside.exists():
            command[0] = str(beside)
        config = _config_argument(args)
        if Path(command[0]).name == "slipway" and config is not None and Path(config).is_file():
            self._fit_operator_config(Path(config), mounts)
        return [*command, *args], env

    def _fit_operator_config(self, config: Path, mounts: Mapping[str, Path]) -> None:
        """The Slipway operator's server (`server` of its config) moves to the pod's local port, and the
        files its config names under a mountPath (a notifier's `urlFile` in a Secret's volume) to where
        that volume is instead, as for its command and environment."""
        settings = yaml.safe_load(config.read_text()) or {}
        if isinstance(settings, dict):
            settings = _paths_moved(settings, mounts)
            settings["server"] = {**(settings.get("server") or {}), "host": POD_IP, "port": self.port}
            config.write_text(yaml.safe_dump(settings, sort_keys=False))

    async def _volumes(self) -> dict[str, Path]:
        """Each volume's files in the pod's directory; mountPath -> where it is instead."""
        spec = self.pod.get("spec") or {}
        where: dict[str, Path] = {}
        for volume in spec.get("volumes") or []:
            directory = self.dir / "volumes" / str(volume["name"])
            directory.mkdir(parents=True, exist_ok=True)
            files: dict[str, bytes] = {}
            if "configMap" in volume:
                source = volume["configMap"]
                found = await self.client.get(CONFIGMAPS, self.namespace, str(source.get("name")))
                if found is None:
                    if source.get("optional"):
                        continue
                    raise LookupError(f'configmap "{source.get("name")}" not found')
                files = {k: str(v).encode() for k, v in (found.get("data") or {}).items()}
                files |= {k: base64.b64decode(v) for k, v in (found.get("binaryData") or {}).items()}
                items = source.get("items")
            elif "secret" in volume:
                source = volume["secret"]
                found = await self.client.get(SECRETS, self.namespace, str(source.get("secretName")))
                if found is None:
                    if source.get("optional"):
                        continue
                    raise LookupError(f'secret "{source.get("secretName")}" not found')
                files = {k: base64.b64decode(v) for k, v in (found.get("data") or {}).items()}
                items = source.get("items")
            else:
                items = None  # emptyDir and anything else: an empty directory
            for key, content in files.items():
                paths = [i.get("path", key) for i in items or [] if i.get("key") == key] if items else [key]
                for relative in paths:
                    target = directory / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
            where[str(volume["name"])] = directory
        mounts: dict[str, Path] = {}
        for mount in self.container.get("volumeMounts") or []:
            volume_dir = where.get(str(mount.get("name")))
            if volume_dir is not None:
                mounts[str(mount["mountPath"])] = volume_dir / str(mount.get("subPath") or "")
        return mounts

    async def _spec_env(self, defined: Mapping[str, str]) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in self.container.get("envFrom") or []:
            prefix = str(source.get("prefix") or "")
            if "configMapRef" in source:
                found = await self.client.get(CONFIGMAPS, self.namespace, source["configMapRef"]["name"])
                data = {k: str(v) for k, v in ((found or {}).get("data") or {}).items()}
            elif "secretRef" in source:
                found = await self.client.get(SECRETS, self.namespace, source["secretRef"]["name"])
                data = {k: base64.b64decode(v).decode() for k, v in ((found or {}).get("data") or {}).items()}
            else:
                data = {}
            env |= {prefix + key: value for key, value in data.items()}
        for item in self.container.get("env") or []:
            name = str(item["name"])
            reference = item.get("valueFrom")
            if reference is None:
                env[name] = expand(str(item.get("value", "")), {**defined, **env})
            elif "fieldRef" in reference:
                env[name] = _field(self.pod, str(reference["fieldRef"].get("fieldPath", "")))
            elif "configMapKeyRef" in reference:
                ref = reference["configMapKeyRef"]
                found = await self.client.get(CONFIGMAPS, self.namespace, str(ref["name"]))
                env[name] = str(((found or {}).get("data") or {}).get(ref["key"], ""))
            elif "secretKeyRef" in reference:
                ref = reference["secretKeyRef"]
                found = await self.client.get(SECRETS, self.namespace, str(ref["name"]))
                value = ((found or {}).get("data") or {}).get(ref["key"])
                env[name] = base64.b64decode(value).decode() if value else ""
            else:
                env[name] = ""  # resourceFieldRef: no limits are simulated
        return env

    async def _write_token(self) -> None:
        account = str((self.pod.get("spec") or {}).get("serviceAccountName") or "default")
        path = SERVICEACCOUNTS.path(self.namespace, account, "token")
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS},
        }
        try:
            answer = await self.client.post(path, body)
        except ApiError as error:
            raise LookupError(f'token of serviceaccount "{account}": {error}') from error
        target = self.dir / "serviceaccount" / "token"
        staged = target.with_suffix(".new")
        staged.write_text(str(answer["status"]["token"]))
        staged.replace(target)  # the reader never sees half a token

    async def _renew_token(self) -> None:
        while True:
            await asyncio.sleep(TOKEN_SECONDS * 0.8)
            try:
                await self._write_token()
            except Exception as error:
                log.warning("token of pod %s/%s not renewed: %r", self.namespace, self.name, error)


async def _http_ok(session: aiohttp.ClientSession, url: str, probe: JsonObject) -> bool:
    try:
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=float(probe.get("timeoutSeconds", 1)))
        ) as response:
            return 200 <= response.status < 400
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ProcessRunner:
    """Which pods run as processes, and the directory they all live under."""

    def __init__(self, credentials: Credentials, images: Sequence[str] | None = None) -> None:
        self.credentials = credentials
        self.images = tuple(images) if images else process_images()
        self._root: Path | None = None

    def runs(self, pod: JsonObject) -> bool:
        containers = (pod.get("spec") or {}).get("containers") or []
        return bool(containers) and image_matches(str(containers[0].get("image", "")), self.images)

    def process(self, pod: JsonObject, client: KubeClient, changed: Callable[[], None]) -> PodProcess:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="slipway-dev-pods-"))
        found = PodProcess(pod, client, self.credentials, self._root, changed)
        found.start()
        return found

    def cleanup(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

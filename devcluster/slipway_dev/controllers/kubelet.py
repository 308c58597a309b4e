"""The simulated kubelet: runs every pod it sees (an HTTP server, or a timed run for Job pods).

Long-running pods (restartPolicy Always) get a SimulatedPod listening on 127.0.0.1; the port is
published in the annotation `slipway.dev/sim-port` with the Running status (one write), so the gateway
and the Prometheus targets can find it. Pods with restartPolicy Never/OnFailure "run" for
SLIPWAY_DEMO_STARTUP_SECONDS and then succeed, or fail when SLIPWAY_DEMO_EXIT_CODE is not 0.
A pod of the Slipway image runs the real operator as a local process instead (slipway_dev.processes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slipway_dev.controllers.client import EVENTS, PODS, JsonObject
from slipway_dev.controllers.runtime import (
    BUSY_WORKERS,
    Controller,
    Informers,
    Key,
    cancel_all,
    key_of,
    now,
    write_status,
)
from slipway_dev.controllers.workloads import event, is_deleting, timestamp
from slipway_dev.logs import LogBuffer
from slipway_dev.pods import SIM_PORT_ANNOTATION, PodBehaviour, SimulatedPod
from slipway_dev.processes import SHUTDOWN_GRACE_SECONDS, PodProcess, ProcessRunner

log = logging.getLogger(__name__)

POD_IP = "127.0.0.1"
CRASH_BACKOFF_FIRST_SECONDS = 10.0
CRASH_BACKOFF_MAX_SECONDS = 300.0


def runs_to_completion(pod: JsonObject) -> bool:
    # A Job's pod runs to completion even if its template forgot the restartPolicy a real server demands.
    owned_by_job = any(
        ref.get("kind") == "Job" and ref.get("controller")
        for ref in pod["metadata"].get("ownerReferences") or []
    )
    return owned_by_job or pod.get("spec", {}).get("restartPolicy", "Always") in ("Never", "OnFailure")


def _condition(kind: str, ok: bool, since: datetime, reason: str | None = None) -> JsonObject:
    found: JsonObject = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": timestamp(since),
    }
    if reason is not None:
        found["reason"] = reason
    return found


def crash_restarts(elapsed: float) -> tuple[int, float, float]:
    """Restarts of a crash-looping container so far, when it last crashed (seconds after the pod
    started) and seconds to the next restart, with the kubelet's back-off: 10 s, doubling, at most
    5 minutes apart. The container crashes as soon as it starts, so each restart is also a crash."""
    count, at = 0, 0.0
    while True:
        following = at + min(CRASH_BACKOFF_FIRST_SECONDS * 2**count, CRASH_BACKOFF_MAX_SECONDS)
        if following > elapsed:
            return count, at, following - elapsed
        count, at = count + 1, following


def creating_status(pod: JsonObject, admitted: datetime) -> JsonObject:
    """The status while the containers are being created: Pending, scheduled and initialized, the
    containers waiting with reason ContainerCreating (no pod IP yet: the sandbox is not up)."""
    containers = pod.get("spec", {}).get("containers") or [{"name": "main", "image": ""}]
    names = [str(container.get("name", "main")) for container in containers]
    not_ready = f"containers with unready status: [{' '.join(names)}]"
    return {
        "phase": "Pending",
        "hostIP": POD_IP,
        "startTime": timestamp(admitted),
        "qosClass": "BestEffort",
        "conditions": [
            _condition("PodScheduled", True, admitted),
            _condition("Initialized", True, admitted),
            {**_condition("ContainersReady", False, admitted, "ContainersNotReady"), "message": not_ready},
            {**_condition("Ready", False, admitted, "ContainersNotReady"), "message": not_ready},
        ],
        "containerStatuses": [
            {
                "name": name,
                "image": container.get("image", ""),
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "lastState": {},
            }
            for name, container in zip(names, containers, strict=True)
        ],
    }


def pod_status(
    pod: JsonObject,
    behaviour: PodBehaviour,
    started: datetime,
    moment: datetime,
    admitted: datetime | None = None,
) -> tuple[JsonObject, float | None]:
    """The status a kubelet reports at `moment` for a pod admitted at `admitted` whose containers
    started at `started`, and when it next changes."""
    admitted = admitted or started
    containers = pod.get("spec", {}).get("containers") or [{"name": "main", "image": ""}]
    done_at = started + timedelta(seconds=behaviour.startup_seconds)
    finished = moment >= done_at
    remaining = None if finished else (done_at - moment).total_seconds()
    state: dict[str, Any]
    last_state: dict[str, Any] = {}
    restarts = 0
    if runs_to_completion(pod):
        failed = behaviour.exit_code != 0
        phase = ("Failed" if failed else "Succeeded") if finished else "Running"
        state = (
            {
                "terminated": {
                    "exitCode": behaviour.exit_code,
                    "reason": "Error" if failed else "Completed",
                    "startedAt": timestamp(started),
                    "finishedAt": timestamp(done_at),
                }
            }
            if finished
            else {"running": {"startedAt": timestamp(started)}}
        )
        ready, ready_since, reason = (
            not finished,
            done_at if finished else started,
            "PodCompleted" if finished else None,
        )
    elif behaviour.crash:
        restarts, crashed_after, remaining = crash_restarts((moment - started).total_seconds())
        phase, ready, ready_since, reason = "Running", False, started, "ContainersNotReady"
        crashed = timestamp(started + timedelta(seconds=crashed_after))
        state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off restarting failed container (SLIPWAY_DEMO_CRASH=1)",
            }
        }
        last_state = {
            "terminated": {"exitCode": 1, "reason": "Error", "startedAt": crashed, "finishedAt": crashed}
        }
    else:
        phase, ready = "Running", finished
        ready_since, reason = (done_at, None) if finished else (started, "ContainersNotReady")
        state = {"running": {"startedAt": timestamp(started)}}
    statuses = [
        {
            "name": container.get("name", "main"),
            "image": container.get("image", ""),
            "imageID": "",
            "containerID": f"sim://{pod['metadata'].get('uid', '')}/{index}",
            "ready": ready,
            "started": "running" in state,
            "restartCount": restarts,
            "state": state,
            "lastState": last_state,
        }
        for index, container in enumerate(containers)
    ]
    status = _running_pod_status(phase, admitted, "BestEffort", ready, ready_since, reason, statuses)
    return status, remaining


def _running_pod_status(
    phase: str,
    started: datetime,
    qos_class: str,
    ready: bool,
    ready_since: datetime,
    reason: str | None,
    statuses: list[JsonObject],
) -> JsonObject:
    """A pod's status once its containers were created: what a simulated and a process pod share."""
    return {
        "phase": phase,
        "hostIP": POD_IP,
        "podIP": POD_IP,
        "podIPs": [{"ip": POD_IP}],
        "startTime": timestamp(started),
        "qosClass": qos_class,
        "conditions": [
            _condition("PodScheduled", True, started),
            _condition("Initialized", True, started),
            _condition("ContainersReady", ready, ready_since, reason),
            _condition("Ready", ready, ready_since, reason),
        ],
        "containerStatuses": statuses,
    }


def process_status(pod: JsonObject, process: PodProcess, started: datetime) -> JsonObject:
    """The status of a pod whose container is a local process, from what its supervisor saw."""
    container = process.container
    state = process.status
    if process.finished is not None:
        phase = "Succeeded" if process.finished == 0 else "Failed"
    elif state.started_at is None:
        phase = "Pending"  # its volumes or token are not there yet
    else:
        phase = "Running"
    since = state.started_at or started
    reason = (
        None if state.ready else ("PodCompleted" if process.finished is not None else "ContainersNotReady")
    )
    statuses = [
        {
            "name": container.get("name", "main"),
            "image": container.get("image", ""),
            "imageID": "",
            "containerID": f"process://{pod['metadata'].get('uid', '')}/{state.restarts}",
            "ready": state.ready,
            "started": "running" in state.state,
            "restartCount": state.restarts,
            "state": state.state,
            "lastState": state.last_state,
        }
    ]
    return _running_pod_status(phase, started, "Burstable", state.ready, since, reason, statuses)


@dataclass
class RunningPod:
    """A pod this kubelet took: admitted (ContainerCreating), then its containers started, then maybe
    terminating (SIGTERM sent at `terminating_since`, a monotonic time)."""

    uid: str
    behaviour: PodBehaviour
    admitted: datetime
    started: datetime | None = None
    server: SimulatedPod | None = None
    logs: dict[str, LogBuffer] = field(default_factory=dict)
    terminating_since: float | None = None
    process: PodProcess | None = None
    stopping: asyncio.Task[None] | None = None  # the process's SIGTERM-to-exit, once the pod is deleted


class Kubelet:
    """Starts and stops simulated pods as Pod objects come and go, and reports their status."""

    def __init__(self, informers: Informers, processes: ProcessRunner | None = None) -> None:
        self.client = informers.client
        self.processes = processes
        # Processes of deleted pods, still within their grace period.
        self._stopping: dict[asyncio.Task[None], PodProcess] = {}
        self.pods = informers.get(PODS)
        self.running: dict[Key, RunningPod] = {}
        # The simulated pods' servers by port, for the gateway to hand requests to without a socket.
        self.servers: dict[int, SimulatedPod] = {}
        # Events are posted beside the pods' lifecycle, never in its way: a pod's status waits for none.
        self._posting: set[asyncio.Task[None]] = set()
        self.controller: Controller[Key] = Controller("kubelet", self.reconcile, workers=BUSY_WORKERS)
        # resourceVersions of this kubelet's own writes whose watch events have not come back yet
        self._own_writes: dict[Key, set[str]] = {}
        self.pods.subscribe(self._on_pod)

    def _on_pod(self, kind: str, pod: JsonObject) -> None:
        key = key_of(pod)
        own = self._own_writes.get(key)
        version = str(pod["metadata"].get("resourceVersion"))
        if kind != "DELETED" and own is not None and version in own:
            # The echo of a write of ours: the pass that made it has already planned what comes next.
            # With a thousand pods starting, these passes were a third of the kubelet's queue.
            own.discard(version)
            return
        self.controller.enqueue(key)

    def _wrote(self, key: Key, written: JsonObject | None) -> None:
        if written is not None:
            self._own_writes.setdefault(key, set()).add(str(written["metadata"].get("resourceVersion")))

    async def stop(self) -> None:
        await self.controller.stop()
        await cancel_all(list(self._posting))
        for running in self.running.values():
            for buffer in running.logs.values():
                buffer.close()
            if running.server is not None:
                await running.server.stop()
        self.servers.clear()
        # The cluster's stop: every process gets a short grace, all at once, and waits for none else.
        stops = [r.process.stop(SHUTDOWN_GRACE_SECONDS) for r in self.running.values() if r.process]
        for process in self._stopping.values():
            process.kill()
        await asyncio.gather(*stops, *self._stopping, return_exceptions=True)
        self.running.clear()
        if self.processes is not None:
            self.processes.cleanup()

    async def reconcile(self, key: Key) -> float | None:
        pod = self.pods.cache.get(key)
        running = self.running.get(key)
        if running is not None and (pod is None or pod["metadata"]["uid"] != running.uid):
            await self._halt(key)
            running = None
        if pod is None:
            return None
        if is_deleting(pod):
            return await self._terminate(key, pod, running)
        if running is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                return None  # a finished run is never restarted
            running = self._admit(key, pod)
        if running.started is None:
            creating_for = running.behaviour.creating_seconds - (now() - running.admitted).total_seconds()
            if creating_for > 0:
                self._wrote(key, await write_status(self.pods, pod, creating_status(pod, running.admitted)))
                return creating_for
            await self._start(pod, running)
        # The port goes out with the status (a pod's status write may carry annotations, as on a real
        # server): one write, not two, for each pod that starts.
        port_of = running.server or running.process
        port = None if port_of is None else str(port_of.port)
        unpublished = (pod["metadata"].get("annotations") or {}).get(SIM_PORT_ANNOTATION) != port
        annotations = {SIM_PORT_ANNOTATION: port} if port is not None and unpublished else None
        assert running.started is not None
        if running.process is not None:
            status, next_change = process_status(pod, running.process, running.started), None
        else:
            status, next_change = pod_status(pod, running.behaviour, running.started, now(), running.admitted)
        self._wrote(key, await write_status(self.pods, pod, status, annotations))
        if status["phase"] in ("Succeeded", "Failed"):
            await self._halt(key)
        return next_change

    def _admit(self, key: Key, pod: JsonObject) -> RunningPod:
        """Take the pod: its containers are created (ContainerCreating) before they run; a pod of the
        Slipway image starts its process at once (its supervisor reports the phases)."""
        if self.processes is not None and self.processes.runs(pod):
            running = RunningPod(pod["metadata"]["uid"], PodBehaviour(), now(), started=now())
            running.process = self.processes.process(pod, self.client, lambda: self.controller.enqueue(key))
            self.running[key] = running
            return running
        names = [str(c.get("name", "main")) for c in pod.get("spec", {}).get("containers") or [{}]]
        running = RunningPod(pod["metadata"]["uid"], PodBehaviour.from_pod(pod), now())
        running.logs = {name: LogBuffer() for name in names}
        self.running[key] = running
        return running

    async def _start(self, pod: JsonObject, running: RunningPod) -> None:
        """The containers start: a serving pod's HTTP server listens from now on."""
        behaviour = running.behaviour
        names = list(running.logs)
        if not runs_to_completion(pod) and not behaviour.crash:
            running.server = SimulatedPod(behaviour)
            await running.server.start()
            self.servers[running.server.port] = running.server
            running.logs[names[0]] = running.server.log  # the HTTP server is the first container's process
        elif behaviour.crash:
            running.logs[names[0]].write("crashing at start (SLIPWAY_DEMO_CRASH=1)")
        else:
            running.logs[names[0]].write(f"running to completion, exit code {behaviour.exit_code}")
        running.started = now()
        posting = asyncio.get_running_loop().create_task(self._post_started(pod, behaviour, running.started))
        self._posting.add(posting)
        posting.add_done_callback(self._posting.discard)

    async def _terminate(self, key: Key, pod: JsonObject, running: RunningPod | None) -> float | None:
        """A deleted pod: SIGTERM at once (its server takes no new connection), the process exits after
        SLIPWAY_DEMO_SHUTDOWN_SECONDS or is killed when the grace period ends, whichever is first; then
        the kubelet deletes the pod object for good (grace period 0), as a real kubelet does. A real
        process is waited for: its pod stays Terminating until it has exited (or was killed)."""
        grace = pod["metadata"].get("deletionGracePeriodSeconds") or 0
        if running is not None and grace:
            if running.terminating_since is None:
                running.terminating_since = time.monotonic()
                if running.server is not None:
                    running.server.stop_listening()
                if running.process is not None:
                    running.stopping = self._stop_process(running.process, float(grace))
                    running.stopping.add_done_callback(lambda _: self.controller.enqueue(key))
            if running.stopping is not None:
                if running.stopping.done():
                    await self._delete_for_good(key, pod)
                return None  # not done: enqueued again when the process has exited
            # containers still being created have no process to wait for
            exits_in = (
                0.0 if running.started is None else min(running.behaviour.shutdown_seconds, float(grace))
            )
            left = running.terminating_since + exits_in - time.monotonic()
            if left > 0:
                return left
        if grace:
            await self._delete_for_good(key, pod)
        else:
            await self._halt(key)
        return None

    async def _delete_for_good(self, key: Key, pod: JsonObject) -> None:
        """The containers have stopped: the pod object goes (grace period 0), as a real kubelet ends it."""
        await self._halt(key)
        answer = await self.client.delete(
            PODS, key[0], key[1], pod["metadata"]["uid"], grace_period_seconds=0
        )
        self.pods.record_deletion(pod, answer)

    async def _post_started(self, pod: JsonObject, behaviour: PodBehaviour, moment: datetime) -> None:
        """The Event `kubectl describe pod` lists: the container started, or is crash-looping."""
        container = str(((pod.get("spec", {}).get("containers") or [{}])[0]).get("name", "main"))
        if behaviour.crash:
            message = f"Back-off restarting failed container {container} in pod {pod['metadata']['name']}"
            posted = event(pod, "v1", "Pod", True, "BackOff", message, "kubelet", moment)
        else:
            posted = event(
                pod, "v1", "Pod", False, "Started", f"Started container {container}", "kubelet", moment
            )
        # Events are informative: losing one to an API error or a dropped connection holds nothing up.
        try:
            await self.client.create(EVENTS, pod["metadata"]["namespace"], posted)
        except Exception as error:
            log.debug("event for pod %s not posted: %r", pod["metadata"]["name"], error)

    def container_logs(self, namespace: str, pod: str) -> dict[str, LogBuffer] | None:
        running = self.running.get((namespace, pod))
        if running is not None and running.process is not None:
            return {str(running.process.container.get("name", "main")): running.process.log}
        return running.logs if running is not None else None

    async def _halt(self, key: Key) -> None:
        self._own_writes.pop(key, None)
        running = self.running.pop(key, None)
        for buffer in running.logs.values() if running is not None else ():
            buffer.close()
        if running is not None and running.server is not None:
            if self.servers.get(running.server.port) is running.server:  # a new pod may have its port
                del self.servers[running.server.port]
            await running.server.stop()
        if running is not None and running.process is not None and running.stopping is None:
            # SIGTERM, then up to the pod's grace period before SIGKILL: never in the kubelet's way.
            self._stop_process(running.process)

    def _stop_process(self, process: PodProcess, grace: float | None = None) -> asyncio.Task[None]:
        stopping = asyncio.get_running_loop().create_task(process.stop(grace))
        self._stopping[stopping] = process
        stopping.add_done_callback(lambda done: self._stopping.pop(done, None))
        return stopping

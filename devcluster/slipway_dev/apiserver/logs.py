"""GET pods/{name}/log: `kubectl logs`, answered from the simulated kubelet's container log buffers
with the query parameters and error messages of a real server."""

from __future__ import annotations

import time
from datetime import datetime

from aiohttp import web

from slipway_dev.apiserver.cluster import Cluster
from slipway_dev.apiserver.errors import bad_request
from slipway_dev.logs import LogSource


def _number(request: web.Request, name: str) -> int | None:
    text = request.query.get(name)
    if text is None:
        return None
    if not text.lstrip("-").isdigit():
        raise bad_request(f'{name}: Invalid value: "{text}": must be an integer')
    return int(text)


def _since(request: web.Request) -> float | None:
    seconds = _number(request, "sinceSeconds")
    if seconds is not None:
        if seconds < 1:
            raise bad_request(f"sinceSeconds: Invalid value: {seconds}: must be greater than 0")
        return time.time() - seconds
    stamp = request.query.get("sinceTime")
    if stamp:
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError as error:
            raise bad_request(f'sinceTime: Invalid value: "{stamp}"') from error
    return None


async def pod_logs(
    request: web.Request, cluster: Cluster, source: LogSource | None, namespace: str, name: str
) -> web.StreamResponse:
    pods = cluster.registry.lookup("", "v1", "pods")
    assert pods is not None
    pod = cluster.get(pods, namespace, name).obj
    containers = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or ()]
    container = request.query.get("container")
    if not container:
        if len(containers) != 1:
            raise bad_request(
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
            )
        container = containers[0]
    elif container not in containers:
        raise bad_request(f"container {container} is not valid for pod {name}")
    if request.query.get("previous", "").lower() == "true":
        raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
    buffers = source.container_logs(namespace, name) if source is not None else None
    buffer = (buffers or {}).get(container)
    if buffer is None:
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
    tail = _number(request, "tailLines")
    timestamps = request.query.get("timestamps", "").lower() == "true"
    lines, newest = buffer.snapshot(tail if tail is None or tail >= 0 else None, _since(request), timestamps)
    if request.query.get("follow", "").lower() != "true":
        return web.Response(text="".join(lines), content_type="text/plain")
    response = web.StreamResponse(headers={"Content-Type": "text/plain", "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    if lines:
        await response.write("".join(lines).encode())
    try:
        async for line in buffer.follow(newest, timestamps):
            await response.write(line.encode())
    except ConnectionResetError:
        pass
    return response

"""The endpoints controller: each Service with a selector gets an Endpoints object naming its pods.

All simulated pods share 127.0.0.1, so each pod is a subset of its own, with the port its server
listens on (annotation slipway.dev/sim-port): `kubectl get endpoints` and `kubectl describe service`
then show where the Service's traffic really goes. Pods not ready are `notReadyAddresses`, as
upstream; pods whose server is not up yet are left out. Services without a selector keep the
Endpoints their owner writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.devcluster.controllers.client import ENDPOINTS, PODS, SERVICES, JsonObject
from slipway.devcluster.controllers.runtime import Controller, Informers, Key, key_of
from slipway.devcluster.controllers.workloads import is_deleting, pod_is_ready
from slipway.devcluster.pods import SIM_PORT_ANNOTATION

POD_IP = "127.0.0.1"
# An Endpoints object lists every pod (1,000 pods: 150 KB): rewrite it at most once a second while
# pods churn, as upstream batches endpoint updates too. Nothing in the world routes by it.
GATHER_SECONDS = 1.0


def endpoint_subsets(service: JsonObject, pods: Sequence[JsonObject]) -> list[JsonObject]:
    selector = service.get("spec", {}).get("selector") or {}
    namespace = service["metadata"].get("namespace")
    service_ports = service.get("spec", {}).get("ports") or []
    port_name = service_ports[0].get("name") if len(service_ports) == 1 else None
    subsets = []
    for pod in sorted(pods, key=lambda pod: str(pod["metadata"]["name"])):
        meta = pod["metadata"]
        port = (meta.get("annotations") or {}).get(SIM_PORT_ANNOTATION)
        if meta.get("namespace") != namespace or is_deleting(pod) or not port:
            continue
        if not selector.items() <= (meta.get("labels") or {}).items():
            continue
        address = {
            "ip": POD_IP,
            "targetRef": {
                "kind": "Pod",
                "namespace": namespace,
                "name": meta["name"],
                "uid": meta.get("uid"),
            },
        }
        endpoint_port: JsonObject = {"port": int(port), "protocol": "TCP"}
        if port_name:
            endpoint_port["name"] = port_name
        addresses = "addresses" if pod_is_ready(pod) else "notReadyAddresses"
        subsets.append({addresses: [address], "ports": [endpoint_port]})
    return subsets


class EndpointsController:
    def __init__(self, informers: Informers) -> None:
        self.client = informers.client
        self.services = informers.get(SERVICES)
        self.pods = informers.get(PODS)
        self.endpoints = informers.get(ENDPOINTS)
        self.controller: Controller[Key] = Controller(
            "endpoints", self.reconcile, workers=2, gather_seconds=GATHER_SECONDS
        )
        self.services.subscribe(lambda _kind, obj: self.controller.enqueue(key_of(obj)))
        self.pods.subscribe(self._on_pod)

    def _on_pod(self, _kind: str, pod: JsonObject) -> None:
        # Labels may have changed, so every Service of the namespace is recounted (there are few).
        namespace = pod["metadata"].get("namespace")
        for key in list(self.services.cache):
            if key[0] == namespace:
                self.controller.enqueue(key)

    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        service = self.services.cache.get(key)
        existing = self.endpoints.cache.get(key)
        if service is None:
            if existing is not None:
                await self.client.delete(ENDPOINTS, namespace, name, existing["metadata"]["uid"])
                self.endpoints.record_delete(existing)
            return None
        if not (service.get("spec", {}).get("selector") or {}):
            return None
        subsets = endpoint_subsets(service, self.pods.objects())
        if existing is None:
            body = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict(service["metadata"].get("labels") or {}),
                },
                "subsets": subsets,
            }
            self.endpoints.record_write(await self.client.create(ENDPOINTS, namespace, body))
        elif (existing.get("subsets") or []) != subsets:
            patched = await self.client.patch(ENDPOINTS, namespace, name, {"subsets": subsets or None})
            if patched is not None:
                self.endpoints.record_write(patched)
        return None

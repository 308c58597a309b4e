"""Gateway API routing: exact weights on an HTTPRoute the Release owns.

The HTTPRoute `<name>` sends `100 - w` percent to the Service `<name>` (stable revision only) and `w`
percent to `<name>-canary` (canary revision only), through the Gateways in `parentRefs`. Unlike the
replica ratio, the weight is exact whatever the pod counts; a rollback is one write of the weights.
"""

from __future__ import annotations

from slipway.api.models import GatewayAPIRouting
from slipway.manifests import Obj, ReleaseRef, owned_metadata
from slipway.routers.base import ServicePorts, TrafficSplit, revision_services

GROUP_VERSION = "gateway.networking.k8s.io/v1"


class GatewayApiRouter:
    name = "gatewayAPI"

    def __init__(self, routing: GatewayAPIRouting) -> None:
        self._routing = routing

    def plan(self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts) -> tuple[Obj, ...]:
        canary_weight = split.canary_weight if split.canary is not None else 0
        backends = [
            {
                "group": "",
                "kind": "Service",
                "name": release.stable_service,
                "port": ports.port,
                "weight": 100 - canary_weight,
            },
            {
                "group": "",
                "kind": "Service",
                "name": release.canary_service,
                "port": ports.port,
                "weight": canary_weight,
            },
        ]
        route: Obj = {
            "apiVersion": GROUP_VERSION,
            "kind": "HTTPRoute",
            "metadata": owned_metadata(release, release.name),
            "spec": {
                "parentRefs": [
                    ref.model_dump(by_alias=True, exclude_none=True) for ref in self._routing.parent_refs
                ],
                "hostnames": list(self._routing.hostnames),
                "rules": [{"backendRefs": backends}],
            },
        }
        return (*revision_services(release, split, ports), route)

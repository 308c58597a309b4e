"""Istio routing: exact weights on a VirtualService the Release owns.

The VirtualService `<name>` (networking.istio.io/v1) for `hosts` (through `gateways`, or the mesh when
none) has one HTTP route with two destinations: the Service `<name>` (stable revision only) weighted
`100 - w` and `<name>-canary` (canary revision only) weighted `w`.
"""

from __future__ import annotations

from slipway.api.models import IstioRouting
from slipway.manifests import Obj, ReleaseRef, owned_metadata
from slipway.routers.base import ServicePorts, TrafficSplit, revision_services

API_VERSION = "networking.istio.io/v1"


class IstioRouter:
    name = "istio"

    def __init__(self, routing: IstioRouting) -> None:
        self._routing = routing

    def plan(self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts) -> tuple[Obj, ...]:
        canary_weight = split.canary_weight if split.canary is not None else 0
        destinations = [
            (release.stable_service, 100 - canary_weight),
            (release.canary_service, canary_weight),
        ]
        spec: Obj = {
            "hosts": list(self._routing.hosts),
            "http": [
                {
                    "route": [
                        {"destination": {"host": host, "port": {"number": ports.port}}, "weight": weight}
                        for host, weight in destinations
                    ]
                }
            ],
        }
        if self._routing.gateways:
            spec["gateways"] = list(self._routing.gateways)
        virtual_service = {
            "apiVersion": API_VERSION,
            "kind": "VirtualService",
            "metadata": owned_metadata(release, release.name),
            "spec": spec,
        }
        return (*revision_services(release, split, ports), virtual_service)

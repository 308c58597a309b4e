"""Istio routing: exact weights on a VirtualService the Release owns.

The VirtualService `<name>` (networking.istio.io/v1) for `hosts` (through `gateways`, or the mesh when
none) has one HTTP route with two destinations: the Service `<name>` (stable revision only) weighted
`100 - w` and `<name>-canary` (canary revision only) weighted `w`.
"""

from __future__ import annotations

from pydantic import Field

from slipway.api.models import MAX_NAMES, ApiModel, Hostname, NonEmptyName
from slipway.manifests import Obj, ReleaseRef, owned_metadata
from slipway.rbac import Rule
from slipway.routers.base import RouterPlugin, ServicePorts, TrafficSplit, revision_services

GROUP = "networking.istio.io"
API_VERSION = f"{GROUP}/v1"


class IstioRouting(ApiModel):
    """Split traffic with weights on an Istio VirtualService the operator owns."""

    hosts: list[Hostname] = Field(min_length=1, max_length=MAX_NAMES, description="VirtualService hosts.")
    gateways: list[NonEmptyName] = Field(
        default_factory=list, max_length=MAX_NAMES, description="Istio Gateways; empty: the mesh only."
    )


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


PLUGIN = RouterPlugin(
    key="istio",
    spec=IstioRouting,
    build=IstioRouter,
    collections={"VirtualService": f"/apis/{API_VERSION}/namespaces/{{namespace}}/virtualservices"},
    rules=(Rule(GROUP, "virtualservices", ("get", "create", "patch")),),
)

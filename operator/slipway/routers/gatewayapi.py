"""Gateway API routing: exact weights on an HTTPRoute the Release owns.

The HTTPRoute `<name>` sends `100 - w` percent to the Service `<name>` (stable revision only) and `w`
percent to `<name>-canary` (canary revision only), through the Gateways in `parentRefs`. Unlike the
replica ratio, the weight is exact whatever the pod counts; a rollback is one write of the weights.
"""

from __future__ import annotations

from pydantic import Field

from slipway.api.models import ApiModel, DnsLabel, Hostname, NonEmptyName, Port
from slipway.manifests import Obj, ReleaseRef, owned_metadata
from slipway.rbac import Rule
from slipway.routers.base import RouterPlugin, ServicePorts, TrafficSplit, revision_services

GROUP = "gateway.networking.k8s.io"
GROUP_VERSION = f"{GROUP}/v1"


class ParentReference(ApiModel):
    """A Gateway (or a listener of one) the HTTPRoute attaches to."""

    name: NonEmptyName = Field(description="Name of the Gateway.")
    namespace: DnsLabel | None = Field(
        default=None, description="Namespace of the Gateway; default: the Release's."
    )
    section_name: DnsLabel | None = Field(default=None, description="Listener of the Gateway to attach to.")
    port: Port | None = Field(default=None, description="Port of the Gateway to attach to.")


class GatewayAPIRouting(ApiModel):
    """Split traffic with weights on an HTTPRoute (gateway.networking.k8s.io) the operator owns."""

    parent_refs: list[ParentReference] = Field(
        min_length=1, max_length=32, description="Gateways the HTTPRoute attaches to."
    )
    hostnames: list[Hostname] = Field(
        default_factory=list, max_length=16, description="Hostnames the HTTPRoute matches; empty: all."
    )


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


PLUGIN = RouterPlugin(
    key="gatewayAPI",
    spec=GatewayAPIRouting,
    build=GatewayApiRouter,
    collections={"HTTPRoute": f"/apis/{GROUP_VERSION}/namespaces/{{namespace}}/httproutes"},
    rules=(Rule(GROUP, "httproutes", ("get", "create", "patch")),),
)

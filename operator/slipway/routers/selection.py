"""Which router realises a Release's traffic split: its `trafficRouting`, or the replica ratio."""

from __future__ import annotations

from slipway.api.models import TrafficRouting
from slipway.manifests import Obj, ReleaseRef
from slipway.routers.base import Router, ServicePorts, TrafficSplit
from slipway.routers.gatewayapi import GatewayApiRouter
from slipway.routers.istio import IstioRouter
from slipway.routers.nginx import NginxRouter
from slipway.routers.replicas import ReplicaRouter


class CombinedRouter:
    """Several traffic routers kept in step (`trafficRouting` may name more than one); the Services
    they all route to appear once."""

    name = "combined"

    def __init__(self, routers: list[Router]) -> None:
        self._routers = routers

    def plan(self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts) -> tuple[Obj, ...]:
        objects: dict[tuple[str, str], Obj] = {}
        for router in self._routers:
            for obj in router.plan(release, split, ports):
                objects[(obj["kind"], obj["metadata"]["name"])] = obj
        return tuple(objects.values())


def router_for(routing: TrafficRouting | None) -> Router:
    if routing is None:
        return ReplicaRouter()
    routers: list[Router] = []
    if routing.gateway_api is not None:
        routers.append(GatewayApiRouter(routing.gateway_api))
    if routing.istio is not None:
        routers.append(IstioRouter(routing.istio))
    if routing.nginx is not None:
        routers.append(NginxRouter(routing.nginx))
    return routers[0] if len(routers) == 1 else CombinedRouter(routers)

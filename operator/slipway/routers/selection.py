"""Which router realises a Release's traffic split: its `trafficRouting`, or the replica ratio."""

from __future__ import annotations

from slipway.api.models import TrafficRouting
from slipway.routers.base import Router
from slipway.routers.gatewayapi import GatewayApiRouter
from slipway.routers.replicas import ReplicaRouter


class UnsupportedRoutingError(ValueError):
    """The Release asks for a router this operator does not have; it is not rolled out."""


def router_for(routing: TrafficRouting | None) -> Router:
    if routing is None:
        return ReplicaRouter()
    missing = [name for name, wanted in (("istio", routing.istio), ("nginx", routing.nginx)) if wanted]
    if missing:
        raise UnsupportedRoutingError(
            f"trafficRouting.{missing[0]} is not implemented by this operator yet; use gatewayAPI or no"
            " trafficRouting (replica ratio)"
        )
    assert routing.gateway_api is not None  # the model requires at least one router
    return GatewayApiRouter(routing.gateway_api)

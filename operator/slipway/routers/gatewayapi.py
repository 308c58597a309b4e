"""Gateway API routing: exact weights on an HTTPRoute the Release owns.

The HTTPRoute `<name>` sends `100 - w` percent to the Service `<name>` (stable revision only) and `w`
percent to `<name>-canary` (canary revision only), through the Gateways in `parentRefs`. Unlike the
replica ratio, the weight is exact whatever the pod counts; a rollback is one write of the weights.

Each match route is one more rule before the weighted one, sending to `<name>-canary` the requests
whose `matches[].headers` (Exact or RegularExpression) all match; a cookie is a match on the Cookie
header (`cookie_pattern`). A mirror is a `RequestMirror` filter with `percent` on the weighted rule.
"""

from __future__ import annotations

from pydantic import Field

from slipway.api.models import ApiModel, CanaryRoute, DnsLabel, Hostname, NonEmptyName, Port, ValueMatch
from slipway.manifests import Obj, ReleaseRef, owned_metadata
from slipway.rbac import Rule
from slipway.routers.base import (
    Capabilities,
    RouterPlugin,
    ServicePorts,
    TrafficSplit,
    cookie_pattern,
    revision_services,
)

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


def _backend(name: str, port: int) -> Obj:
    return {"group": "", "kind": "Service", "name": name, "port": port}


def _header(name: str, value: ValueMatch) -> Obj:
    if value.regex is not None:
        return {"type": "RegularExpression", "name": name, "value": value.regex}
    return {"type": "Exact", "name": name, "value": value.exact}


def _match_rule(route: CanaryRoute, canary: Obj) -> Obj:
    headers = [_header(name, value) for name, value in route.match.headers.items()]
    cookie = route.match.cookie
    if cookie is not None:
        pattern = ValueMatch(regex=cookie_pattern(cookie.name, cookie.value))
        headers.append(_header("Cookie", pattern))
    return {"matches": [{"headers": headers}], "backendRefs": [canary]}


class GatewayApiRouter:
    name = "gatewayAPI"
    # An HTTPRoute holds at most 16 rules (one is the weighted rule) and 16 headers per match.
    capabilities = Capabilities(match_routes=15, conditions=16, regex=True, mirror=True)

    def __init__(self, routing: GatewayAPIRouting) -> None:
        self._routing = routing

    def plan(self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts) -> tuple[Obj, ...]:
        canary_weight = split.canary_weight if split.canary is not None else 0
        canary = _backend(release.canary_service, ports.port)
        backends = [
            {**_backend(release.stable_service, ports.port), "weight": 100 - canary_weight},
            {**canary, "weight": canary_weight},
        ]
        weighted: Obj = {"backendRefs": backends}
        if split.mirror_percent:
            mirror = {"backendRef": canary, "percent": split.mirror_percent}
            weighted["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
        rules = [*(_match_rule(route, canary) for route in split.routes), weighted]
        route: Obj = {
            "apiVersion": GROUP_VERSION,
            "kind": "HTTPRoute",
            "metadata": owned_metadata(release, release.name),
            "spec": {
                "parentRefs": [
                    ref.model_dump(by_alias=True, exclude_none=True) for ref in self._routing.parent_refs
                ],
                "hostnames": list(self._routing.hostnames),
                "rules": rules,
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

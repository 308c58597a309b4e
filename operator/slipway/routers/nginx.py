"""ingress-nginx routing: a main Ingress to the stable Service and a canary Ingress with a weight.

Both Ingresses (networking.k8s.io/v1, class `ingressClassName`) serve `host`. `<name>` sends to the
Service `<name>` (stable revision only); `<name>-canary` carries `nginx.ingress.kubernetes.io/canary:
"true"` and `canary-weight: w` and sends to `<name>-canary` (canary revision only), so ingress-nginx
gives the canary w percent of the host's requests.

A match route becomes `canary-by-header` with `canary-by-header-value` (exact) or
`canary-by-header-pattern` (regex), or `canary-by-cookie` (the cookie set to `always`): ingress-nginx
reads one header or one cookie per canary Ingress, so it holds one match route of one condition.
It has no weighted mirror (its `mirror-target` copies every request), so setMirror is refused.
"""

from __future__ import annotations

from pydantic import Field

from slipway.api.models import ApiModel, Hostname, NonEmptyName
from slipway.manifests import Obj, ReleaseRef, owned_metadata
from slipway.rbac import Rule
from slipway.routers.base import Capabilities, RouterPlugin, ServicePorts, TrafficSplit, revision_services

GROUP = "networking.k8s.io"


class NginxRouting(ApiModel):
    """Split traffic with a canary Ingress (ingress-nginx canary-weight annotation) the operator owns."""

    ingress_class_name: NonEmptyName = Field(default="nginx", description="IngressClass of both Ingresses.")
    host: Hostname = Field(description="Host the Ingresses serve.")


CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
BY_HEADER = "nginx.ingress.kubernetes.io/canary-by-header"
BY_HEADER_VALUE = "nginx.ingress.kubernetes.io/canary-by-header-value"
BY_HEADER_PATTERN = "nginx.ingress.kubernetes.io/canary-by-header-pattern"
BY_COOKIE = "nginx.ingress.kubernetes.io/canary-by-cookie"
# ingress-nginx sends a request whose canary cookie holds this value to the canary.
COOKIE_ALWAYS = "always"


class NginxRouter:
    name = "nginx"
    capabilities = Capabilities(
        match_routes=1, conditions=1, regex=True, cookie_values=frozenset({COOKIE_ALWAYS})
    )

    def __init__(self, routing: NginxRouting) -> None:
        self._routing = routing

    def _ingress(self, release: ReleaseRef, name: str, service: str, port: int) -> Obj:
        backend = {"service": {"name": service, "port": {"number": port}}}
        return {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Ingress",
            "metadata": owned_metadata(release, name),
            "spec": {
                "ingressClassName": self._routing.ingress_class_name,
                "rules": [
                    {
                        "host": self._routing.host,
                        "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                    }
                ],
            },
        }

    def plan(self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts) -> tuple[Obj, ...]:
        canary_weight = split.canary_weight if split.canary is not None else 0
        main = self._ingress(release, release.name, release.stable_service, ports.port)
        canary = self._ingress(release, release.canary_service, release.canary_service, ports.port)
        annotations = {CANARY: "true", CANARY_WEIGHT: str(canary_weight)}
        for route in split.routes[-1:]:  # one at most: refused otherwise (capabilities)
            cookie = route.match.cookie
            for name, value in route.match.headers.items():
                annotations[BY_HEADER] = name
                if value.regex is not None:
                    # ingress-nginx finds the pattern anywhere in the value; the API matches it whole.
                    annotations[BY_HEADER_PATTERN] = f"^(?:{value.regex})$"
                else:
                    annotations[BY_HEADER_VALUE] = value.exact or ""
            if cookie is not None:
                annotations[BY_COOKIE] = cookie.name
        canary["metadata"]["annotations"] = annotations
        return (*revision_services(release, split, ports), main, canary)


PLUGIN = RouterPlugin(
    key="nginx",
    spec=NginxRouting,
    build=NginxRouter,
    collections={"Ingress": f"/apis/{GROUP}/v1/namespaces/{{namespace}}/ingresses"},
    rules=(Rule(GROUP, "ingresses", ("get", "create", "patch")),),
)

"""Exact weights through the routing objects a Release owns: HTTPRoute, VirtualService, canary Ingress."""

from __future__ import annotations

from typing import Any

from e2e_support import E2E, ROOT, Cluster, Operator, release_manifest, wait_for

pytestmark = E2E

CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"

GATEWAY_API = {"gatewayAPI": {"parentRefs": [{"name": "public"}], "hostnames": ["web.example.com"]}}
MESH_AND_INGRESS = {"istio": {"hosts": ["web"]}, "nginx": {"host": "web.example.com"}}
ROUTING_CRDS = ROOT / "devcluster" / "slipway_dev" / "data" / "routing-crds.yaml"


def routed(
    version: str, routing: dict[str, Any], steps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    manifest = release_manifest(version, steps=steps)
    manifest["spec"]["trafficRouting"] = routing
    return manifest


def served_through(cluster: Cluster, entry: str) -> int:
    stats = cluster.dev.gateway_stats().get(entry)
    return stats.by_code.get(200, 0) if stats else 0


def weights(cluster: Cluster) -> dict[str, int]:
    route = cluster.dev.kubectl_json("get", "httproute", "web")
    return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}


def test_http_route_weights_follow_the_steps(cluster: Cluster, operator: Operator) -> None:
    cluster.write("apply", "-f", str(ROUTING_CRDS))
    cluster.apply(routed("1", GATEWAY_API))
    v1 = cluster.wait_phase("Healthy", "1", timeout=30)["stable"]["revision"]
    route = cluster.dev.kubectl_json("get", "httproute", "web")
    assert route["spec"]["parentRefs"] == [{"name": "public"}]
    assert route["metadata"]["ownerReferences"][0]["kind"] == "Release"
    assert weights(cluster) == {"web": 100, "web-canary": 0}

    cluster.apply(routed("2", GATEWAY_API, steps=[{"setWeight": 20}, {"pause": {}}]))
    wait_for(lambda: weights(cluster) == {"web": 80, "web-canary": 20}, 30, "weights 80/20 on the HTTPRoute")
    v2 = cluster.status()["canary"]["revision"]
    assert cluster.service("web")["spec"]["selector"]["slipway.dev/revision"] == v1
    assert cluster.service("web-canary")["spec"]["selector"]["slipway.dev/revision"] == v2

    cluster.write("annotate", "release", "web", "slipway.dev/promote-full=now")
    cluster.wait_phase("Healthy", "2", timeout=30)
    assert weights(cluster) == {"web": 100, "web-canary": 0}
    assert cluster.service("web")["spec"]["selector"]["slipway.dev/revision"] == v2

    wait_for(lambda: served_through(cluster, "httproute/default/web"), 30, "requests through the HTTPRoute")


def test_virtual_service_and_canary_ingress_kept_in_step(cluster: Cluster, operator: Operator) -> None:
    cluster.write("apply", "-f", str(ROUTING_CRDS))
    cluster.apply(routed("1", MESH_AND_INGRESS))
    cluster.wait_phase("Healthy", "1", timeout=30)
    cluster.apply(routed("2", MESH_AND_INGRESS, steps=[{"setWeight": 30}, {"pause": {}}]))

    def split_everywhere() -> bool:
        virtual_service = cluster.dev.kubectl_json("get", "virtualservice", "web")
        mesh = [(r["destination"]["host"], r["weight"]) for r in virtual_service["spec"]["http"][0]["route"]]
        canary = cluster.dev.kubectl_json("get", "ingress", "web-canary")["metadata"]["annotations"]
        return mesh == [("web", 70), ("web-canary", 30)] and canary.get(CANARY_WEIGHT) == "30"

    wait_for(split_everywhere, 30, "weight 30 on the VirtualService and the canary Ingress")
    main = cluster.dev.kubectl_json("get", "ingress", "web")
    assert main["spec"]["rules"][0]["host"] == "web.example.com"
    assert CANARY_WEIGHT not in (main["metadata"].get("annotations") or {})
    for entry in ("virtualservice/default/web", "ingress/default/web.example.com"):
        wait_for(lambda entry=entry: served_through(cluster, entry), 30, f"requests through {entry}")

    cluster.write("annotate", "release", "web", "slipway.dev/abort=now")
    cluster.wait_phase("Degraded", "1", timeout=30)
    canary = cluster.dev.kubectl_json("get", "ingress", "web-canary")["metadata"]["annotations"]
    assert canary[CANARY_WEIGHT] == "0"

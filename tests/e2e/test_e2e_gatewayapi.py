"""Exact weights through a Gateway API HTTPRoute the Release owns (trafficRouting.gatewayAPI)."""

from __future__ import annotations

from typing import Any

from e2e_support import E2E, ROOT, Cluster, Operator, release_manifest, wait_for

pytestmark = E2E

ROUTING = {"gatewayAPI": {"parentRefs": [{"name": "public"}], "hostnames": ["web.example.com"]}}


def routed(version: str, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    manifest = release_manifest(version, steps=steps)
    manifest["spec"]["trafficRouting"] = ROUTING
    return manifest


def weights(cluster: Cluster) -> dict[str, int]:
    route = cluster.dev.kubectl_json("get", "httproute", "web")
    return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}


def test_http_route_weights_follow_the_steps(cluster: Cluster, operator: Operator) -> None:
    cluster.write("apply", "-f", str(ROOT / "tests" / "e2e" / "httproute-crd.yaml"))
    cluster.apply(routed("1"))
    v1 = cluster.wait_phase("Healthy", "1", timeout=30)["stable"]["revision"]
    route = cluster.dev.kubectl_json("get", "httproute", "web")
    assert route["spec"]["parentRefs"] == [{"name": "public"}]
    assert route["metadata"]["ownerReferences"][0]["kind"] == "Release"
    assert weights(cluster) == {"web": 100, "web-canary": 0}

    cluster.apply(routed("2", steps=[{"setWeight": 20}, {"pause": {}}]))
    wait_for(lambda: weights(cluster) == {"web": 80, "web-canary": 20}, 30, "weights 80/20 on the HTTPRoute")
    v2 = cluster.status()["canary"]["revision"]
    assert cluster.service("web")["spec"]["selector"]["slipway.dev/revision"] == v1
    assert cluster.service("web-canary")["spec"]["selector"]["slipway.dev/revision"] == v2

    cluster.write("annotate", "release", "web", "slipway.dev/promote-full=now")
    cluster.wait_phase("Healthy", "2", timeout=30)
    assert weights(cluster) == {"web": 100, "web-canary": 0}
    assert cluster.service("web")["spec"]["selector"]["slipway.dev/revision"] == v2

    def route_traffic() -> int:
        stats = cluster.dev.gateway_stats().get("httproute/default/web")
        return stats.by_code.get(200, 0) if stats else 0

    wait_for(route_traffic, 30, "the gateway sending requests through the HTTPRoute")

"""Issue 13: only the Release's own pods get its traffic. A Deployment someone else runs, whose pods
carry `slipway.dev/release=web`, answers not one request through the Release's Services at any
weight of a canary (the dev cluster's gateway sends real requests; each pod logs the ones it serves),
while the Release's pods answer all of them."""

from __future__ import annotations

from e2e_support import E2E, Cluster, Operator, first_release, release_manifest, wait_for

pytestmark = E2E

DECOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "decoy"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "decoy"}},
        "template": {
            "metadata": {"labels": {"app": "decoy", "slipway.dev/release": "web"}},
            "spec": {"containers": [{"name": "app", "image": "demo/web:decoy"}]},
        },
    },
}


def served(cluster: Cluster, selector: str) -> int:
    """Requests the pods matching `selector` have answered (their access logs)."""
    pods = cluster.json("get", "pods", "-l", selector)["items"]
    return sum(
        cluster.kubectl("logs", pod["metadata"]["name"]).stdout.count('"GET / HTTP/1.1"') for pod in pods
    )


def test_a_decoy_with_the_release_label_gets_no_request_at_any_weight(
    cluster: Cluster, operator: Operator
) -> None:
    first_release(cluster)
    cluster.apply(DECOY)
    cluster.kubectl("rollout", "status", "deployment/decoy", "--timeout=30s")
    steps = [{"setWeight": weight} for weight in (10, 50, 90)]
    steps = [step for set_weight in steps for step in (set_weight, {"pause": {"duration": "2s"}})]
    cluster.apply(release_manifest("2", steps=steps))
    weights: set[int] = set()

    def promoted() -> bool:
        status = cluster.status()
        weights.add((status.get("canary") or {}).get("weight", 0))
        return status.get("phase") == "Healthy" and status["stable"]["version"] == "2"

    wait_for(promoted, 60, "version 2 promoted through every weight")
    assert {10, 50, 90} <= weights, weights
    stable = cluster.status()["stable"]["revision"]

    def only_stable_pods() -> bool:  # version 1 is kept for undo at zero replicas: its pods go
        pods = cluster.json("get", "pods", "-l", "app.kubernetes.io/managed-by=slipway")["items"]
        return all(pod["metadata"]["labels"].get("slipway.dev/revision") == stable for pod in pods)

    wait_for(only_stable_pods, 30, "version 1 scaled to zero")
    own = served(cluster, "app.kubernetes.io/managed-by=slipway")
    assert own > 0, "the gateway sent the Release's pods no load"
    assert served(cluster, "app=decoy") == 0

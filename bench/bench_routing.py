"""Routing beyond weights (issue 15), for each router: the share of matching requests that reached the
canary (target 100 %) and the error of the mirrored share at 5 %, 20 % and 50 %.

One dev cluster (routing CRDs served, no generated load) and the real operator; one Release per router,
each in its own namespace with its own host, rolled from version 1 to 2 with
`setCanaryRoute {x-canary: true}`, then `setMirror` 5, 20 and 50 each followed by a pause until
promoted (the canary weight stays 0). Requests go through the front door (127.0.0.1, by Host header):
- matching: requests with `x-canary: true`, counted by the `X-Slipway-Version` of their answers;
- mirrored: requests without it (all answered by stable), against the requests the canary's own pods
  counted meanwhile (their http_requests_total): the copies the routing mirrored, as the canary's
  metrics see them. Error: measured share minus the setMirror percent, in points.
NGINX has no weighted mirror: its Release with a setMirror step is refused, and the reason is printed.
Prints the figures; not a test.
"""

from __future__ import annotations

import argparse
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import yaml

from bench_operator import wait_for
from slipway_dev.cluster import DevCluster
from slipway_dev.pods import VERSION_HEADER

POLL = 0.1  # seconds between probes: each is a kubectl run or HTTP requests
PERCENTS = (5, 20, 50)
TESTERS = {"name": "testers", "match": {"headers": {"x-canary": {"exact": "true"}}}}
ROUTERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "gatewayAPI": lambda host: {"gatewayAPI": {"parentRefs": [{"name": "public"}], "hostnames": [host]}},
    "istio": lambda host: {"istio": {"hosts": [host]}},
    "nginx": lambda host: {"nginx": {"host": host}},
}


def host_of(router: str) -> str:
    return f"web.{router.lower()}.example"


def steps(router: str) -> list[dict[str, Any]]:
    """The route, then (where the router can mirror) each percent held until promoted."""
    plan: list[dict[str, Any]] = [{"setCanaryRoute": TESTERS}, {"pause": {}}]
    for percent in PERCENTS if router != "nginx" else ():
        plan += [{"setMirror": {"percent": percent}}, {"pause": {}}]
    return plan


def release(
    namespace: str, name: str, version: str, routing: dict[str, Any], plan: list[dict[str, Any]]
) -> str:
    env = [
        {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0"},
        {"name": "SLIPWAY_DEMO_LATENCY_MS", "value": "0"},
    ]
    body = {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "version": version,
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "app", "image": f"demo:{version}", "env": env}]}},
            "service": {"port": 80, "targetPort": 8080},
            "trafficRouting": routing,
            "strategy": {"canary": {"steps": plan}},
        },
    }
    return yaml.safe_dump_all(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, body]
    )


def status(cluster: DevCluster, namespace: str, name: str = "web") -> dict[str, Any]:
    found: dict[str, Any] = cluster.kubectl_json("get", "release", name, "-n", namespace).get("status") or {}
    return found


def at(cluster: DevCluster, namespace: str, phase: str, step: int | None = None) -> dict[str, Any] | None:
    found = status(cluster, namespace)
    wanted = found.get("phase") == phase and (step is None or found.get("currentStep") == step)
    return found if wanted else None


def answered_by(cluster: DevCluster, host: str, headers: dict[str, str]) -> str:
    request = urllib.request.Request(cluster.gateway_url + "/", headers={"Host": host, **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(answer.headers.get(VERSION_HEADER, ""))
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"


def versions(cluster: DevCluster, host: str, times: int, **headers: str) -> Counter[str]:
    return Counter(answered_by(cluster, host, headers) for _ in range(times))


def canary_counted(cluster: DevCluster, namespace: str) -> int:
    """Requests the canary's (version 2) pods have counted in their own metrics."""
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app.kubernetes.io/version=2")["items"]
    total = 0.0
    for pod in pods:
        port = pod["metadata"].get("annotations", {}).get("slipway.dev/sim-port")
        if port is None:
            continue
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            lines = answer.read().decode().splitlines()
        total += sum(float(line.split()[-1]) for line in lines if line.startswith("http_requests_total{"))
    return int(total)


def mirrored_share(cluster: DevCluster, namespace: str, host: str, requests: int) -> float:
    """Requests without the header; the share the canary counted (copies are sent beside the answer,
    so they are waited for until the count stays the same for a second)."""
    before = canary_counted(cluster, namespace)
    answers = versions(cluster, host, requests)
    if set(answers) != {"1"}:
        raise SystemExit(f"{host}: a client saw {dict(answers)}, not stable alone")
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 1.0:
        counted = canary_counted(cluster, namespace)
        if counted != last:
            last, since = counted, time.monotonic()
        time.sleep(0.1)
    return (last - before) / requests


def promote(cluster: DevCluster, namespace: str, token: int) -> None:
    cluster.kubectl(
        "annotate", "--overwrite", "release", "web", "-n", namespace, f"slipway.dev/promote={token}"
    )


def run(requests: int, matching: int) -> None:
    with DevCluster(operator=True, routing_crds=True, rps=0, prometheus="off", alertmanager="off") as cluster:
        for version in ("1", "2"):
            for router, routing in ROUTERS.items():
                manifest = release(router.lower(), "web", version, routing(host_of(router)), steps(router))
                cluster.kubectl("apply", "-f", "-", input=manifest)
            if version == "1":
                for router in ROUTERS:
                    wait_for(
                        partial(at, cluster, router.lower(), "Healthy"), 60, f"{router}: version 1", POLL
                    )
        mirrored = steps("gatewayAPI")
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            input=release("nginx", "mirrored", "2", ROUTERS["nginx"]("m.example"), mirrored),
        )
        for router in ROUTERS:
            print(measure(cluster, router, requests, matching), flush=True)


def measure(cluster: DevCluster, router: str, requests: int, matching: int) -> str:
    namespace, host = router.lower(), host_of(router)
    wait_for(partial(at, cluster, namespace, "Paused", 1), 60, f"{router}: the match route in place", POLL)
    tester = {"x-canary": "true"}

    def route_in_use() -> bool:  # the gateway follows the cluster through its informers
        return versions(cluster, host, 5, **tester) == Counter({"2": 5})

    wait_for(route_in_use, 30, f"{router}: the match route in use", POLL)
    answers = versions(cluster, host, matching, **tester)
    line = f"{router}: matching requests to the canary {answers['2']}/{matching}"
    line += f" ({100 * answers['2'] / matching:.1f} %)"
    shares = []
    for number, percent in enumerate(PERCENTS if router != "nginx" else ()):
        promote(cluster, namespace, number)
        wait_for(
            partial(at, cluster, namespace, "Paused", 3 + 2 * number),
            60,
            f"{router}: mirror {percent} %",
            POLL,
        )
        time.sleep(1.0)  # the gateway's informers follow the new route
        share = mirrored_share(cluster, namespace, host, requests)
        shares.append(f"at {percent} %: {100 * share:.1f} % (error {100 * share - percent:+.1f} points)")
    if router == "nginx":
        found = wait_for(partial(refusal, cluster), 60, "the refusal of a mirror on nginx", POLL)
        shares.append(f"refused ({found.get('reason')}: {found.get('message')})")
    return f"{line}; mirrored share {', '.join(shares)}"


def refusal(cluster: DevCluster) -> dict[str, Any] | None:
    found = status(cluster, "nginx", "mirrored")
    return found if found.get("phase") == "Degraded" else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=400, help="requests without the header, per mirror percent"
    )
    parser.add_argument("--matching", type=int, default=200, help="requests with the header, per router")
    args = parser.parse_args()
    run(args.requests, args.matching)


if __name__ == "__main__":
    main()

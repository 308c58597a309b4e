"""docs/architecture.md says adding a router is one file in routers/: here that claim is tried on a copy
of the package. A new module declaring a `PLUGIN` (the worked example's Traefik router) is found by the
registry, its key reaches the Release models and the CRD, its rules reach the chart's RBAC, and a Release
naming it gets its objects; nothing else in the copy is edited."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TRAEFIK = '''
from pydantic import Field

from slipway.api.models import ApiModel, NonEmptyName
from slipway.manifests import Obj, ReleaseRef, owned_metadata
from slipway.rbac import Rule
from slipway.routers.base import WEIGHTS_ONLY, RouterPlugin, ServicePorts, TrafficSplit, revision_services


class TraefikRouting(ApiModel):
    """Split traffic with a TraefikService the operator owns."""

    entry_points: list[NonEmptyName] = Field(min_length=1, description="Traefik entry points.")


class TraefikRouter:
    name = "traefik"
    capabilities = WEIGHTS_ONLY  # no match route, no mirror

    def __init__(self, routing: TraefikRouting) -> None:
        self._routing = routing

    def plan(self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts) -> tuple[Obj, ...]:
        weight = split.canary_weight if split.canary is not None else 0
        service = {
            "apiVersion": "traefik.io/v1alpha1",
            "kind": "TraefikService",
            "metadata": owned_metadata(release, release.name),
            "spec": {"weighted": {"services": [
                {"name": release.stable_service, "port": ports.port, "weight": 100 - weight},
                {"name": release.canary_service, "port": ports.port, "weight": weight},
            ]}},
        }
        return (*revision_services(release, split, ports), service)


PLUGIN = RouterPlugin(
    key="traefik",
    spec=TraefikRouting,
    build=TraefikRouter,
    collections={"TraefikService": "/apis/traefik.io/v1alpha1/namespaces/{namespace}/traefikservices"},
    rules=(Rule("traefik.io", "traefikservices", ("get", "create", "patch")),),
)
'''

PROBE = """
import json
from slipway import plugins
from slipway.api.crd import build_crd
from slipway.api.models import ReleaseSpec, TrafficRouting
from slipway.manifests import ReleaseRef
from slipway.rbac import chart_rules
from slipway.routers.base import ServicePorts, TrafficSplit
from slipway.routers.registry import inexpressible_in, router_for

plugins.load()
schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
routing = schema["properties"]["spec"]["properties"]["trafficRouting"]
router = router_for(TrafficRouting.model_validate({"traefik": {"entryPoints": ["web"]}}))
objects = router.plan(ReleaseRef("shop", "web", "u-1"), TrafficSplit("a", "b", 25), ServicePorts(80, 8080))
mirrored = ReleaseSpec.model_validate({
    "version": "2", "template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}},
    "service": {"port": 80}, "trafficRouting": {"traefik": {"entryPoints": ["web"]}},
    "strategy": {"canary": {"steps": [{"setMirror": {"percent": 5}}]}},
})
print(json.dumps({
    "refused": inexpressible_in(mirrored),
    "keys": sorted(routing["properties"]),
    "rules": chart_rules(plugins.workload_rules()),
    "kinds": [obj["kind"] for obj in objects],
}))
"""


def test_one_new_module_is_a_new_router_everywhere(tmp_path: Path) -> None:
    copy = tmp_path / "slipway"
    shutil.copytree(ROOT / "operator" / "slipway", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "routers" / "traefik.py").write_text(TRAEFIK)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["keys"] == ["gatewayAPI", "istio", "nginx", "traefik"]
    assert "traefikservices" in found["rules"]
    assert found["kinds"] == ["Service", "Service", "TraefikService"]
    assert found["refused"] == [
        [
            "spec.strategy.canary.steps[0].setMirror",
            "the traefik router cannot mirror a percentage of requests",
        ]
    ]

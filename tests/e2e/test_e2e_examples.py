"""Every manifest in examples/ does on `slipway dev --operator` what its comment and the guides say.

One `slipway dev --operator` for the module, as a user starts it; each example in its own namespace
(examples/environments in the dev, staging and prod namespaces its files name), applied with the real
kubectl and driven the way the guides drive it (`kubectl patch`, `kubectl slipway promote`, a firing
alert in Alertmanager). The stories run side by side in threads, so the module takes about as long as
the longest one (the canary's: a 30 s pause, an analysis gate, a manual promote, then a rollback).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import E2E, post_alerts, wait_for

from slipway_dev.alertmanager import AlertmanagerProcess

pytestmark = [
    *E2E,
    pytest.mark.skipif(not AlertmanagerProcess.available(), reason="prometheus-alertmanager not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
Status = dict[str, Any]


class Kube:
    """The real kubectl (and its slipway plugin) against the module's `slipway dev`."""

    def __init__(self, kubeconfig: Path, alertmanager_url: str, gateway_url: str) -> None:
        self.alertmanager_url = alertmanager_url
        self.gateway_url = gateway_url
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        # A discovery cache of its own: another test's server may have had this port before.
        self.cache = f"--cache-dir={kubeconfig.parent / 'kube-cache'}"

    def run(self, *args: str) -> str:
        # kubectl takes no flag before a plugin's name; the plugin keeps no discovery cache anyway.
        flags = [] if args[0] == "slipway" else [self.cache]
        done = subprocess.run(
            ["kubectl", *flags, *args], env=self.env, capture_output=True, text=True, timeout=90
        )
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def get(self, namespace: str, *what: str) -> Any:
        return json.loads(self.run("get", "-n", namespace, *what, "-o", "json"))

    def status(self, namespace: str, name: str) -> Status:
        status: Status = self.get(namespace, "release", name).get("status") or {}
        return status

    def wait(
        self, namespace: str, name: str, what: str, reached: Callable[[Status], bool], timeout: float
    ) -> Status:
        seen: list[Status] = [{}]

        def probe() -> Status | None:
            status = seen[0] = self.status(namespace, name)
            return status if reached(status) else None

        try:
            return wait_for(probe, timeout, f"{namespace}/{name}: {what}", interval=0.5)
        except AssertionError as late:
            raise AssertionError(f"{late}; status: {json.dumps(seen[0], indent=1)}") from None

    def wait_phase(self, namespace: str, name: str, phase: str, version: str, timeout: float) -> Status:
        return self.wait(
            namespace,
            name,
            f"{phase} on {version}",
            lambda s: s.get("phase") == phase and (s.get("stable") or {}).get("version") == version,
            timeout,
        )

    def patch_version(self, namespace: str, name: str, version: str, *more: dict[str, Any]) -> None:
        patch = [{"op": "replace", "path": "/spec/version", "value": version}, *more]
        self.run("patch", "release", name, "-n", namespace, "--type", "json", "-p", json.dumps(patch))

    def answered_by(self, host: str, **headers: str) -> str:
        """The version (X-Slipway-Version) that answers a request through the dev cluster's front door."""
        request = urllib.request.Request(self.gateway_url + "/", headers={"Host": host, **headers})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(answer.headers["X-Slipway-Version"])

    def fire_alert(self, namespace: str, release: str, **labels: str) -> None:
        alert = {
            "labels": {"alertname": "ExampleOutage", "namespace": namespace, "release": release, **labels},
            "startsAt": datetime.now(UTC).isoformat(),
        }
        post_alerts(self.alertmanager_url, [alert])


def condition(status: Status, kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), {})


def gate_reason_is(reason: str, status: Status) -> bool:
    return bool((status.get("promotion") or {}).get("reason") == reason)


def selected_revision(kube: Kube, namespace: str, service: str) -> str | None:
    selector: dict[str, str] = kube.get(namespace, "service", service)["spec"]["selector"]
    return selector.get("slipway.dev/revision")


def first_release(kube: Kube, namespace: str, example: str) -> tuple[str, Status]:
    """`kubectl apply -f` the example as it is; it goes straight to Healthy on its version."""
    manifest = yaml.safe_load((EXAMPLES / example).read_text())
    name, version = manifest["metadata"]["name"], manifest["spec"]["version"]
    kube.run("create", "namespace", namespace)
    kube.run("apply", "-n", namespace, "-f", str(EXAMPLES / example))
    status = kube.wait_phase(namespace, name, "Healthy", version, 90)
    assert condition(status, "Ready")["status"] == "True"  # `kubectl wait --for=condition=Ready` returns
    deployment = kube.get(namespace, "deployment", f"{name}-{status['stable']['revision']}")
    assert deployment["spec"]["replicas"] == manifest["spec"]["replicas"]
    return name, status


def canary(kube: Kube) -> None:
    """docs/getting-started.md, steps 3 to 5, as written there."""
    ns = "example-canary"
    name, _ = first_release(kube, ns, "canary.yaml")
    assert {"web", "web-canary"} <= {s["metadata"]["name"] for s in kube.get(ns, "services")["items"]}
    kube.patch_version(ns, name, "1.1.0")
    # 10 %, a 30 s pause, 3 good measurements, 50 %, then `pause: {}` waits for a person.
    paused = kube.wait(
        ns,
        name,
        "held at the manual pause with 50 %",
        lambda s: s.get("phase") == "Paused" and s.get("currentStep") == 4,
        120,
    )
    assert (paused["canary"]["version"], paused["canary"]["weight"]) == ("1.1.0", 50)
    assert paused["analysis"]["successful"] >= 3
    kube.run("slipway", "promote", name, "-n", ns, "--wait")
    promoted = kube.wait_phase(ns, name, "Healthy", "1.1.0", 60)
    assert [h["version"] for h in promoted["history"] if h.get("outcome") == "Promoted"][-1:] == ["1.1.0"]
    # 30 % errors in 1.2.0: the first failed error-rate measurement sends everything back to 1.1.0.
    error_rate = {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "0.3"}
    kube.patch_version(ns, name, "1.2.0", error_rate)
    degraded = kube.wait_phase(ns, name, "Degraded", "1.1.0", 90)
    assert (degraded["lastRollback"]["reason"], degraded["lastRollback"]["metric"]) == (
        "AnalysisFailed",
        "error-rate",
    )
    assert condition(degraded, "Stalled")["reason"] == "AnalysisFailed"


BLUE_GREEN_TESTERS = ("--test-load", "example-blue-green/shop-canary")


def blue_green(kube: Kube) -> None:
    """The new version behind the preview Service shop-canary, analysed, then all traffic at once; the
    old pods stay scaleDownDelaySeconds (60 s)."""
    ns = "example-blue-green"
    name, first = first_release(kube, ns, "blue-green.yaml")
    old = first["stable"]["revision"]
    kube.patch_version(ns, name, "3.2.0")
    previewing = kube.wait(
        ns, name, "3.2.0 in preview", lambda s: bool((s.get("canary") or {}).get("revision")), 60
    )
    new = previewing["canary"]["revision"]
    wait_for(lambda: selected_revision(kube, ns, "shop-canary") == new, 30, "the preview Service on 3.2.0")
    assert selected_revision(kube, ns, "shop") == old  # users still get 3.1.0
    promoted = kube.wait_phase(ns, name, "Healthy", "3.2.0", 150)
    assert selected_revision(kube, ns, "shop") == new
    retiring = {r["revision"]: r for r in promoted.get("retiring") or []}
    assert old in retiring, "the old revision is kept for scaleDownDelaySeconds"
    assert kube.get(ns, "deployment", f"{name}-{old}")["spec"]["replicas"] == 2


def hooks(kube: Kube) -> None:
    """docs/hooks.md: migrate runs before the new revision has a pod, smoke once it serves everything;
    a failing smoke test rolls back and page-cleanup runs after the rollback."""
    ns = "example-hooks"
    name, _ = first_release(kube, ns, "hooks.yaml")
    kube.patch_version(ns, name, "1.1.0")
    promoted = kube.wait_phase(ns, name, "Healthy", "1.1.0", 120)
    revision = promoted["stable"]["revision"]
    ran = {(h["stage"], h["name"]): h for h in promoted["hooks"] if h["revision"] == revision}
    assert ran[("preDeploy", "migrate")]["result"] == ran[("postDeploy", "smoke")]["result"] == "Succeeded"
    created = kube.get(ns, "deployment", f"{name}-{revision}")["metadata"]["creationTimestamp"]
    migrated = datetime.fromisoformat(ran[("preDeploy", "migrate")]["finishedAt"])
    assert migrated.replace(microsecond=0) <= datetime.fromisoformat(created)  # whole seconds, as the API
    failing = {
        "op": "replace",
        "path": "/spec/hooks/postDeploy/0/template/spec/containers/0/env/0/value",
        "value": "1",
    }
    kube.patch_version(ns, name, "1.2.0", failing)
    degraded = kube.wait_phase(ns, name, "Degraded", "1.1.0", 120)
    assert (degraded["lastRollback"]["reason"], degraded["lastRollback"]["metric"]) == ("HookFailed", "smoke")
    cleaned = kube.wait(
        ns,
        name,
        "page-cleanup ran after the rollback",
        lambda s: any(
            (h["stage"], h["name"], h["result"]) == ("postRollback", "page-cleanup", "Succeeded")
            for h in s.get("hooks") or []
        ),
        60,
    )
    assert cleaned["phase"] == "Degraded"


def canary_testers(kube: Kube) -> None:
    """Testers with the header or the cookie reach the new version first, everyone else the old one;
    promoting past the pause mirrors a fifth of requests to it; an abort takes the match routes away."""
    ns = "example-canary-testers"
    name, first = first_release(kube, ns, "canary-testers.yaml")
    host = "storefront.example.com"
    assert kube.answered_by(host) == "3.1.0"
    kube.patch_version(ns, name, "3.2.0")
    paused = kube.wait(
        ns,
        name,
        "paused with both match routes",
        lambda s: s.get("phase") == "Paused" and len(s.get("canaryRoutes") or []) == 2,
        90,
    )
    assert paused["canaryWeight"] == 0
    assert kube.answered_by(host, **{"x-canary": "true"}) == "3.2.0"
    assert kube.answered_by(host, Cookie="beta=always") == "3.2.0"
    assert {kube.answered_by(host) for _ in range(20)} == {"3.1.0"}
    kube.run("slipway", "promote", name, "-n", ns)
    mirrored = kube.wait(ns, name, "mirroring 20 %", lambda s: s.get("mirrorPercent") == 20, 60)
    assert mirrored["canaryWeight"] == 0 and {kube.answered_by(host) for _ in range(20)} == {"3.1.0"}
    rule_filters = [r.get("filters") for r in kube.get(ns, "httproute", name)["spec"]["rules"]]
    assert any(f and f[0]["type"] == "RequestMirror" for f in rule_filters), rule_filters
    kube.run("slipway", "abort", name, "-n", ns, "--wait")
    aborted = kube.wait_phase(ns, name, "Degraded", "3.1.0", 60)
    assert not aborted.get("canaryRoutes") and not aborted.get("mirrorPercent")
    assert kube.answered_by(host, **{"x-canary": "true"}) == "3.1.0"
    assert aborted["stable"]["revision"] == first["stable"]["revision"]


def rolling_gateway(kube: Kube) -> None:
    """An HTTPRoute the operator owns; a firing critical alert for the Release rolls a rollout back."""
    ns = "example-rolling-gateway"
    name, first = first_release(kube, ns, "rolling-gateway.yaml")
    route = kube.get(ns, "httproute", name)
    assert route["metadata"]["ownerReferences"][0]["kind"] == "Release"
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateways"}]
    assert route["spec"]["hostnames"] == ["api.example.com"]
    kube.fire_alert(ns, name, severity="critical")
    kube.patch_version(ns, name, "7.3.0")
    degraded = kube.wait_phase(ns, name, "Degraded", "7.2.0", 90)
    assert (degraded["lastRollback"]["reason"], degraded["lastRollback"]["metric"]) == (
        "AlertFiring",
        "ExampleOutage",
    )
    assert degraded["stable"]["revision"] == first["stable"]["revision"]


def environments(kube: Kube) -> None:
    """docs/environments.md: `kubectl apply -f examples/environments/` with 1.0.0 everywhere: dev starts,
    staging waits for dev's 10 minutes, prod for staging (and a person, and a window)."""
    for ns in ("dev", "staging", "prod"):
        kube.run("create", "namespace", ns)
    kube.run("apply", "-f", str(EXAMPLES / "environments"))
    kube.wait_phase("dev", "web", "Healthy", "1.0.0", 90)
    waits = {"staging": "Soaking", "prod": "WaitingForUpstream"}
    for ns, reason in waits.items():
        waiting = kube.wait(
            ns,
            "web",
            f"waiting, {reason}",
            partial(gate_reason_is, reason),
            60,
        )
        assert (waiting["phase"], waiting["promotion"]["gate"]) == ("Paused", "Closed")
        assert condition(waiting, "Promotion")["status"] == "False"
        assert not kube.get(ns, "deployments")["items"], f"{ns} created something for a version it waits on"
    chain = kube.run("slipway", "pipeline", "web", "-n", "prod")
    assert re.search(
        r"dev 1\.0\.0 Healthy → staging \S+ \(1\.0\.0 waiting: soaking \S+/10m\) → prod", chain
    ), chain
    assert "(1.0.0 waiting: not verified in staging/web)" in chain, chain
    kube.run("slipway", "approve", "web", "-n", "prod")
    # The approval is recorded, and prod still waits: staging has not run 1.0.0.
    approved = kube.wait(
        "prod",
        "web",
        "the approval recorded",
        lambda s: bool((s.get("promotion") or {}).get("approvals")),
        30,
    )
    assert approved["phase"] == "Paused" and approved["promotion"]["reason"] == "WaitingForUpstream"


STORIES: dict[str, Callable[[Kube], None]] = {
    "canary.yaml": canary,
    "canary-testers.yaml": canary_testers,
    "blue-green.yaml": blue_green,
    "hooks.yaml": hooks,
    "rolling-gateway.yaml": rolling_gateway,
    "environments": environments,
}


def test_every_example_has_a_story() -> None:
    examples = {p.name for p in EXAMPLES.glob("*.yaml")} | {p.name for p in EXAMPLES.iterdir() if p.is_dir()}
    assert examples == set(STORIES)


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[None]]]:
    """`slipway dev --operator` as a user starts it, and every story running against it."""
    home = tmp_path_factory.mktemp("slipway-dev")
    kubeconfig = home / "kubeconfig"
    said = home / "slipway-dev.out"
    with said.open("w") as out:
        process = subprocess.Popen(
            # The test load examples/blue-green.yaml tells a user to ask for: testers of its preview.
            [str(BIN / "slipway"), "dev", "--operator", "--kubeconfig", str(kubeconfig), *BLUE_GREEN_TESTERS],
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def ready() -> dict[str, str] | None:  # it prints what runs where, then "ready"
        assert process.poll() is None, said.read_text()
        lines = said.read_text().splitlines()
        if not any(line.startswith("ready") for line in lines):
            return None
        return {label: value.strip() for label, _, value in (line.partition(":") for line in lines)}

    printed = wait_for(ready, 60, "slipway dev to be ready")
    assert printed.get("Alertmanager", "").startswith("http://"), printed
    kube = Kube(kubeconfig, printed["Alertmanager"].split()[0], printed["gateway"].split()[0])
    try:
        with ThreadPoolExecutor(len(STORIES)) as pool:
            yield {example: pool.submit(story, kube) for example, story in STORIES.items()}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("example", sorted(STORIES))
def test_the_example_reaches_its_documented_end_state(stories: dict[str, Future[None]], example: str) -> None:
    stories[example].result(timeout=360)

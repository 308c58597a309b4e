"""Capture the Release snapshots the GitOps health tests read, from a real run of the operator.

    .venv/bin/python tests/gitops/capture_snapshots.py [OUT_DIR]

Starts a dev cluster with Prometheus (as the e2e stories do), runs `slipway run` as a process and
takes one canary through every phase a GitOps tool has to judge; at each one it saves what
`kubectl get release web -o yaml` shows, with the fields that change from run to run removed
(uid, resourceVersion, managedFields, creationTimestamp, kubectl's last-applied annotation) and
every timestamp moved so the run starts at 2025-01-01T00:00:00Z (the intervals between them are
kept). OUT_DIR defaults to Argo CD's testdata folder of the health check. The tests only read the
committed files; run this again when the status model changes (test_snapshots.py says when).

Takes about two minutes and two dev clusters: the second one has an unreachable Prometheus, for the
pause that ends by itself (ProviderErrors).
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# As pytest has them (pyproject.toml, `pythonpath`): e2e_support reads the operator's metrics with bench's
# operator_metrics.
sys.path[:0] = [str(ROOT / "tests" / "support"), str(ROOT / "bench")]

from e2e_support import (  # noqa: E402
    CRDS,
    Cluster,
    Operator,
    closed_port,
    release_manifest,
    wait_for,
    write_operator_config,
)

from slipway import plugins  # noqa: E402
from slipway_dev.cluster import DevCluster  # noqa: E402

TESTDATA = ROOT / "gitops" / "argocd" / "resource_customizations" / "slipway.dev" / "Release" / "testdata"
ORIGIN = datetime(2025, 1, 1, tzinfo=UTC)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
VOLATILE_METADATA = ("uid", "resourceVersion", "managedFields", "creationTimestamp", "selfLink")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# A canary with every kind of step: a weight, a timed pause, a pause for a person, a gate.
STEPS = [
    {"setWeight": 25},
    {"pause": {"duration": "20s"}},
    {"setWeight": 50},
    {"pause": {}},
    {"analysis": {"successfulMeasurements": 2}},
]
WARM_UP = {"name": "error-rate", "builtin": "error-rate", "inconclusiveLimit": 15}


def slow_start(manifest: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The manifest with pods that take `seconds` to become ready, so a phase lasts long enough to see."""
    for container in manifest["spec"]["template"]["spec"]["containers"]:
        for variable in container["env"]:
            if variable["name"] == "SLIPWAY_DEMO_STARTUP_SECONDS":
                variable["value"] = str(seconds)
    return manifest


class Recorder:
    """Saves snapshots of the Release `web`, cleaned, with times relative to the first one taken."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.start: datetime | None = None
        self.saved: list[str] = []

    def save(self, cluster: Cluster, name: str, what: str) -> dict[str, Any]:
        release = cluster.release()
        cleaned = self.clean(release)
        self.out.mkdir(parents=True, exist_ok=True)
        header = f"# {what}\n# Captured from a real run by tests/gitops/capture_snapshots.py\n"
        (self.out / f"{name}.yaml").write_text(header + yaml.safe_dump(cleaned, sort_keys=False))
        self.saved.append(name)
        status = cleaned.get("status") or {}
        print(f"{name}: {status.get('phase')} {status.get('reason')} {status.get('message')!r}")
        return release

    def clean(self, release: dict[str, Any]) -> dict[str, Any]:
        metadata = {k: v for k, v in release["metadata"].items() if k not in VOLATILE_METADATA}
        annotations = metadata.pop("annotations", None) or {}
        annotations = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        if annotations:
            metadata["annotations"] = annotations
        cleaned = {**release, "metadata": metadata}
        if self.start is None:
            self.start = datetime.now(UTC).replace(microsecond=0)  # whole seconds: fractions stay as written
        return self._shift(cleaned)

    def _shift(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self._shift(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._shift(item) for item in value]
        if isinstance(value, str):
            return TIMESTAMP.sub(self._move, value)  # a message may name a time too ("until ...")
        return value

    def _move(self, found: re.Match[str]) -> str:
        """One timestamp moved by the run's offset, written as it was (Z or +00:00, fraction or not)."""
        assert self.start is not None
        text = found.group(0)
        moved = (ORIGIN + (datetime.fromisoformat(text) - self.start)).astimezone(UTC)
        shown = moved.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moved.microsecond:06d}" if found.group(1) else "")
        return shown + ("Z" if text.endswith("Z") else "+00:00")


def phase_is(cluster: Cluster, phase: str, reason: str | None = None) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        status = cluster.status()
        if status.get("phase") == phase and (reason is None or status.get("reason") == reason):
            return status
        return None

    return probe


def canary_story(recorder: Recorder, work: Path) -> None:
    with DevCluster(state_dir=work / "cluster", prometheus="on", rps=40) as dev:
        cluster = Cluster(dev)
        cluster.write("apply", "-f", str(CRDS))
        operator = Operator(dev, write_operator_config(dev, work / "operator.yaml"), work / "operator.log")

        # Applied before the operator runs: a Release nobody has written a status for yet.
        cluster.apply(slow_start(release_manifest("1", steps=STEPS, metrics=[WARM_UP]), 3))
        recorder.save(cluster, "progressing_noStatus", "applied, the operator has not written a status yet")
        operator.start()
        try:
            wait_for(phase_is(cluster, "Progressing", "FirstRelease"), 60, "the first release to start")
            recorder.save(cluster, "progressing_firstRelease", "the first version's pods are starting")
            cluster.wait_phase("Healthy", "1", timeout=60)
            recorder.save(cluster, "healthy_firstRelease", "the first version serves all traffic")

            # Pods slower than the operator holds a step's status for them (5 s, controller/reconciler.py):
            # with faster ones the first status written is already the step after.
            cluster.apply(slow_start(release_manifest("2", steps=STEPS, metrics=[WARM_UP]), 8))
            wait_for(
                lambda: (
                    (s := cluster.status()).get("phase") == "Progressing"
                    and s.get("observedGeneration") == 2
                    and s.get("currentStep") == 0
                ),
                30,
                "the canary's first step",
            )
            recorder.save(cluster, "progressing_setWeight", "canary step 1 (setWeight 25), its pods starting")
            wait_for(lambda: cluster.status().get("currentStep") == 1, 60, "the timed pause")
            recorder.save(cluster, "progressing_timedPause", "canary step 2, a 20s pause: it ends by itself")

            cluster.write("annotate", "--overwrite", "release/web", "slipway.dev/pause=capture-1")
            wait_for(phase_is(cluster, "Paused", "ManualPause"), 30, "the manual pause")
            recorder.save(cluster, "suspended_manualPause", "paused by a person (slipway.dev/pause)")
            cluster.write("annotate", "--overwrite", "release/web", "slipway.dev/resume=capture-1")

            wait_for(phase_is(cluster, "Paused", "WaitingForPromote"), 90, "the pause step")
            recorder.save(
                cluster, "suspended_waitingForPromote", "canary step 4, `pause: {}`: waits for a person"
            )
            cluster.write("annotate", "--overwrite", "release/web", "slipway.dev/promote=capture-1")
            cluster.wait_phase("Healthy", "2", timeout=120)
            recorder.save(cluster, "healthy_promoted", "version 2 promoted after its analysis gate")

            bad = release_manifest(
                "3",
                error_rate=0.5,
                steps=[{"setWeight": 50}, {"analysis": {"successfulMeasurements": 3}}],
                metrics=[{**WARM_UP, "thresholdRange": {"max": 0.05}}],
            )
            cluster.apply(bad)
            cluster.wait_phase("Degraded", "2", timeout=120)
            recorder.save(cluster, "degraded_rolledBack", "version 3 failed its analysis and was rolled back")

            checkout = {"name": "checkout", "web": {"url": "http://127.0.0.1:1/rate", "jsonPath": "$.rate"}}
            refused = release_manifest("4", metrics=[{**checkout, "thresholdRange": {"max": 1}}])
            cluster.apply(refused)
            wait_for(phase_is(cluster, "Degraded", "HostNotAllowed"), 30, "the refusal")
            recorder.save(cluster, "degraded_refused", "a spec the operator refuses (a host not allowed)")
        finally:
            operator.stop()

        # The operator is down when a new spec arrives: the status speaks of an older generation.
        cluster.apply(release_manifest("5"))
        recorder.save(
            cluster, "progressing_generationNotObserved", "a spec the operator has not seen (it is down)"
        )


def provider_errors_story(recorder: Recorder, work: Path) -> None:
    with DevCluster(state_dir=work / "cluster-b", prometheus="off", rps=40) as dev:
        cluster = Cluster(dev)
        cluster.write("apply", "-f", str(CRDS))
        unreachable = {"url": f"http://127.0.0.1:{closed_port()}", "timeoutSeconds": 1}
        config = write_operator_config(dev, work / "operator-b.yaml", prometheus=unreachable)
        operator = Operator(dev, config, work / "operator-b.log")
        operator.start()
        try:
            cluster.apply(release_manifest("1"))
            cluster.wait_phase("Healthy", "1", timeout=60)
            metrics = [{"name": "error-rate", "builtin": "error-rate", "consecutiveErrorLimit": 2}]
            cluster.apply(release_manifest("2", metrics=metrics))
            wait_for(phase_is(cluster, "Paused", "ProviderErrors"), 60, "the pause on provider errors")
            recorder.save(
                cluster, "progressing_providerErrors", "Prometheus unreachable: paused until it answers again"
            )
        finally:
            operator.stop()


def main() -> None:
    plugins.load()
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else TESTDATA
    recorder = Recorder(out)
    with tempfile.TemporaryDirectory(prefix="slipway-capture-") as scratch:
        work = Path(scratch)
        canary_story(recorder, work)
        provider_errors_story(recorder, work)
    print(f"{len(recorder.saved)} snapshots in {out}")


if __name__ == "__main__":
    main()

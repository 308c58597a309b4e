"""User stories 1-4 of issue 4: first release, a good canary promoted, a bad canary rolled back."""

from __future__ import annotations

from typing import Any

from e2e_support import (
    E2E,
    WARM_UP_MEASUREMENTS,
    ChangeLog,
    Cluster,
    Operator,
    first_release,
    release_manifest,
    wait_for,
)
from stories import annotate

from slipway.manifests import release_bucket

pytestmark = E2E

RELEASE_LABEL = "slipway.dev/release"
VERSION_LABEL = "app.kubernetes.io/version"
REVISION_LABEL = "slipway.dev/revision"
POD_OF_LABEL = "slipway.dev/pod-of"
BUCKET_LABEL = "slipway.dev/bucket"

# Every pod of the revision is scraped: a PromQL metric of the user's own, judged like any other.
SCRAPED_PODS = 'count(up{namespace="{{namespace}}", release="{{release}}", revision="{{revision}}"} == 1)'


def test_first_release_is_ready_with_its_deployment_and_services(
    cluster: Cluster, operator: Operator
) -> None:
    cluster.apply(release_manifest("1"))
    cluster.kubectl("wait", "--for=condition=Ready", "release/web", "--timeout=30s")

    status = cluster.status()
    assert status["phase"] == "Healthy"
    revision = status["stable"]["revision"]
    deployment = cluster.deployment_of(revision)
    assert deployment is not None
    assert deployment["metadata"]["name"] == f"web-{revision}"
    assert deployment["metadata"]["labels"] == {
        "app.kubernetes.io/name": "web",
        "app.kubernetes.io/version": "1",
        "app.kubernetes.io/managed-by": "slipway",
        RELEASE_LABEL: "web",
        REVISION_LABEL: revision,
        POD_OF_LABEL: "web",
        # What a sharded replica watches it by (docs/operator.md, "Sharding"); not on the pods.
        BUCKET_LABEL: str(release_bucket(cluster.release()["metadata"]["namespace"], "web")),
    }
    assert BUCKET_LABEL not in deployment["spec"]["template"]["metadata"]["labels"]
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Release",
        "web",
        cluster.release()["metadata"]["uid"],
    )
    for name in ("web", "web-canary"):
        service = cluster.service(name)
        assert service["spec"]["selector"] == {POD_OF_LABEL: "web", REVISION_LABEL: revision}
        assert service["metadata"]["ownerReferences"][0]["uid"] == owner["uid"]
    printed = cluster.kubectl("get", "release", "web").stdout
    assert "Healthy" in printed and "True" in printed

    assert operator.get("/healthz")[0] == 200
    assert operator.get("/readyz")[0] == 200
    _, metrics = operator.get("/metrics")
    assert 'slipway_release_phase{namespace="default",phase="Healthy",release="web"} 1.0' in metrics
    assert "slipway_reconcile_duration_seconds_count" in metrics
    # Every reconcile line names the Release, its revision, phase and step.
    passes = [line for line in operator.log_lines() if line.get("logger") == "slipway.reconcile"]
    assert passes and all({"namespace", "release", "revision", "phase"} <= line.keys() for line in passes)

    # Invariant 4: a pass over a cluster that matches finds nothing to do. The operator's own writes
    # wake no pass, so a change it does not act on (an annotation of someone's) wakes one.
    cluster.kubectl("annotate", "release", "web", "example.com/note=idle")

    def idle_pass() -> bool:
        lines = operator.log_lines()
        return any(line.get("phase") == "Healthy" and line.get("writes") == 0 for line in lines)

    wait_for(idle_pass, 10, "a Healthy pass that writes nothing")


def test_good_canary_follows_the_steps_and_is_promoted(cluster: Cluster, operator: Operator) -> None:
    v1 = first_release(cluster)["stable"]["revision"]
    metrics: list[dict[str, Any]] = [
        {"name": "error-rate", "builtin": "error-rate", "inconclusiveLimit": WARM_UP_MEASUREMENTS},
        {"name": "latency-p95", "builtin": "latency-p95", "inconclusiveLimit": WARM_UP_MEASUREMENTS},
        {"name": "scraped-pods", "prometheus": {"query": SCRAPED_PODS}, "thresholdRange": {"min": 1}},
    ]
    steps = [
        {"setWeight": 25},
        {"analysis": {"successfulMeasurements": 2}},
        {"setWeight": 50},
        {"analysis": {"successfulMeasurements": 1}},
    ]
    cluster.apply(release_manifest("2", steps=steps, metrics=metrics))

    def split_in_progress() -> dict[str, Any] | None:
        status = cluster.status()
        canary = status.get("canary") or {}
        return status if canary.get("weight") == 25 else None

    during = wait_for(split_in_progress, 30, "canary at weight 25")
    v2 = during["canary"]["revision"]
    # The stable Service spreads over both revisions; the canary got its pods (replica ratio).
    assert cluster.service("web")["spec"]["selector"] == {POD_OF_LABEL: "web"}
    assert cluster.service("web-canary")["spec"]["selector"] == {POD_OF_LABEL: "web", REVISION_LABEL: v2}
    assert during["stable"]["revision"] == v1

    healthy = cluster.wait_phase("Healthy", "2", timeout=60)
    assert healthy["stable"]["revision"] == v2
    assert cluster.service("web")["spec"]["selector"] == {POD_OF_LABEL: "web", REVISION_LABEL: v2}
    old = cluster.deployment_of(v1)
    assert old is None or old["spec"]["replicas"] == 0
    promoted = [entry for entry in healthy["history"] if entry["revision"] == v2]
    assert [entry["outcome"] for entry in promoted] == ["Promoted"]
    measured = {m["metric"] for m in healthy.get("analysis", {}).get("measurements", [])}
    assert measured == {"error-rate", "latency-p95", "scraped-pods"}
    assert cluster.condition("Ready")["status"] == "True"
    # How long each measurement took, and how late the passes their timers woke started (/metrics).
    _, exposed = operator.get("/metrics")
    counts = {
        line.split(" ")[0]: float(line.rsplit(" ", 1)[1])
        for line in exposed.splitlines()
        if "_count " in line
    }
    assert counts["slipway_analysis_measurement_duration_seconds_count"] >= 3 * 3
    assert counts["slipway_reconcile_start_delay_seconds_count"] >= 1


def test_failing_canary_is_rolled_back_and_degraded(cluster: Cluster, operator: Operator) -> None:
    v2 = first_release(cluster, "2")["stable"]["revision"]
    cluster.apply(release_manifest("3", error_rate=0.3, steps=[{"setWeight": 50}, {"pause": {}}]))

    degraded = cluster.wait_phase("Degraded", "2", timeout=60)
    stalled = cluster.condition("Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "AnalysisFailed")
    assert cluster.condition("Ready")["status"] == "False"
    rollback = degraded["lastRollback"]
    assert (rollback["reason"], rollback["metric"]) == ("AnalysisFailed", "error-rate")
    assert float(rollback["value"]) > 0.001
    assert "0.001" in rollback["threshold"]
    assert (rollback["fromVersion"], rollback["toVersion"]) == ("3", "2")

    # All traffic is back on v2 and v3 no longer runs pods.
    assert cluster.service("web")["spec"]["selector"] == {POD_OF_LABEL: "web", REVISION_LABEL: v2}
    v3 = [d for d in cluster.deployments() if d["metadata"]["labels"]["app.kubernetes.io/version"] == "3"]
    assert all(d["spec"]["replicas"] == 0 for d in v3)
    warnings = [e for e in cluster.events() if e["type"] == "Warning"]
    assert any("error-rate" in e["message"] for e in warnings), warnings

    # The failed canary, kept at 0, is still the Release's to remove later: its label taken off by
    # someone, the Release finds it by name and labels it again (or it would stay for good).
    failed = v3[0]["metadata"]["labels"][REVISION_LABEL]
    cluster.kubectl("label", "deployment", f"web-{failed}", f"{RELEASE_LABEL}-")

    def labelled_again() -> bool | None:
        deployment = cluster.deployment_of(failed) or {"metadata": {"labels": {}}}
        return deployment["metadata"]["labels"].get(RELEASE_LABEL) == "web" or None

    wait_for(labelled_again, 10, f"the rolled-back canary web-{failed} labelled as the Release's again")


def test_never_ready_canary_is_rolled_back_at_the_progress_deadline(
    cluster: Cluster, operator: Operator
) -> None:
    v3 = first_release(cluster, "3")["stable"]["revision"]
    rollback = {"progressDeadlineSeconds": 4}
    cluster.apply(release_manifest("4", crash=True, rollback=rollback))

    degraded = cluster.wait_phase("Degraded", "3", timeout=30)
    assert degraded["lastRollback"]["reason"] == "ProgressDeadlineExceeded"
    assert cluster.condition("Stalled")["reason"] == "ProgressDeadlineExceeded"
    assert cluster.service("web")["spec"]["selector"] == {POD_OF_LABEL: "web", REVISION_LABEL: v3}


def with_resources(release: dict[str, Any], cpu_cores: float) -> dict[str, Any]:
    """The release's container burning `cpu_cores` of its 1-core limit."""
    container = release["spec"]["template"]["spec"]["containers"][0]
    container["env"].append({"name": "SLIPWAY_DEMO_CPU", "value": str(cpu_cores)})
    container["resources"] = {"limits": {"cpu": "1", "memory": "256Mi"}}
    return release


def test_canary_burning_cpu_is_rolled_back_on_the_default_threshold(
    cluster: Cluster, operator: Operator
) -> None:
    # Named without a threshold: the guide's defaults, CPU <= 0.8 and memory <= 0.85 of the limits.
    metrics = [
        {"name": name, "builtin": name, "inconclusiveLimit": WARM_UP_MEASUREMENTS}
        for name in ("cpu-usage", "memory-usage")
    ]
    # A gate right after the shift: the canary's first seconds must not pass it on a low reading.
    steps = [{"setWeight": 50}, {"analysis": {"successfulMeasurements": 2}}]
    v1 = first_release(cluster)["stable"]["revision"]
    cluster.apply(with_resources(release_manifest("2", steps=steps, metrics=metrics), cpu_cores=0.95))

    degraded = cluster.wait_phase("Degraded", "1", timeout=60)
    rollback = degraded["lastRollback"]
    assert (rollback["reason"], rollback["metric"]) == ("AnalysisFailed", "cpu-usage")
    assert 0.8 < float(rollback["value"]) <= 1.0
    assert rollback["threshold"] == "<= 0.8"
    assert cluster.service("web")["spec"]["selector"] == {POD_OF_LABEL: "web", REVISION_LABEL: v1}
    # memory-usage (48 MB of 256 Mi) was measured and good all along.
    memory = [m for m in degraded["analysis"]["measurements"] if m["metric"] == "memory-usage"]
    assert memory and all(m["result"] in ("Successful", "Inconclusive") for m in memory), memory


def api_writes(operator: Operator) -> int:
    """Every request but reads the operator sent."""
    counts = operator.requests()
    return sum(count for verb, count in counts.items() if verb not in ("GET", "LIST", "WATCH", "passes"))


def without_analysis(version: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """A canary of `steps` with timed pauses and no analysis: the same requests every run."""
    body = release_manifest(version, steps=steps)
    del body["spec"]["analysis"]
    return body


def test_a_six_step_canary_takes_at_most_three_api_writes_per_step(
    cluster: Cluster, operator: Operator
) -> None:
    """Issue 12: API writes per canary step, status and Events included, at most 3. Timed pauses, not
    analysis gates, so that the count is the same every run (each measurement is a status write)."""
    steps: list[dict[str, Any]] = [
        {"setWeight": 25},
        {"pause": {"duration": "1s"}},
        {"setWeight": 50},
        {"pause": {"duration": "1s"}},
        {"setWeight": 75},
        {"pause": {"duration": "1s"}},
    ]

    cluster.apply(without_analysis("1", steps))
    cluster.wait_phase("Healthy", "1", timeout=30)
    wait_for(lambda: [e for e in cluster.events() if e["reason"] == "Ready"], 10, "the first release's Event")
    before = api_writes(operator)
    cluster.apply(without_analysis("2", steps))
    cluster.wait_phase("Healthy", "2", timeout=60)
    wait_for(lambda: [e for e in cluster.events() if e["reason"] == "Promoted"], 10, "the Promoted Event")
    writes = api_writes(operator) - before
    assert writes <= 3 * len(steps), f"{writes:.0f} API writes for {len(steps)} steps"


def test_a_step_moves_on_within_moments_of_its_pods_being_ready_with_no_poll(
    cluster: Cluster, operator: Operator
) -> None:
    """Issue 12: the core asks for no poll while canary pods start (only a 30 s safety net); the watch
    event of the canary Deployment's status wakes the Release, and the step moves on at once."""
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]

    def manifest(version: str, startup_seconds: str) -> dict[str, Any]:
        body = without_analysis(version, steps)
        for env in body["spec"]["template"]["spec"]["containers"][0]["env"]:
            if env["name"] == "SLIPWAY_DEMO_STARTUP_SECONDS":
                env["value"] = startup_seconds
        return body

    cluster.apply(manifest("1", "0.5"))
    cluster.wait_phase("Healthy", "1", timeout=30)
    collections = {
        "Deployment": "/apis/apps/v1/namespaces/default/deployments",
        "Release": "/apis/slipway.dev/v1alpha1/namespaces/default/releases",
    }
    with ChangeLog(cluster.dev.credentials, collections) as log:
        cluster.apply(manifest("2", "3"))  # the canary's pod is ready ~3 s after the pass that asked
        cluster.wait_phase("Paused", "1", timeout=60)
    changes = log.changes()
    canary = [
        c for c in changes if c.kind == "Deployment" and c.after["metadata"]["labels"][VERSION_LABEL] == "2"
    ]
    asked = canary[0].seen_at
    ready = next(c.seen_at for c in canary if (c.after.get("status") or {}).get("readyReplicas", 0) >= 1)
    moved = next(
        c.seen_at
        for c in changes
        if c.kind == "Release" and ((c.after.get("status") or {}).get("canary") or {}).get("weight") == 50
    )
    assert ready - asked > 2, "the pod came up too soon to tell a woken pass from the one that asked"
    assert 0 <= moved - ready < 2, f"the step moved {moved - ready:.1f} s after the canary's pod was ready"


def test_what_someone_does_to_an_idle_releases_services_and_rule_is_undone_at_once(
    cluster: Cluster, operator: Operator
) -> None:
    """The operator watches the Services and the PrometheusRule it owns: a change someone else makes wakes
    the Release (nothing else would, once it is Healthy), and a pass reads them only then; an edit that
    removes the operator's labels too included."""
    revision = first_release(cluster)["stable"]["revision"]

    def selects_stable() -> bool | None:
        return cluster.service("web")["spec"]["selector"].get(REVISION_LABEL) == revision or None

    cluster.kubectl(
        "patch", "service", "web", "--type=merge",
        "-p", '{"spec": {"selector": {"slipway.dev/revision": "elsewhere"}}}',
    )  # fmt: skip
    wait_for(selects_stable, 10, "the Service web selecting the stable revision again")
    # An edit that also removes the labels the operator sets is seen all the same (the watch finds the
    # owner by ownerReference), and the repair puts the labels back.
    cluster.kubectl(
        "patch", "service", "web", "--type=merge",
        "-p", '{"metadata": {"labels": {"app.kubernetes.io/managed-by": null, "slipway.dev/release": null}},'
        ' "spec": {"selector": {"slipway.dev/revision": "elsewhere"}}}',
    )  # fmt: skip

    def repaired_with_labels() -> bool | None:
        labels = cluster.service("web")["metadata"].get("labels") or {}
        return (selects_stable() and labels.get(RELEASE_LABEL) == "web") or None

    wait_for(repaired_with_labels, 10, "the Service web, its labels removed, repaired with them")
    cluster.kubectl("delete", "service/web-canary", "prometheusrule/web")

    def made_again() -> bool | None:
        found = cluster.kubectl("get", "service/web-canary", "prometheusrule/web", check=False)
        return found.returncode == 0 or None

    wait_for(made_again, 10, "the Service web-canary and the PrometheusRule web made again")
    # Taken over (ownerReference and labels removed): no longer the Release's to repair, but the event
    # still wakes it, and it says so at once.
    cluster.kubectl(
        "patch", "service", "web-canary", "--type=json",
        "-p", '[{"op": "remove", "path": "/metadata/ownerReferences"},'
        ' {"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1managed-by"},'
        ' {"op": "remove", "path": "/metadata/labels/slipway.dev~1release"}]',
    )  # fmt: skip

    def refused() -> bool | None:
        return cluster.status().get("reason") == "NameConflict" or None

    wait_for(refused, 10, "the Release reporting the Service web-canary someone else's")


def test_a_deployment_whose_release_label_someone_removed_gets_it_back_and_is_retired_as_any_other(
    cluster: Cluster, operator: Operator
) -> None:
    """The Release lists its Deployments by that label, and the watch finds a Deployment's Release by it:
    removed from the stable revision during a canary, that revision was out of the Release's sight for
    good (its pods counted as none, left running at 2 after the promotion). Its ownerReference still
    names the Release: the event wakes it, the pass finds it by name and labels it again."""
    stable = first_release(cluster)["stable"]["revision"]
    cluster.apply(without_analysis("2", [{"setWeight": 50}, {"pause": {}}]))
    wait_for(
        lambda: (cluster.status().get("canary") or {}).get("weight") == 50 or None, 30, "the canary at 50 %"
    )
    before = cluster.deployment_of(stable)
    assert before is not None
    cluster.kubectl("label", "deployment", f"web-{stable}", f"{RELEASE_LABEL}-")

    def labelled_again() -> bool | None:
        deployment = cluster.deployment_of(stable) or {"metadata": {"labels": {}}}
        return deployment["metadata"]["labels"].get(RELEASE_LABEL) == "web" or None

    wait_for(labelled_again, 10, f"the Deployment web-{stable} labelled as the Release's again")
    status = cluster.status()
    assert (status["stable"]["readyReplicas"], status["canary"]["weight"]) == (2, 50), status
    after = cluster.deployment_of(stable)
    assert after is not None and after["metadata"]["generation"] == before["metadata"]["generation"]
    annotate(cluster, "promote", "now")
    cluster.wait_phase("Healthy", "2", timeout=60)

    def kept_at_zero() -> bool | None:
        deployment = cluster.deployment_of(stable)
        return (deployment is not None and deployment["spec"]["replicas"] == 0) or None

    wait_for(kept_at_zero, 10, f"the replaced revision web-{stable} scaled to zero, kept for undo")


def test_passes_over_a_canary_in_flight_decide_on_what_the_watch_showed_without_reading_again(
    cluster: Cluster, operator: Operator
) -> None:
    """Issue 12: a pass over a Release in flight no longer GETs it and LISTs its Deployments; it decides
    on what the watch and its own writes showed (controller/watch_view.py)."""
    steps: list[dict[str, Any]] = []
    for weight in (10, 20, 30, 40, 50, 60):
        steps += [{"setWeight": weight}, {"pause": {"duration": "1s"}}]

    cluster.apply(without_analysis("1", steps))
    cluster.wait_phase("Healthy", "1", timeout=30)
    before = operator.requests()
    cluster.apply(without_analysis("2", steps))
    cluster.wait_phase("Healthy", "2", timeout=60)
    # The passes the last writes wake (the old revision scaled down, its pods gone) are counted too.
    wait_for(
        lambda: (
            [d for d in cluster.deployments() if (d.get("status") or {}).get("replicas")]
            == [cluster.deployment_of(cluster.status()["stable"]["revision"])]
        ),
        10,
        "the old revision's pods gone",
    )
    counts = operator.requests()
    counts.subtract(before)
    # Each pass read the Release and listed its Deployments before: 2 reads a pass at least. Now the
    # first pass of the rollout reads them (the rollout takes under REFRESH_SECONDS); the Services and
    # the PrometheusRule are read when the watch does not show them as last left.
    assert counts["passes"] >= len(steps), counts
    assert counts["LIST"] <= 1, counts
    assert counts["GET"] <= counts["passes"] // 2, counts


def test_a_canary_deployment_deleted_mid_pause_is_made_again_at_once(
    cluster: Cluster, operator: Operator
) -> None:
    """The view a pass decides on shows someone's deletion as soon as the watch does."""
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]

    cluster.apply(without_analysis("1", steps))
    cluster.wait_phase("Healthy", "1", timeout=30)
    cluster.apply(without_analysis("2", steps))
    paused = wait_for(
        lambda: (status := cluster.status()).get("phase") == "Paused" and status, 30, "the canary paused"
    )
    revision = paused["canary"]["revision"]
    first = cluster.deployment_of(revision)
    assert first is not None
    cluster.write("delete", "deployment", first["metadata"]["name"])
    again = wait_for(
        lambda: (
            (found := cluster.deployment_of(revision)) is not None
            and found["metadata"]["uid"] != first["metadata"]["uid"]
            and found
        ),
        10,
        "the canary's Deployment made again",
    )
    assert again["spec"]["replicas"] == first["spec"]["replicas"]

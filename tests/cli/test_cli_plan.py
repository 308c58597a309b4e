"""`slipway plan FILE --metrics ...`, run through the real command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from core_support import CANARY_STEPS
from typer.testing import CliRunner

from slipway.cli import build_app


def manifest(tmp_path: Path, **spec_overrides: object) -> Path:
    spec = {
        "version": "2.0.0",
        "replicas": 4,
        "template": {"spec": {"containers": [{"name": "web", "image": "example/web:2.0.0"}]}},
        "service": {"port": 80},
        "strategy": {"canary": {"steps": CANARY_STEPS}},
        "analysis": {"interval": "30s", "metrics": [{"name": "error-rate", "builtin": "error-rate"}]},
        **spec_overrides,
    }
    path = tmp_path / "release.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "slipway.dev/v1alpha1",
                "kind": "Release",
                "metadata": {"name": "web"},
                "spec": spec,
            }
        )
    )
    return path


def plan(path: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["plan", str(path), *options])
    return result.exit_code, result.output


def test_good_metrics_show_every_step_and_the_promotion(tmp_path: Path) -> None:
    code, out = plan(manifest(tmp_path))
    assert code == 0, out
    for line in (
        "canary in 5 steps, 4 replicas:",
        "step 1/5: set weight 10% (pods: 1 new, 4 old)",
        "step 2/5: pause 1m",
        "step 3/5: analysis gate (3 good in a row) of error-rate, measured every 30s: at least 1m30s",
        "step 5/5: pause until promoted (kubectl slipway promote web)",
        "then: promotion, once the last measurement of every metric is good, the new version gets 4 pods"
        " and all traffic; old pods go at once",
        "deadline: each step must progress within 600s beyond its planned wait, else roll back;"
        " a pause until promoted waits for a person with no deadline",
        "failed measurements beyond failureLimit: all traffic back to the old version in one write,"
        " new pods scaled to 0, Degraded (AnalysisFailed)",
        "Rehearsal with good metrics (every value within its threshold), times from `kubectl apply`:",
        "error-rate: good when <= 0.001; no data counts as inconclusive",
        "traffic: 2.0.0-previous 90%, 2.0.0 10%",
        "traffic: 2.0.0-previous 50%, 2.0.0 50%",
        "a person promotes (simulated)",
        "traffic: 2.0.0-previous 0%, 2.0.0 100%",
        "Ends Healthy (Promoted): version 2.0.0 serves all traffic",
    ):
        assert line in out
    # The gate waits for three good measurements after it begins.
    gate = out.index("Step: step 3/5")
    assert out[gate : out.index("Step: step 4/5")].count("measured error-rate = 0.0005: Successful") == 3


def test_bad_metrics_show_the_rollback_right_after_the_failed_measurement(tmp_path: Path) -> None:
    code, out = plan(manifest(tmp_path), "--metrics", "bad")
    assert code == 0, out
    failed = out.index("measured error-rate = 0.01: Failed")
    back = out.index("traffic: 2.0.0-previous 100%, 2.0.0 0%")
    assert failed < back < out.index("AnalysisFailed: rolling back")
    assert "Ends Degraded (AnalysisFailed)" in out
    assert "1 failed measurement (failureLimit 0)" in out
    assert "Then: the old version serves; a new spec or kubectl slipway retry web tries again" in out
    assert "50%" not in out.split("Rehearsal")[1]


@pytest.mark.parametrize(
    ("metrics", "ending"),
    [
        ("nodata", "Ends Paused (AnalysisInconclusive)"),
        ("error", "Ends Paused (ProviderErrors)"),
        ("flaky", "Ends Degraded (AnalysisFailed)"),
    ],
)
def test_what_other_metrics_lead_to(tmp_path: Path, metrics: str, ending: str) -> None:
    code, out = plan(manifest(tmp_path), "--metrics", metrics)
    assert code == 0, out
    assert ending in out
    assert "traffic: 2.0.0-previous 0%, 2.0.0 100%" not in out
    if ending.startswith("Ends Paused"):
        assert "Then: a person resumes, promotes or aborts (kubectl slipway resume|promote|abort web)" in out


def test_blue_green_and_rolling_plans(tmp_path: Path) -> None:
    code, out = plan(manifest(tmp_path, strategy={"blueGreen": {"prePromotionAnalysis": True}}))
    assert code == 0, out
    assert "step 1/3: preview: 4 pods, no traffic\n" in out
    assert "traffic: 2.0.0-previous 0%, 2.0.0 100%" in out
    assert "old pods go after 30s" in out
    code, out = plan(manifest(tmp_path, strategy={"rolling": {"maxSurge": 2}}))
    assert code == 0, out
    assert "traffic: 2.0.0-previous 50%, 2.0.0 50%" in out and "Ends Healthy (Promoted)" in out


def test_blue_green_says_what_each_wait_is_for(tmp_path: Path) -> None:
    timed = manifest(tmp_path, strategy={"blueGreen": {"autoPromotionSeconds": 90}})
    assert "step 2/3: pause 1m30s before switching (autoPromotionSeconds)\n" in plan(timed)[1]
    manual = manifest(tmp_path, strategy={"blueGreen": {"autoPromotion": False}})
    assert (
        "step 2/3: pause until promoted before switching (autoPromotion: false) (kubectl slipway promote web)"
        in plan(manual)[1]
    )


def test_rolling_with_max_surge_0_shows_old_pods_going_first(tmp_path: Path) -> None:
    code, out = plan(
        manifest(tmp_path, replicas=2, strategy={"rolling": {"maxSurge": 0, "maxUnavailable": 1}})
    )
    assert code == 0, out
    for line in (
        "rolling in 6 steps, 2 replicas:",
        "step 1/6: remove 1 old pod(s) first (maxUnavailable): 0 new, 1 old",
        "step 2/6: set weight 50% (pods: 1 new, 1 old)",
        "step 3/6: analysis gate (1 good in a row) of error-rate, measured every 30s: at least 30s",
        "failed measurements beyond failureLimit: all traffic back to the old version as soon as it has"
        " a ready pod, its 2 pods restored, new pods scaled to 0, Degraded (AnalysisFailed)",
        "Ends Healthy (Promoted)",
    ):
        assert line in out


def test_an_invalid_release_is_refused_naming_the_field(tmp_path: Path) -> None:
    code, out = plan(manifest(tmp_path, strategy={"canary": {"steps": [{"setWeight": 150}]}}))
    assert code == 1
    assert "spec.strategy.canary.steps[0].setWeight" in out


def test_a_file_without_a_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    code, out = plan(path)
    assert code == 2 and "holds no Release" in out


def test_a_promotion_gate_is_described_and_the_rollout_rehearsed_from_its_opening(tmp_path: Path) -> None:
    gate = {"from": {"namespace": "staging"}, "soak": "30m", "approval": "manual"}
    code, out = plan(manifest(tmp_path, promotion=gate))
    assert code == 0
    assert (
        "promotion: starts only once staging/web has run the version stable and Healthy for 30m,"
        " a person approved it (kubectl slipway approve web)" in out
    )
    assert "times from the promotion gate opening:" in out
    assert "Ends Healthy (Promoted)" in out  # the rehearsal promotes its `pause: {}` steps; no gate waits


def test_hooks_are_listed_with_when_they_run_and_the_rehearsal_promotes(tmp_path: Path) -> None:
    job = {"spec": {"containers": [{"name": "job", "image": "example/job"}]}}
    hooks = {
        "preDeploy": [
            {"name": "migrate", "template": job, "timeout": "5m"},
            {"name": "seed", "template": job},
        ],
        "postDeploy": [{"name": "smoke", "template": job, "timeout": "1m"}],
    }
    code, out = plan(manifest(tmp_path, hooks=hooks), "--metrics", "good")
    assert code == 0, out
    assert "preDeploy hooks, in order, before the new revision gets a pod" in out
    assert "migrate (timeout 5m), seed (timeout 10m)" in out
    assert "postDeploy hooks, in order, with all traffic on the new revision" in out and "smoke" in out
    ran = [line.split("  ")[-1] for line in out.splitlines() if "hook: " in line]
    assert ran == [f"hook: {hook} runs (a Job; it succeeds here)" for hook in HOOKS_IN_ORDER]
    assert out.index("hook: postDeploy smoke") < out.index("Promoting:")
    assert "Ends Healthy (Promoted)" in out


HOOKS_IN_ORDER = ("preDeploy migrate", "preDeploy seed", "postDeploy smoke")


def test_the_promotion_waits_for_a_good_measurement_only_where_one_can_be_taken(tmp_path: Path) -> None:
    """A canary with no traffic at the end of its steps cannot be measured: its promotion waits for
    nothing; a mirror (or a weight) is measured."""
    paused = {"canary": {"steps": [{"pause": {"duration": "1m"}}]}}
    code, out = plan(manifest(tmp_path, strategy=paused))
    assert code == 0, out
    assert "then: promotion, the new version gets 4 pods and all traffic" in out
    mirrored = {"canary": {"steps": [{"setMirror": {"percent": 20}}, {"pause": {"duration": "1m"}}]}}
    routing = {"gatewayAPI": {"parentRefs": [{"name": "gateway"}]}}
    code, out = plan(manifest(tmp_path, strategy=mirrored, trafficRouting=routing))
    assert code == 0, out
    assert "then: promotion, once the last measurement of every metric is good, the new" in out
    assert "(a weight, a match route or a mirror), is at a gate or waits for its promotion" in out

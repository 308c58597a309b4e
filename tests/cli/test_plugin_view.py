"""The `kubectl slipway` views, rendered from Release dicts shaped by the real status model."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console, RenderableType

from slipway.api.status import (
    AnalysisStatus,
    Condition,
    HistoryEntry,
    HookStatus,
    ManualActionRecord,
    MeasurementRecord,
    MetricStatus,
    ReleaseStatus,
    RevisionStatus,
    RollbackRecord,
)
from slipway.cli._plugin_view import (
    CURRENT_STEP_MARK,
    acknowledgement,
    canary_weight,
    history_table,
    human_duration,
    list_table,
    numbered_history,
    release_step,
    release_view,
    rollback_report,
    rollback_timeline,
    rollout_state,
)

NOW = datetime(2026, 11, 27, 15, 0, 0, tzinfo=UTC)


def render(renderable: RenderableType) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(renderable)
    return out.getvalue()


def line_with(text: str, needle: str) -> str:
    matching = [line for line in text.splitlines() if needle in line]
    assert len(matching) == 1, f"{needle!r} on {len(matching)} lines of:\n{text}"
    return matching[0]


ROOT = Path(__file__).resolve().parents[2]
CANARY_SPEC: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "canary.yaml").read_text())["spec"]
STEPS = [
    {"setWeight": 10},
    {"pause": {"duration": "2m"}},
    {"analysis": {"successfulMeasurements": 3}},
    {"setWeight": 50},
    {"pause": {}},
]


def canary_release(
    status: ReleaseStatus | None, *, name: str = "web", namespace: str = "shop"
) -> dict[str, Any]:
    release: dict[str, Any] = {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "resourceVersion": "42",
            "creationTimestamp": (NOW - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        },
        "spec": {**CANARY_SPEC, "version": "2.4.1", "replicas": 4, "strategy": {"canary": {"steps": STEPS}}},
    }
    if status is not None:
        release["status"] = status.to_api()
    return release


def progressing_status() -> ReleaseStatus:
    return ReleaseStatus(
        phase="Progressing",
        message="step 3/5: weight 10%, analysis 2/3 good",
        stable=RevisionStatus(revision="aaa111", version="2.4.0", replicas=4, ready_replicas=4, weight=90),
        canary=RevisionStatus(revision="bbb222", version="2.4.1", replicas=1, ready_replicas=1, weight=10),
        current_step=2,
        analysis=AnalysisStatus(
            revision="bbb222",
            started_at=NOW - timedelta(minutes=2),
            successful=2,
            measurements=[
                MeasurementRecord(
                    metric="error-rate",
                    revision="bbb222",
                    at=NOW - timedelta(seconds=30),
                    result="Successful",
                    value="0.0004",
                ),
                MeasurementRecord(
                    metric="latency-p95",
                    revision="bbb222",
                    at=NOW - timedelta(seconds=30),
                    result="Inconclusive",
                    message="no data",
                ),
            ],
        ),
        conditions=[
            Condition(type="Ready", status="False", reason="Progressing", last_transition_time=NOW),
            Condition(type="Reconciling", status="True", reason="Canary", last_transition_time=NOW),
        ],
        manual_actions=[ManualActionRecord(action="resume", value="t1", at=NOW, result="resumed at step 2")],
    )


def test_list_shows_version_phase_weight_step_and_age() -> None:
    text = render(list_table([canary_release(progressing_status())], NOW, with_namespace=False))
    header = line_with(text, "NAME")
    assert header.split() == ["NAME", "VERSION", "PHASE", "WEIGHT", "STEP", "AGE"]
    assert line_with(text, "web").split() == ["web", "2.4.1", "Progressing", "10%", "3/5", "5m"]


def test_the_canary_weight_is_status_canary_weight_or_for_an_older_status_the_canarys() -> None:
    def weight_of(status: dict[str, Any] | None) -> int | None:
        return canary_weight({"status": status} if status is not None else {})

    assert weight_of({"phase": "Progressing", "canaryWeight": 10, "canary": {"weight": 5}}) == 10
    assert weight_of({"phase": "Healthy", "canaryWeight": 0}) == 0
    # Written before canaryWeight existed: the canary revision's weight, 0 with no canary.
    assert weight_of({"phase": "Progressing", "canary": {"revision": "b", "weight": 25}}) == 25
    assert weight_of({"phase": "Healthy", "stable": {"revision": "a", "weight": 100}}) == 0
    assert weight_of(None) is None
    healthy = canary_release(progressing_status())
    healthy["status"] = {"phase": "Healthy", "canaryWeight": 0}
    assert line_with(render(list_table([healthy], NOW, with_namespace=False)), "web").split()[3] == "0%"


def test_list_all_namespaces_adds_the_namespace_and_sorts() -> None:
    releases = [
        canary_release(None, name="b", namespace="zz"),
        canary_release(None, name="a", namespace="zz"),
        canary_release(None, name="c", namespace="aa"),
    ]
    text = render(list_table(releases, NOW, with_namespace=True))
    rows = [line.split()[:2] for line in text.splitlines()[1:] if line.strip()]
    assert rows == [["aa", "c"], ["zz", "a"], ["zz", "b"]]
    # Not yet seen by the operator: no phase, weight or step, shown as "-".
    assert line_with(text, " c ").split()[3:6] == ["-", "-", "-"]


def test_get_marks_the_current_step_only() -> None:
    text = render(release_view(canary_release(progressing_status()), NOW))
    current = line_with(text, CURRENT_STEP_MARK)
    assert "analysis gate (3 good in a row)" in current and "current" in current
    assert "done" in line_with(text, "pause 2m")
    assert "done" not in line_with(text, "pause until promoted")


def test_get_shows_weights_measurements_conditions_and_actions() -> None:
    text = render(release_view(canary_release(progressing_status()), NOW))
    assert line_with(text, "aaa111").split()[1:] == ["stable", "aaa111", "2.4.0", "4/4", "90%"]
    assert line_with(text, "bbb222").split()[1:] == ["canary", "bbb222", "2.4.1", "1/1", "10%"]
    assert line_with(text, "error-rate").split()[:4] == ["error-rate", "0.0004", "Successful", "30s"]
    assert "Inconclusive" in line_with(text, "latency-p95") and "no data" in line_with(text, "latency-p95")
    assert line_with(text, "Reconciling").split()[:3] == ["Reconciling", "True", "Canary"]
    assert "resumed at step 2" in line_with(text, "resume ")
    assert "step 3/5: weight 10%, analysis 2/3 good" in text


def test_get_shows_the_last_run_of_each_hook() -> None:
    status = progressing_status().model_copy(
        update={
            "hooks": [
                HookStatus(
                    stage="preDeploy",
                    name="migrate",
                    revision="bbb222",
                    job="web-bbb222-pre-migrate-1",
                    result="Succeeded",
                    started_at=NOW - timedelta(minutes=3),
                )
            ]
        }
    )
    text = render(release_view(canary_release(status), NOW))
    assert line_with(text, "migrate").split() == [
        "preDeploy",
        "migrate",
        "bbb222",
        "Succeeded",
        "web-bbb222-pre-migrate-1",
        "3m",
        "-",
    ]
    assert "Hooks" not in render(release_view(canary_release(progressing_status()), NOW))


def test_a_release_without_status_says_the_operator_has_not_seen_it() -> None:
    text = render(release_view(canary_release(None), NOW))
    assert "no status yet" in text
    assert "Revisions" not in text and "Conditions" not in text and "Analysis" not in text
    assert "until promoted" in text  # the plan comes from the spec alone


@pytest.mark.parametrize("phase", ["Healthy", "Degraded", "RollingBack"])
def test_outside_a_rollout_no_step_is_marked(phase: str) -> None:
    status = ReleaseStatus(
        phase=phase,  # type: ignore[arg-type]
        stable=RevisionStatus(revision="bbb222", version="2.4.1", replicas=4, ready_replicas=4, weight=100),
        current_step=2,  # where a rolled-back attempt stopped: no longer in progress
    )
    release = canary_release(status)
    text = render(release_view(release, NOW))
    assert CURRENT_STEP_MARK not in text
    assert "done" not in text and "current" not in text
    assert release_step(release) == "-"


def rolled_back_status() -> ReleaseStatus:
    t0 = NOW - timedelta(minutes=30)
    return ReleaseStatus(
        phase="Degraded",
        message="rolled back: error-rate 0.31 above 0.001",
        stable=RevisionStatus(revision="bbb222", version="2.4.1", replicas=4, ready_replicas=4, weight=100),
        history=[
            HistoryEntry(
                revision="bbb222",
                version="2.4.1",
                outcome="Promoted",
                reason="AllStepsDone",
                started_at=t0,
                finished_at=t0 + timedelta(minutes=10),
            ),
            HistoryEntry(
                revision="ccc333",
                version="2.5.0",
                outcome="RolledBack",
                reason="AnalysisFailed",
                started_at=t0 + timedelta(minutes=20),
                finished_at=t0 + timedelta(minutes=25),
            ),
        ],
        last_rollback=RollbackRecord(
            reason="AnalysisFailed",
            metric="error-rate",
            value="0.31",
            threshold="max 0.001",
            at=t0 + timedelta(minutes=25),
            from_version="2.5.0",
            to_version="2.4.1",
        ),
    )


def event(name: str, uid: str, reason: str, at: datetime, kind: str = "Release") -> dict[str, Any]:
    return {
        "type": "Warning",
        "reason": reason,
        "message": f"{reason} happened",
        "lastTimestamp": at.isoformat(),
        "involvedObject": {"kind": kind, "name": name, "uid": uid},
    }


def test_report_orders_history_rollback_and_events_in_time() -> None:
    release = canary_release(rolled_back_status())
    rollback_at = NOW - timedelta(minutes=5)
    events = [
        event("web", "uid-web", "RolledBack", rollback_at + timedelta(seconds=1)),
        event("web", "uid-web", "MeasurementFailed", rollback_at - timedelta(seconds=1)),
        event("web", "uid-other", "OldIncarnation", rollback_at),  # a deleted and re-created Release
        event("api", "uid-api", "OtherRelease", rollback_at),
        event("web", "uid-web", "NotOurs", rollback_at, kind="Deployment"),
    ]
    timeline = rollback_timeline(release, events)
    texts = [entry.text for entry in timeline]
    assert [t.split(":")[0] for t in texts] == [
        "2.4.1 (bbb222) started",
        "2.4.1 (bbb222) Promoted",
        "2.5.0 (ccc333) started",
        "MeasurementFailed",
        "2.5.0 (ccc333) RolledBack",
        "rolled back 2.5.0 -> 2.4.1",
        "RolledBack",
    ]
    assert [entry.at for entry in timeline] == sorted(entry.at for entry in timeline if entry.at)


def test_report_covers_the_rolled_back_attempt_only() -> None:
    release = canary_release(rolled_back_status())
    text = render(rollback_report(release, [], NOW))
    assert "2.5.0 (ccc333) started" in text and "2.5.0 (ccc333) RolledBack" in text
    assert "2.4.1 (bbb222)" not in text  # the earlier, promoted attempt is history, not this story
    assert "Timeline since 2026-11-27 14:50:00" in text


def test_report_keeps_events_of_one_second_in_the_order_they_were_written() -> None:
    release = canary_release(rolled_back_status())
    at = NOW - timedelta(minutes=5)
    later = {**event("web", "uid-web", "RollbackDone", at), "metadata": {"resourceVersion": "120"}}
    earlier = {**event("web", "uid-web", "RollingBack", at), "metadata": {"resourceVersion": "99"}}
    texts = [entry.text for entry in rollback_timeline(release, [later, earlier])]
    assert texts.index("RollingBack: RollingBack happened") < texts.index(
        "RollbackDone: RollbackDone happened"
    )


def test_report_headline_names_metric_value_threshold_and_when() -> None:
    text = render(rollback_report(canary_release(rolled_back_status()), [], NOW))
    headline = text.splitlines()[0]
    assert "rolled back 2.5.0 -> 2.4.1" in headline
    assert "metric error-rate = 0.31, threshold max 0.001" in headline
    assert "5m ago" in headline
    assert "Degraded" in line_with(text, "Now:")


def test_report_without_rollback_says_so() -> None:
    text = render(rollback_report(canary_release(progressing_status()), [], NOW))
    assert "has not been rolled back" in text


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (9 * 3600, "9h"),
        (3 * 86400 + 3600, "3d1h"),
        (30 * 86400, "30d"),
        (800 * 86400, "2y"),
        (-5, "0s"),
    ],
)
def test_ages_read_like_kubectl(seconds: int, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_blue_green_steps_come_from_the_operators_plan() -> None:
    spec = yaml.safe_load((ROOT / "examples" / "blue-green.yaml").read_text())["spec"]
    status = ReleaseStatus(phase="Progressing", current_step=2)
    release = {"metadata": {"name": "shop", "namespace": "default"}, "spec": spec, "status": status.to_api()}
    text = render(release_view(release, NOW))
    assert CURRENT_STEP_MARK in line_with(text, "pause 30s")  # autoPromotionSeconds, the third step
    assert "done" in line_with(text, "preview: 2 pods, no traffic")
    assert "switch all traffic" in text
    assert release_step(release) == "3/5"


def test_an_invalid_spec_shows_no_steps_rather_than_failing() -> None:
    release = canary_release(progressing_status())
    release["spec"]["strategy"] = {"canary": {"steps": []}}
    text = render(release_view(release, NOW))
    assert "Steps" not in text and release_step(release) == "-"


def test_acknowledgement_is_for_this_very_request_only() -> None:
    status = ReleaseStatus(
        manual_actions=[
            ManualActionRecord(action="promote", value="v2", at=NOW, result="promoted past step 2/5")
        ]
    )
    release = canary_release(status)
    assert acknowledgement(release, "promote", "v2") == "promoted past step 2/5"
    assert acknowledgement(release, "promote", "v1") is None  # an older request's record
    assert acknowledgement(release, "abort", "v2") is None


def pod(name: str, revision: str, *, ready: bool) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"slipway.dev/release": "web", "slipway.dev/revision": revision},
            "creationTimestamp": (NOW - timedelta(minutes=3)).isoformat().replace("+00:00", "Z"),
        },
        "spec": {"nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.7",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_get_draws_each_revision_with_its_pods_under_it() -> None:
    pods = [pod("web-bbb222-x", "bbb222", ready=False), pod("web-aaa111-y", "aaa111", ready=True)]
    text = render(release_view(canary_release(progressing_status()), NOW, pods))
    lines = text.splitlines()
    needles = ("stable  aaa111", "web-aaa111-y", "canary  bbb222", "web-bbb222-x")
    order = [next(i for i, line in enumerate(lines) if needle in line) for needle in needles]
    assert order == sorted(order)
    assert line_with(text, "web-aaa111-y").split()[-4:] == ["web-aaa111-y", "Running", "ready", "3m"]
    assert "not ready" in line_with(text, "web-bbb222-x")
    wide = render(release_view(canary_release(progressing_status()), NOW, pods, wide=True))
    assert line_with(wide, "web-aaa111-y").split()[-2:] == ["10.0.0.7", "node-1"]


def test_outside_a_rollout_the_analysis_says_whose_attempt_it_was() -> None:
    """Healthy again after a rollback: the measurements kept are the rolled-back revision's, not a
    current attempt's."""
    status = rolled_back_status()
    status.phase = "Healthy"
    status.analysis = progressing_status().analysis
    assert status.analysis is not None
    status.analysis.revision = "ccc333"
    text = render(release_view(canary_release(status), NOW))
    assert "Analysis (last attempt, revision ccc333: successful 2," in text
    assert "this attempt" not in text


def test_the_gate_is_counted_by_the_core_not_by_the_attempts_totals() -> None:
    """Four good results during the pause, none since the gate began: the gate stands at 0/3, as the
    state machine's message says, while the attempt's totals say successful 4."""
    status = progressing_status()
    assert status.analysis is not None
    status.analysis.successful = 4
    status.analysis.metrics = [
        MetricStatus(name="error-rate", successful=4, consecutive_successful=0),
        MetricStatus(name="latency-p95", successful=4, consecutive_successful=0),
    ]
    status.message = "step 3/5: analysis gate (3 good in a row); canary weight 10%, analysis 0/3 good"
    text = render(release_view(canary_release(status), NOW))
    assert "Analysis (gate 0/3 good in a row; this attempt: successful 4," in text
    status.analysis.metrics[0].consecutive_successful = 2
    status.analysis.metrics[1].consecutive_successful = 1
    text = render(release_view(canary_release(status), NOW))
    assert "gate 1/3 good in a row" in text  # the slowest metric, as core.analysis.gate_progress counts


@pytest.mark.parametrize(
    ("phase", "serving", "state"),
    [
        ("Healthy", "2.4.1", "done"),
        ("Healthy", "2.4.0", "waiting"),
        ("Progressing", "2.4.0", "waiting"),
        ("Paused", "2.4.0", "waiting"),
        ("RollingBack", "2.4.0", "failed"),
        ("Degraded", "2.4.0", "failed"),
    ],
)
def test_rollout_state_is_done_only_when_healthy_on_the_desired_version(
    phase: str, serving: str, state: str
) -> None:
    status = ReleaseStatus(
        phase=phase,  # type: ignore[arg-type]
        message="rolled back to version 2.4.0" if phase == "Degraded" else "",
        stable=RevisionStatus(revision="aaa111", version=serving, weight=100),
    )
    got, line = rollout_state(canary_release(status))
    assert got == state and line.startswith("release shop/web: ")
    assert rollout_state(canary_release(None))[0] == "waiting"


def test_list_wide_and_history_wide_add_columns() -> None:
    text = render(list_table([canary_release(progressing_status())], NOW, with_namespace=False, wide=True))
    assert line_with(text, "NAME").split()[-4:] == ["STRATEGY", "STABLE", "CANARY", "MESSAGE"]
    assert "2.4.1 (bbb222)" in line_with(text, "web")
    status = ReleaseStatus(
        phase="Healthy",
        history=[
            HistoryEntry(
                revision="aaa111",
                version="2.4.0",
                outcome="Promoted",
                started_at=NOW - timedelta(minutes=7),
                finished_at=NOW - timedelta(minutes=2),
            )
        ],
    )
    release = canary_release(status)
    row = line_with(render(history_table(release, {"aaa111"}, wide=True)), "aaa111")
    assert row.split()[-2:] == ["yes", "5m"]  # RESTORABLE, then DURATION
    started = (NOW - timedelta(minutes=7)).strftime("%Y-%m-%dT%H:%M:%SZ")  # to the second, as the docs show
    assert row.split()[5] == started  # after REASON, absent here: -
    (numbered,) = numbered_history(release, set())
    assert numbered["no"] == 1 and numbered["revision"] == "aaa111" and numbered["restorable"] is False
    # Not allowed to list Deployments: not known, rather than "no".
    assert line_with(render(history_table(release, None)), "aaa111").split()[-1] == "?"
    assert numbered_history(release, None)[0]["restorable"] is None

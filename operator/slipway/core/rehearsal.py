"""What a Release will do, told in advance: its plan, and a rehearsal of the real state machine on a
simulated cluster, simulated metrics and a simulated clock (`slipway plan`).

The rehearsal deploys a previous version first (the first release of a Release goes straight to
Healthy), then the Release as written, and records every transition with the time it happens. A pause
that waits for a person is promoted by a simulated person, so the whole path is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from slipway.api.durations import format_duration, parse_duration
from slipway.api.models import Promotion, ReleaseSpec
from slipway.api.status import HookStage, ReleaseStatus
from slipway.core.actions import EmitEvent, RunHook, SetWeights
from slipway.core.hooks import hooks_of
from slipway.core.judge import format_range, threshold_of
from slipway.core.machine import WAITING_FOR_PROMOTE, Decision
from slipway.core.simulation import MetricsMode, SimulatedMetrics, Simulation
from slipway.core.strategies import Gate, Hold, Plan, Reroute, Shift, plan_for

START: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""The simulated clock starts here; only times relative to the new version's apply are shown."""
MAX_PASSES: Final = 2000
PREVIOUS_SUFFIX: Final = "-previous"


@dataclass(frozen=True)
class Moment:
    """Something that happened `after_seconds` after the new version was applied."""

    after_seconds: float
    text: str


@dataclass(frozen=True)
class Rehearsal:
    moments: list[Moment]
    status: ReleaseStatus
    finished: bool
    """False when the simulation stopped at the pass limit without an ending."""


def strategy_name(spec: ReleaseSpec) -> str:
    strategy = spec.strategy
    return "canary" if strategy.canary else "blue-green" if strategy.blue_green else "rolling"


def describe_plan(spec: ReleaseSpec, name: str) -> list[str]:
    """The plan as a reviewer reads it: each step, the promotion, the deadline and the analysis rules."""
    plan = plan_for(spec)
    lines = [f"{strategy_name(spec)} in {len(plan.steps)} steps, {spec.replicas} replicas:"]
    for number, step in enumerate(plan.steps, start=1):
        text = step.describe()
        if isinstance(step, Shift) and not step.label:
            text += f" (pods: {step.canary_replicas} new, {step.stable_replicas} old)"
        elif isinstance(step, Gate) and spec.analysis is not None:
            names = ", ".join(step.metrics or [m.name for m in spec.analysis.metrics])
            every = parse_duration(spec.analysis.interval)
            text += (
                f" of {names}, measured every {spec.analysis.interval}: "
                f"at least {format_duration(step.successes * every)}"
            )
        elif isinstance(step, Hold) and step.seconds is None:
            text += f" (kubectl slipway promote {name})"
        elif isinstance(step, Reroute):
            text += " (once the cluster is seen to hold it)"
        lines.append(f"  step {number}/{len(plan.steps)}: {text}")
    delay = plan.scale_down_delay_seconds
    old_pods = f"old pods go after {format_duration(delay)}" if delay else "old pods go at once"
    proof = ", once the last measurement of every metric is good" if spec.analysis and _measures(plan) else ""
    lines.append(
        f"  then: promotion{proof}, the new version gets {spec.replicas} pods and all traffic; {old_pods}"
    )
    rollback = spec.rollback
    lines.append(
        f"deadline: each step must progress within {rollback.progress_deadline_seconds}s beyond its planned"
        f" wait, else {'roll back' if rollback.on_progress_deadline == 'rollback' else 'pause'};"
        " a pause until promoted waits for a person with no deadline"
    )
    if spec.analysis is None:
        lines.append("analysis: none; nothing is measured")
    else:
        lines += _describe_analysis(spec)
    if rollback.alerts is not None:
        labels = ", ".join(f"{k}={v}" for k, v in rollback.alerts.match_labels.items())
        lines.append(f"alerts: a firing alert with {labels} rolls back at once")
    if spec.promotion is not None:
        lines.append(_describe_promotion(spec.promotion, name))
    lines += _describe_hooks(spec)
    return lines


def _describe_hooks(spec: ReleaseSpec) -> list[str]:
    when: dict[HookStage, str] = {
        "preDeploy": "before the new revision gets a pod; a failure leaves stable serving (Degraded)",
        "postDeploy": "with all traffic on the new revision, before promotion; a failure rolls back",
        "postRollback": "after a rollback; best effort",
    }
    lines = []
    for stage, meaning in when.items():
        hooks = hooks_of(spec, stage)
        if hooks:
            jobs = ", ".join(f"{hook.name} (timeout {hook.timeout})" for hook in hooks)
            lines.append(f"{stage} hooks, in order, {meaning}: {jobs}")
    return lines


def _describe_promotion(promotion: Promotion, name: str) -> str:
    source = f"{promotion.from_.namespace}/{promotion.from_.name or name}"
    text = f"promotion: starts only once {source} has run the version stable and Healthy for {promotion.soak}"
    if promotion.approval == "manual":
        text += f", a person approved it (kubectl slipway approve {name})"
    if promotion.windows:
        spans = "; ".join(f"{','.join(w.days)} {w.start}-{w.end}" for w in promotion.windows)
        text += f", inside a window (UTC: {spans})"
    return text + "; going back to a version that ran here is not gated"


def _measures(plan: Plan) -> bool:
    """Whether analysis measures the new version at some step: a gate, or traffic (a weight, a match
    route, a mirror). A plan that never does is promoted without waiting for a good measurement."""
    for index, step in enumerate(plan.steps):
        routing = plan.routing_at(index)
        if isinstance(step, Gate) or routing.routes or routing.mirror_percent:
            return True
        if isinstance(step, Shift) and step.canary_weight > 0:
            return True
    return False


def _describe_analysis(spec: ReleaseSpec) -> list[str]:
    assert spec.analysis is not None
    lines = [
        f"analysis: every {spec.analysis.interval} while the new version gets traffic (a weight, a match"
        " route or a mirror), is at a gate or waits for its promotion"
    ]
    for metric in spec.analysis.metrics:
        lines.append(
            f"  {metric.name}: good when {format_range(threshold_of(metric))}; "
            f"no data counts as {metric.on_no_data}; "
            f"failureLimit {metric.failure_limit}, inconclusiveLimit {metric.inconclusive_limit}, "
            f"consecutiveErrorLimit {metric.consecutive_error_limit}"
        )
    # A rolling update may have taken the old version's pods: traffic returns once one is ready again.
    back = (
        "all traffic back to the old version as soon as it has a ready pod,"
        f" its {spec.replicas} pods restored"
        if spec.strategy.rolling is not None
        else "all traffic back to the old version in one write"
    )
    on_failure = (
        f"{back}, new pods scaled to 0, Degraded (AnalysisFailed)"
        if spec.rollback.on_analysis_failure
        else "Paused (AnalysisFailed) until a person acts"
    )
    lines.append(f"  failed measurements beyond failureLimit: {on_failure}")
    lines.append("  inconclusive beyond inconclusiveLimit: Paused until a person resumes, promotes or aborts")
    lines.append(
        "  provider errors beyond consecutiveErrorLimit: Paused; carries on when the provider answers"
    )
    return lines


def _moments(
    decision: Decision, after_seconds: float, shown: set[tuple[str, datetime]], versions: dict[str, str]
) -> list[Moment]:
    """The measurements, traffic moves and Events of one pass, in the order they happened."""
    status = decision.status
    versions.update({rev.revision: rev.version for rev in (status.stable, status.canary) if rev is not None})
    moments = []
    for record in status.analysis.measurements if status.analysis is not None else []:
        if (record.metric, record.at) not in shown:
            shown.add((record.metric, record.at))
            value = f" = {record.value}" if record.value is not None else ""
            moments.append(Moment(after_seconds, f"measured {record.metric}{value}: {record.result}"))
    for action in decision.actions:
        if isinstance(action, SetWeights):
            # Every revision of the rehearsal, so the one a promotion leaves shows its 0%.
            weights = {revision: 0 for revision in versions} | dict(action.weights)
            split = ", ".join(f"{versions.get(rev, rev)} {weight}%" for rev, weight in weights.items())
            routes = "".join(f", route {route.name}" for route in action.routes)
            mirror = f", mirror {action.mirror_percent}%" if action.mirror_percent else ""
            moments.append(Moment(after_seconds, f"traffic: {split}{routes}{mirror}"))
        elif isinstance(action, EmitEvent):
            moments.append(Moment(after_seconds, f"{action.reason}: {action.message}"))
        elif isinstance(action, RunHook):
            moments.append(
                Moment(after_seconds, f"hook: {action.stage} {action.hook} runs (a Job; it succeeds here)")
            )
    return moments


def _needs_a_person(status: ReleaseStatus) -> bool:
    return status.phase == "Paused" and status.reason != WAITING_FOR_PROMOTE


def rehearse(spec: ReleaseSpec, metrics: MetricsMode) -> Rehearsal:
    """Run the real state machine on `spec` replacing a previous version, with simulated metrics.

    The promotion gate is described, not rehearsed: this is the rollout as it runs once the gate opens."""
    spec = spec.model_copy(update={"promotion": None})
    previous = spec.model_copy(update={"version": spec.version + PREVIOUS_SUFFIX})
    sim = Simulation(spec=previous, now=START, metrics=SimulatedMetrics(metrics))
    for _ in range(MAX_PASSES):
        decisions = sim.tick()
        if sim.status is not None and sim.status.phase == "Healthy":
            break
        sim.wait(decisions[-1])
    sim.change_spec(spec)
    applied = sim.now
    moments: list[Moment] = []
    shown: set[tuple[str, datetime]] = set()
    versions: dict[str, str] = {}
    for _ in range(MAX_PASSES):
        after = (sim.now - applied).total_seconds()
        decisions = sim.tick()
        for decision in decisions:
            moments += _moments(decision, after, shown, versions)
        status = decisions[-1].status
        if status.phase in ("Healthy", "Degraded") or _needs_a_person(status):
            return Rehearsal(moments, status, finished=True)
        if status.phase == "Paused":
            moments.append(Moment(after, "a person promotes (simulated)"))
            sim.cluster.annotate("promote", f"rehearsal-{len(moments)}")
            continue
        sim.wait(decisions[-1])
    return Rehearsal(moments, decisions[-1].status, finished=False)

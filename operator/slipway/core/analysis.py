"""Counting judged measurements and reading verdicts off the counters, for one attempt.

Limits are per metric and per attempt (an attempt is one try at rolling out one revision; a retry or
a new revision starts a fresh one):
- failures > failureLimit: the analysis failed (rollback, or Paused if rollback.onAnalysisFailure is off);
- consecutive errors > consecutiveErrorLimit: the provider is unusable, Paused (never promote blind);
- inconclusive > inconclusiveLimit: not enough data to decide, Paused.
A gate passes when each of its metrics has its count of Successful results in a row since the gate
began; any other result (Inconclusive, Error, Failed) restarts the run.
When the steps are done, the promotion waits until the last measurement of every metric is
Successful: within the limits, steps may otherwise end on errors or no data alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from slipway.api.durations import parse_duration
from slipway.api.models import AnalysisSpec, Metric
from slipway.api.status import MAX_MEASUREMENTS, AnalysisStatus, MeasurementRecord, MetricStatus
from slipway.core.judge import format_range, judge, threshold_of
from slipway.core.measurement import RawMeasurement
from slipway.core.strategies import Gate

VerdictReason = Literal["AnalysisFailed", "ProviderErrors", "AnalysisInconclusive"]


@dataclass(frozen=True)
class Verdict:
    """Why analysis stops the rollout, and the measurement that tipped it."""

    reason: VerdictReason
    metric: str
    message: str
    value: str | None = None
    threshold: str | None = None


def interval(spec: AnalysisSpec) -> timedelta:
    return timedelta(seconds=parse_duration(spec.interval))


def start(revision: str, spec: AnalysisSpec, now: datetime) -> AnalysisStatus:
    """A fresh analysis of `revision`; the first measurement is due as soon as it is active."""
    return AnalysisStatus(
        revision=revision, started_at=now, metrics=[MetricStatus(name=metric.name) for metric in spec.metrics]
    )


def _counters(analysis: AnalysisStatus, name: str) -> MetricStatus:
    for counters in analysis.metrics:
        if counters.name == name:
            return counters
    counters = MetricStatus(name=name)
    analysis.metrics.append(counters)
    return counters


def _count(
    analysis: AnalysisStatus, counters: MetricStatus, judged: MeasurementRecord, runs_since: datetime | None
) -> None:
    counters.last_measured_at = judged.at
    if judged.result == "Error":
        counters.errors += 1
        counters.consecutive_errors += 1
        counters.consecutive_successful = 0
        analysis.errors += 1
        return
    counters.consecutive_errors = 0
    if judged.result == "Successful":
        counters.successful += 1
        # Strictly after: a result taken the instant a gate began was asked for before it (its own
        # first request comes an interval later), e.g. handed in the pass whose promote entered it.
        if runs_since is None or judged.at > runs_since:
            counters.consecutive_successful += 1
        analysis.successful += 1
        return
    counters.consecutive_successful = 0
    if judged.result == "Failed":
        counters.failures += 1
        analysis.failures += 1
    else:
        counters.inconclusive += 1
        analysis.inconclusive += 1


def record(
    analysis: AnalysisStatus, spec: AnalysisSpec, raws: Iterable[RawMeasurement], runs_since: datetime | None
) -> int:
    """Judge and count new measurements of the analysed revision; returns how many were counted.

    Good results taken before `runs_since` (when the current gate began), or at that very instant, do
    not count toward the gate.

    Measurements of another revision, of an unknown metric, or not newer than the last one counted for
    their metric are ignored, so the shell may hand the same measurement twice (after a crash) safely.
    """
    metrics = {metric.name: metric for metric in spec.metrics}
    counted = 0
    for raw in sorted(raws, key=lambda raw: raw.at):
        metric = metrics.get(raw.metric)
        if metric is None or raw.revision != analysis.revision:
            continue
        counters = _counters(analysis, metric.name)
        if counters.last_measured_at is not None and raw.at <= counters.last_measured_at:
            continue
        judged = judge(metric, raw)
        _count(analysis, counters, judged, runs_since)
        analysis.measurements = [*analysis.measurements, judged][-MAX_MEASUREMENTS:]
        counted += 1
    return counted


def _last_failure(analysis: AnalysisStatus, name: str) -> MeasurementRecord | None:
    failed = [m for m in analysis.measurements if m.metric == name and m.result == "Failed"]
    return failed[-1] if failed else None


def verdict(analysis: AnalysisStatus, spec: AnalysisSpec) -> Verdict | None:
    """The first limit broken, failures before errors before inconclusive; None while within limits."""
    by_name = {counters.name: counters for counters in analysis.metrics}
    empty = MetricStatus(name="")
    for metric in spec.metrics:
        counters = by_name.get(metric.name, empty)
        if counters.failures > metric.failure_limit:
            return _failed(metric, counters, _last_failure(analysis, metric.name))
    for metric in spec.metrics:
        counters = by_name.get(metric.name, empty)
        if counters.consecutive_errors > metric.consecutive_error_limit:
            return Verdict(
                "ProviderErrors",
                metric.name,
                f"metric {metric.name}: {_plural(counters.consecutive_errors, 'provider error')} in a row "
                f"(consecutiveErrorLimit {metric.consecutive_error_limit})",
            )
        if counters.inconclusive > metric.inconclusive_limit:
            return Verdict(
                "AnalysisInconclusive",
                metric.name,
                f"metric {metric.name}: {_plural(counters.inconclusive, 'inconclusive measurement')} "
                f"(inconclusiveLimit {metric.inconclusive_limit})",
            )
    return None


def _plural(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _failed(metric: Metric, counters: MetricStatus, last: MeasurementRecord | None) -> Verdict:
    threshold = format_range(threshold_of(metric))
    value = last.value if last else None
    return Verdict(
        "AnalysisFailed",
        metric.name,
        f"metric {metric.name} = {value or '-'} (wanted {threshold}): "
        f"{_plural(counters.failures, 'failed measurement')} (failureLimit {metric.failure_limit})",
        value=value,
        threshold=threshold,
    )


def unproven(analysis: AnalysisStatus, spec: AnalysisSpec) -> dict[str, str | None]:
    """The metrics whose last measurement of the attempt is not Successful, each with that result (None
    without one): a promotion on them would be blind, as steps may end on errors or no data still
    within their limits. Read from the measurements kept, not from a field of their own, so that a
    status an older operator wrote, or an older CRD's schema pruned, reads the same. Each interval
    measures every metric (at most MAX_MEASUREMENTS of them), so each one's latest is kept, but for one
    answering late beside many others: it then waits for its next, which is the safe side."""
    last: dict[str, str] = {record.metric: record.result for record in analysis.measurements}
    results = {metric.name: last.get(metric.name) for metric in spec.metrics}
    return {name: result for name, result in results.items() if result != "Successful"}


def gate_progress(analysis: AnalysisStatus, gate: Gate, spec: AnalysisSpec) -> int:
    """Good results in a row of the gate's slowest metric (for messages)."""
    names = gate.metrics if gate.metrics is not None else tuple(metric.name for metric in spec.metrics)
    by_name = {counters.name: counters.consecutive_successful for counters in analysis.metrics}
    return min((by_name.get(name, 0) for name in names), default=0)


def gate_passed(analysis: AnalysisStatus, gate: Gate, spec: AnalysisSpec) -> bool:
    return gate_progress(analysis, gate, spec) >= gate.successes


def restart_runs(analysis: AnalysisStatus) -> None:
    """A gate begins: earlier good results do not count toward it."""
    for counters in analysis.metrics:
        counters.consecutive_successful = 0


def forgive(analysis: AnalysisStatus) -> None:
    """A person resumed after analysis paused the release: the broken limits start from zero again."""
    for counters in analysis.metrics:
        counters.failures = 0
        counters.inconclusive = 0
        counters.consecutive_errors = 0

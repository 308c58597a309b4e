"""The operator's own Prometheus metrics, in a registry of their own.

A dedicated registry keeps them apart from anything else in the process (tests run several operators
in one interpreter; the dev cluster runs pods that export metrics too).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from slipway.api.status import Phase

PHASES: tuple[Phase, ...] = get_args(Phase)

# Up to a minute: under load a pass, or its wait for a slot, can take longer than 10 s, and a p99 that
# only says "over 10 s" tells nothing.
_RECONCILE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _ReleaseSeries(Collector):
    """Each Release's phase and canary weight, turned into series only when scraped. A Gauge child per
    series (one per phase, and the weight) cost ~4 KiB per Release: 40 MiB at 10,000 Releases; this is
    one dict entry each."""

    def __init__(self) -> None:
        self.releases: dict[tuple[str, str], tuple[Phase, int]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        phase, weight = self.describe()
        for (namespace, release), (current, canary_weight) in list(self.releases.items()):
            for each in PHASES:
                phase.add_metric([namespace, release, each], 1 if each == current else 0)
            weight.add_metric([namespace, release], canary_weight)
        yield phase
        yield weight

    def describe(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "slipway_release_phase",
                "1 for the phase the Release is in, 0 for the others.",
                labels=["namespace", "release", "phase"],
            ),
            GaugeMetricFamily(
                "slipway_release_weight",
                "Percentage of traffic the canary (or preview) revision receives.",
                labels=["namespace", "release"],
            ),
        )


class OperatorMetrics:
    """What /metrics serves. Release series are removed with `forget_release` when a Release goes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._releases = _ReleaseSeries()
        self.registry.register(self._releases)
        self._transitions = Counter(
            "slipway_transitions",
            "Phase transitions of Releases.",
            ["from", "to"],
            registry=self.registry,
        )
        self._rollbacks = Counter(
            "slipway_rollbacks",
            "Rollbacks, by what caused them.",
            ["reason"],
            registry=self.registry,
        )
        self._measurements = Counter(
            "slipway_analysis_measurements",
            "Analysis measurements, by metric and how the core judged them.",
            ["metric", "outcome"],
            registry=self.registry,
        )
        self._reconcile = Histogram(
            "slipway_reconcile_duration_seconds",
            "Time one reconcile of one Release takes.",
            buckets=_RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self._waiting = Gauge(
            "slipway_releases_waiting",
            "Releases waiting at their promotion gate, by reason (WaitingForUpstream, Soaking, ...).",
            ["reason"],
            registry=self.registry,
        )
        self._waiting_for: dict[tuple[str, str], str] = {}
        self._notifications = Counter(
            "slipway_notifications",
            "Notifications, by notifier and result: delivered, failed (attempts used up, or refused) "
            "or dropped (the queue was full).",
            ["notifier", "result"],
            registry=self.registry,
        )
        self._api_requests = Counter(
            "slipway_api_requests",
            "Requests to the Kubernetes API, by verb and HTTP status code.",
            ["verb", "code"],
            registry=self.registry,
        )
        self._api_latency = Histogram(
            "slipway_api_request_duration_seconds",
            "Time from sending a request to the Kubernetes API until its answer began, as the operator "
            "saw it (its own connection and thread scheduling included), by verb.",
            ["verb"],
            buckets=_RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self._start_delay = Histogram(
            "slipway_reconcile_start_delay_seconds",
            "Time from when a pass its timer woke was due (the core asked for it then, or a retry) to "
            "its start: the timer's lateness and the wait for a slot.",
            buckets=_RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self._measurement_time = Histogram(
            "slipway_analysis_measurement_duration_seconds",
            "Time one analysis measurement took (its query to the metric provider, or its Job).",
            buckets=_RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self._queue_wait = Histogram(
            "slipway_reconcile_queue_seconds",
            "Time a Release's pass waited for one of the passes in flight to end before it could start.",
            buckets=_RECONCILE_BUCKETS,
            registry=self.registry,
        )

    def set_release(self, namespace: str, release: str, phase: Phase, weight: int) -> None:
        self._releases.releases[(namespace, release)] = (phase, weight)

    def forget_release(self, namespace: str, release: str) -> None:
        self._releases.releases.pop((namespace, release), None)
        self.set_waiting(namespace, release, None)

    def set_waiting(self, namespace: str, release: str, reason: str | None) -> None:
        """What the Release waits for at its promotion gate; None when it does not wait."""
        before = self._waiting_for.pop((namespace, release), None)
        if reason is not None:
            self._waiting_for[(namespace, release)] = reason
        for each in {before, reason} - {None}:
            count = sum(1 for waiting in self._waiting_for.values() if waiting == each)
            self._waiting.labels(each).set(count)

    def transition(self, before: Phase | None, after: Phase) -> None:
        """A phase change; `before` is None for a Release seen for the first time."""
        self._transitions.labels(before or "", after).inc()

    def rollback(self, reason: str) -> None:
        self._rollbacks.labels(reason).inc()

    def measurement(self, metric: str, outcome: str) -> None:
        self._measurements.labels(metric, outcome).inc()

    def notification(self, notifier: str, result: str) -> None:
        self._notifications.labels(notifier, result).inc()

    def reconciled(self, seconds: float) -> None:
        self._reconcile.observe(seconds)

    def api_request(self, verb: str, code: int, seconds: float) -> None:
        """Matches `slipway.kube.client.ResponseHook`, so KubeApi can report every response here."""
        self._api_requests.labels(verb, str(code)).inc()
        self._api_latency.labels(verb).observe(seconds)

    def started_late(self, seconds: float) -> None:
        self._start_delay.observe(seconds)

    def measured(self, seconds: float) -> None:
        self._measurement_time.observe(seconds)

    def queued(self, seconds: float) -> None:
        self._queue_wait.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

"""The PrometheusRule a Release owns: the guide's HighErrorRate and HighResponseTime alerts, built pure.

One alert of each kind per revision that serves traffic (the routing the core states), so the live
version is always the one watched and the alert names the revision and version that fail. The
expressions are the builtin error-rate and latency-p95 queries (`providers.builtin`), so an alert and
an analysis read the same series the same way. Each alert carries the labels the alert source matches
a Release by (its namespace and name, `AlertmanagerConfig`), so `rollback.alerts` picks them up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from slipway.alerts.alertmanager import REVISION_LABEL, VERSION_LABEL, AlertmanagerConfig
from slipway.api.durations import parse_duration
from slipway.api.models import AlertRules
from slipway.manifests import Obj, ReleaseRef, owned_metadata
from slipway.providers._promql import escape_label_value
from slipway.providers.base import render
from slipway.providers.builtin import BuiltinMetricsConfig, builtin_query

API_VERSION: Final = "monitoring.coreos.com/v1"
KIND: Final = "PrometheusRule"
RATE_WINDOW_SECONDS: Final = 60
"""The rate window of both expressions: a minute of requests, however often Prometheus scrapes."""


def prometheus_duration(text: str) -> str:
    """A Release duration ("1.5m", "90s") in the form Prometheus reads: whole seconds, else milliseconds
    (Prometheus durations take no fractions)."""
    milliseconds = round(parse_duration(text) * 1000)
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def rule_groups(
    release: ReleaseRef,
    rules: AlertRules,
    live: Mapping[str, str],
    names: BuiltinMetricsConfig,
    identity: AlertmanagerConfig,
) -> list[Obj]:
    """The rule groups (Prometheus rule-file form) watching the revisions `live` (revision -> version)."""
    alerts = [
        alert
        for revision, version in sorted(live.items())
        for alert in _revision_alerts(release, rules, revision, version, names, identity)
    ]
    return [{"name": f"slipway.{release.namespace}.{release.name}", "rules": alerts}]


def _revision_alerts(
    release: ReleaseRef,
    rules: AlertRules,
    revision: str,
    version: str,
    names: BuiltinMetricsConfig,
    identity: AlertmanagerConfig,
) -> list[Obj]:
    values = {"namespace": release.namespace, "release": release.name, "revision": revision}
    labels = {
        identity.namespace_label: release.namespace,
        identity.release_label: release.name,
        VERSION_LABEL: version,
        REVISION_LABEL: revision,
    }
    where = f"Release {release.namespace}/{release.name} version {version} (revision {revision})"

    def alert(name: str, builtin: str, threshold: float, for_: str, severity: str, what: str) -> Obj:
        query = render(builtin_query(builtin, names, RATE_WINDOW_SECONDS), values, escape_label_value)
        return {
            "alert": name,
            "expr": f"({query}) > {threshold!r}",
            "for": prometheus_duration(for_),
            "labels": {**labels, "severity": severity},
            "annotations": {"summary": f"{where}: {what} above {threshold:g}"},
        }

    errors, latency = rules.high_error_rate, rules.high_response_time
    return [
        alert("HighErrorRate", "error-rate", errors.max, errors.for_, errors.severity, "error rate"),
        alert(
            "HighResponseTime",
            "latency-p95",
            latency.max_seconds,
            latency.for_,
            latency.severity,
            "p95 response time (s)",
        ),
    ]


def prometheus_rule(release: ReleaseRef, groups: list[Obj]) -> Obj:
    """The PrometheusRule `<release>`, owned by the Release and labelled managed-by slipway."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": owned_metadata(release, release.name),
        "spec": {"groups": groups},
    }

"""Whether this operator, with its config, can carry out a valid Release spec at all.

Checked before anything is created for the spec: a Release that names a back-end the operator has not
been given, or a web host outside the allow-list, is refused with a message naming the field, instead of
failing measurement after measurement once its pods already run. Pure: the spec and the config in, the
obstacles out (empty when the operator can carry it out).
"""

from __future__ import annotations

import re

from yarl import URL

from slipway.api.models import Metric, ReleaseSpec
from slipway.core.obstacles import Obstacle
from slipway.providers.web import host_allowed
from slipway.runtime.config import OperatorConfig


def preflight(spec: ReleaseSpec, config: OperatorConfig) -> tuple[Obstacle, ...]:
    """Everything in `spec` this operator cannot carry out with `config`."""
    obstacles = [
        obstacle
        for index, metric in enumerate(spec.analysis.metrics if spec.analysis else [])
        for obstacle in _metric_obstacles(metric, f"spec.analysis.metrics[{index}]", config)
    ]
    if spec.rollback.alerts is not None and config.alertmanager.url is None:
        obstacles.append(
            Obstacle(
                "AlertmanagerNotConfigured",
                "spec.rollback.alerts",
                "alerts need Alertmanager, and the operator config sets no alertmanager.url",
            )
        )
    return tuple(obstacles)


def _metric_obstacles(metric: Metric, field: str, config: OperatorConfig) -> list[Obstacle]:
    if (metric.builtin is not None or metric.prometheus is not None) and config.prometheus.url is None:
        kind = "builtin" if metric.builtin is not None else "prometheus"
        return [
            Obstacle(
                "PrometheusNotConfigured",
                f"{field}.{kind}",
                f"metric {metric.name!r} needs Prometheus, and the operator config sets no prometheus.url",
            )
        ]
    if metric.web is not None:
        authority = re.split(r"[/?#]", metric.web.url.split("//", 1)[-1], maxsplit=1)[0]
        # A host made of placeholders is only known at measurement time, where the provider checks it.
        if "{{" in authority:
            return []
        url = URL(metric.web.url)
        if not host_allowed(url, config.web):
            allowed = ", ".join(config.web.allowed_hosts) or "none"
            return [
                Obstacle(
                    "HostNotAllowed",
                    f"{field}.web.url",
                    f"host {url.host!r} is not in the operator config's web.allowedHosts ({allowed}); "
                    "the operator calls no other address",
                )
            ]
    return []

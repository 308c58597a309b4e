"""Alertmanager as an alert source: which alerts fire for one Release right now.

An alert counts for a Release when it carries the Release's identity (its namespace and name, under
the label names the operator config gives) and every label of the Release's `rollback.alerts
.matchLabels`. Silenced and inhibited alerts never count: a person has already decided about them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Final

import aiohttp
from pydantic import Field

from slipway.api.models import ReleaseSpec
from slipway.core.observations import FiringAlert
from slipway.core.obstacles import Obstacle
from slipway.manifests import ReleaseRef
from slipway.runtime.config import HttpUrl, LabelName, PluginSection
from slipway.runtime.redaction import redact

REVISION_LABEL: Final = "revision"
"""The alert label naming the revision an alert is about (the generated rules set it, alerts/rules.py)."""
VERSION_LABEL: Final = "version"


class AlertmanagerConfig(PluginSection):
    """Which Alertmanager to ask, and the alert labels that name a Release."""

    key: ClassVar[str] = "alertmanager"

    url: HttpUrl | None = Field(None, description="Base URL of Alertmanager; unset = alerts never checked.")
    timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one request.")
    namespace_label: LabelName = Field("namespace", description="Alert label that names the namespace.")
    release_label: LabelName = Field("release", description="Alert label that names the Release.")


class AlertmanagerUnavailable(RuntimeError):
    """Alertmanager could not be asked; the caller cannot tell whether anything is firing."""


# No answer, or one that is not a list of alerts: either way nobody knows what fires.
_UNANSWERED = (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError, AttributeError)


def alerts_for_release(
    alerts: list[dict[str, Any]],
    namespace: str,
    release: str,
    match_labels: Mapping[str, str],
    config: AlertmanagerConfig,
) -> tuple[FiringAlert, ...]:
    """The alerts of an Alertmanager API v2 answer that are active and match the Release, oldest first."""
    wanted = {**match_labels, config.namespace_label: namespace, config.release_label: release}
    firing = []
    for alert in alerts:
        labels: dict[str, str] = alert.get("labels", {})
        if alert.get("status", {}).get("state") != "active":
            continue
        if all(labels.get(key) == value for key, value in wanted.items()):
            firing.append(
                FiringAlert(
                    name=labels.get("alertname", ""),
                    summary=(alert.get("annotations") or {}).get("summary", ""),
                    starts_at=datetime.fromisoformat(alert["startsAt"]),
                    revision=labels.get(REVISION_LABEL),
                )
            )
    return tuple(sorted(firing, key=lambda alert: (alert.starts_at, alert.name)))


class AlertmanagerSource:
    """Asks one Alertmanager (API v2), through the operator's shared HTTP session."""

    def __init__(self, session: aiohttp.ClientSession, config: AlertmanagerConfig) -> None:
        self._session = session
        self._config = config

    async def firing(self, release: ReleaseRef, match_labels: Mapping[str, str]) -> tuple[FiringAlert, ...]:
        """Raises AlertmanagerUnavailable when it cannot tell: unknown is not "none firing"."""
        config = self._config
        if config.url is None:
            raise AlertmanagerUnavailable(
                "no Alertmanager configured (alertmanager.url in the operator config)"
            )
        try:
            async with self._session.get(
                f"{config.url}/api/v2/alerts",
                params={"active": "true", "silenced": "false", "inhibited": "false"},
                timeout=aiohttp.ClientTimeout(total=config.timeout_seconds),
            ) as response:
                response.raise_for_status()
                alerts = await response.json(content_type=None)
            return alerts_for_release(alerts, release.namespace, release.name, match_labels, config)
        except _UNANSWERED as failure:
            # The URL may carry credentials, and so may the failure's text (it can quote the URL).
            reason = str(failure) or type(failure).__name__
            raise AlertmanagerUnavailable(redact(f"Alertmanager at {config.url}: {reason}")) from failure


def ready(spec: ReleaseSpec, config: AlertmanagerConfig) -> tuple[Obstacle, ...]:
    """Rollback on alerts needs an Alertmanager to ask."""
    if spec.rollback.alerts is None or config.url is not None:
        return ()
    return (
        Obstacle(
            "AlertmanagerNotConfigured",
            "spec.rollback.alerts",
            "alerts need Alertmanager, and the operator config sets no alertmanager.url",
        ),
    )

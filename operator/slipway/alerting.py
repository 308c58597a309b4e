"""Firing Alertmanager alerts that concern one Release.

An alert counts for a Release when it carries the Release's identity (its namespace and name, under
the label names the operator config gives) and every label of the Release's `rollback.alerts
.matchLabels`. Silenced and inhibited alerts never count: a person has already decided about them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from slipway.config import AlertmanagerConfig


@dataclass(frozen=True)
class FiringAlert:
    name: str
    labels: Mapping[str, str]
    starts_at: datetime


class AlertmanagerUnavailable(RuntimeError):
    """Alertmanager could not be asked; the caller cannot tell whether anything is firing."""


def alerts_for_release(
    alerts: list[dict[str, Any]],
    namespace: str,
    release: str,
    match_labels: Mapping[str, str],
    config: AlertmanagerConfig,
) -> list[FiringAlert]:
    """The alerts of an Alertmanager API v2 answer that are active and match the Release."""
    wanted = {**match_labels, config.namespace_label: namespace, config.release_label: release}
    firing = []
    for alert in alerts:
        labels: dict[str, str] = alert.get("labels", {})
        if alert.get("status", {}).get("state") != "active":
            continue
        if all(labels.get(key) == value for key, value in wanted.items()):
            starts_at = datetime.fromisoformat(alert["startsAt"])
            firing.append(FiringAlert(name=labels.get("alertname", ""), labels=labels, starts_at=starts_at))
    return sorted(firing, key=lambda alert: (alert.starts_at, alert.name))


async def firing_alerts(
    session: aiohttp.ClientSession,
    config: AlertmanagerConfig,
    namespace: str,
    release: str,
    match_labels: Mapping[str, str],
) -> list[FiringAlert]:
    """Ask Alertmanager (API v2) which alerts fire for the Release right now."""
    if config.url is None:
        raise AlertmanagerUnavailable("no Alertmanager configured (alertmanager.url in the operator config)")
    try:
        async with session.get(
            f"{config.url}/api/v2/alerts",
            params={"active": "true", "silenced": "false", "inhibited": "false"},
            timeout=aiohttp.ClientTimeout(total=config.timeout_seconds),
        ) as response:
            response.raise_for_status()
            alerts = await response.json(content_type=None)
        return alerts_for_release(alerts, namespace, release, match_labels, config)
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError, AttributeError) as failure:
        reason = str(failure) or type(failure).__name__
        raise AlertmanagerUnavailable(f"Alertmanager at {config.url}: {reason}") from failure

"""Issue 13: credentials in a configured URL never reach what others can read. With Alertmanager and
Prometheus configured at URLs carrying `user:password@` and neither answering, the password is in no
Release status, no Event, no line of the operator's log and nowhere in its /metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from e2e_support import E2E, Cluster, Operator, closed_port, release_manifest, wait_for

pytestmark = E2E

PASSWORD = "s3cr3t-Pa55word"


def test_no_password_of_a_configured_url_is_shown_after_an_outage(
    cluster: Cluster, operator_factory: Callable[..., Operator]
) -> None:
    at = f"http://slipway:{PASSWORD}@127.0.0.1"
    operator = operator_factory(
        alertmanager={"url": f"{at}:{closed_port()}", "timeoutSeconds": 1},
        prometheus={"url": f"{at}:{closed_port()}", "timeoutSeconds": 1},
    )
    for name in ("web", "api"):
        cluster.apply(release_manifest("1", name=name))
        cluster.wait_phase("Healthy", "1", timeout=30, name=name)
    steps = [{"setWeight": 50}, {"analysis": {"successfulMeasurements": 1}}]
    rollback = {"alerts": {"matchLabels": {"severity": "critical"}}, "progressDeadlineSeconds": 60}
    cluster.apply(release_manifest("2", name="web", steps=steps, rollback=rollback))
    error_rate = {"name": "error-rate", "prometheus": {"query": "vector(0)"}, "thresholdRange": {"max": 1}}
    cluster.apply(release_manifest("2", name="api", steps=steps, metrics=[error_rate]))

    def alerts_unknown() -> dict[str, Any] | None:
        status = cluster.status("web")
        return status if status.get("reason") == "AlertsUnknown" else None

    def measurement_failed() -> str | None:
        measurements = (cluster.status("api").get("analysis") or {}).get("measurements") or []
        return next((m["message"] for m in measurements if m["result"] == "Error"), None)

    held = wait_for(alerts_unknown, 30, "web paused on an unknown alert state")
    assert "Alertmanager at http://***@127.0.0.1:" in held["message"]
    error = wait_for(measurement_failed, 30, "a failed Prometheus measurement of api")
    assert "Prometheus at http://***@127.0.0.1:" in error
    wait_for(
        lambda: any(e["reason"] == "AlertsUnknown" for e in cluster.events()), 10, "the AlertsUnknown Event"
    )
    wait_for(lambda: operator.said("alerts unknown"), 10, "the operator to log the unknown alert state")

    _, metrics = operator.get("/metrics")
    shown = {
        "status": json.dumps([cluster.release("web"), cluster.release("api")]),
        "events": json.dumps(cluster.events()),
        "log": operator.log.read_text(),
        "/metrics": metrics,
    }
    assert "Alertmanager at http://***@" in shown["log"]
    assert [where for where, text in shown.items() if PASSWORD in text] == []

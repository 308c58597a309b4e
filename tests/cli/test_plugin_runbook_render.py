"""The runbook as a pure function of API objects: the parts a dev-cluster Release cannot show yet
(hooks, alertRules, a PrometheusRule, a promotion chain), sections with no data, and escaping."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from slipway.cli._plugin_runbook import render, runbook

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ACTIONS = {"slipway.dev/abort": "Roll back to the stable revision now."}


def bare(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "version": "2",
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "app", "image": "shop/web:2"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}]}},
            **spec,
        },
    }


def markdown_of(release: dict[str, Any], rule: dict[str, Any] | None = None, chain: Any = ()) -> str:
    return render(runbook(release, [], rule, chain or [release], ACTIONS, NOW), "markdown")


def test_a_release_without_the_data_says_so_in_every_section() -> None:
    text = markdown_of(bare())
    for missing in (
        "No data: no slipway.dev/description annotation describes this service.",
        "No data: no slipway.dev/dependencies annotation lists",
        "No data: the Release has no labels.",
        "No data: spec.hooks sets no deploy hooks.",
        "No data: spec.promotion is not set",
        "No data: no container of spec.template defines a probe",
        "No data: spec.analysis sets no metrics",
        "No data: this Release has no rollback on record.",
        "No data: the slipway.dev/owner annotation is not set on the Release.",
        "No data: the slipway.dev/oncall annotation is not set on the Release.",
        "No data: the slipway.dev/escalation annotation is not set on the Release.",
        "on a firing alert no (spec.rollback.alerts is not set).",
    ):
        assert missing in text
    assert "Owner: none (slipway.dev/owner is not set)" in text


def test_each_missing_contact_annotation_is_its_own_no_data_line() -> None:
    release = bare()
    release["metadata"]["annotations"] = {"slipway.dev/owner": "team-pay", "slipway.dev/oncall": "pay-oncall"}
    contacts = markdown_of(release).split("Emergency contacts and escalation")[-1]
    assert "| `slipway.dev/owner` | team-pay |" in contacts
    assert "| `slipway.dev/oncall` | pay-oncall |" in contacts
    assert "No data: the slipway.dev/escalation annotation is not set on the Release." in contacts
    assert contacts.count("No data") == 1


def test_hooks_alert_rules_and_the_promotion_chain_are_read_from_the_raw_spec() -> None:
    job = {"spec": {"containers": [{"name": "m", "image": "shop/migrate:2"}]}}
    release = bare(
        hooks={"preDeploy": [{"name": "migrate", "template": job, "timeout": "10m"}]},
        alertRules={"highErrorRate": {"max": 0.05, "for": "2m", "severity": "critical"}},
        rollback={"alerts": {"matchLabels": {"severity": "critical"}}},
        promotion={"from": {"namespace": "staging"}, "soak": "30m", "approval": "manual"},
    )
    release["status"] = {"hooks": [{"stage": "preDeploy", "name": "migrate", "result": "Succeeded"}]}
    upstream = {"metadata": {"name": "web", "namespace": "staging"}, "spec": {"version": "2"}}
    text = markdown_of(release, chain=[upstream, release])
    hook = "preDeploy `migrate` (before the new version gets any traffic): Job of shop/migrate:2"
    assert f"{hook}, timeout 10m; last result: Succeeded" in text
    assert "Upstream: `staging/web`" in text and "approval: manual" in text
    assert "staging" in text.split("```sh")[1]  # the chain as `kubectl slipway pipeline` draws it
    # The error-rate alert as set, the response-time one with the guide's defaults; a critical one
    # matches rollback.alerts, a warning does not.
    assert (
        "| `HighErrorRate` | share of requests answered 5xx above 0.05 for 2m | critical | During a rollout"
        in text
    )
    assert "| `HighResponseTime` | response time above 1 s for 5m | warning | Slipway does not act" in text

    assert "on a firing alert yes, during a rollout, when the alert's labels match severity=critical" in text

    off = markdown_of(bare(alertRules={"enabled": False}))
    assert "No data: spec.alertRules.enabled is false" in off


def test_the_prometheus_rule_on_the_cluster_is_shown_as_it_is() -> None:
    rule = {
        "metadata": {"name": "web"},
        "spec": {
            "groups": [
                {
                    "name": "web",
                    "rules": [
                        {"record": "x"},
                        {
                            "alert": "HighErrorRate",
                            "expr": "a | b > 0.01",
                            "for": "1m",
                            "labels": {"severity": "critical"},
                        },
                    ],
                }
            ]
        },
    }
    text = markdown_of(bare(), rule)
    assert "From the PrometheusRule `web`" in text
    assert "| `HighErrorRate` | `a \\| b > 0.01` for 1m | critical | Slipway does not act" in text


class Checked(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag != "meta":
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag


def test_values_from_the_cluster_are_escaped_in_both_formats() -> None:
    hostile = "<script>alert(1)</script> [x](http://evil) | `y` *z*"
    release = bare()
    release["metadata"]["annotations"] = {"slipway.dev/description": hostile, "slipway.dev/oncall": "a & b"}
    release["metadata"]["labels"] = {"x": "1|2"}
    html = render(runbook(release, [], None, [release], ACTIONS, NOW), "html")
    checked = Checked()
    checked.feed(html)
    assert checked.open == [] and "script" not in checked.tags and "a" not in checked.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "a &amp; b" in html

    markdown = markdown_of(release)
    assert "\\<script>alert(1)\\</script> \\[x\\](http://evil) \\| \\`y\\` \\*z\\*" in markdown
    assert "| `x` | 1\\|2 |" in markdown


def test_a_hooks_last_result_names_its_revision_and_post_deploy_runs_before_promotion() -> None:
    job = {"spec": {"containers": [{"name": "s", "image": "shop/smoke:2"}]}}
    hooks = {
        "preDeploy": [{"name": "smoke", "template": job, "timeout": "1m"}],
        "postDeploy": [{"name": "smoke", "template": job, "timeout": "5m"}],
    }
    release = bare(hooks=hooks)
    old = {"stage": "postDeploy", "name": "smoke", "revision": "0ld0ld", "result": "Failed"}
    pre = {"stage": "preDeploy", "name": "smoke", "revision": "5tab1e", "result": "Succeeded"}
    release["status"] = {"stable": {"revision": "5tab1e", "version": "1"}, "hooks": [old, pre]}
    text = markdown_of(release)
    assert (
        "postDeploy `smoke` (once the new version serves all traffic, before it is promoted; failure rolls"
        " back): Job of shop/smoke:2, timeout 5m;"
        " last result: Failed, for revision 0ld0ld (an older revision, no longer running)"
    ) in text
    # A preDeploy hook of the same name has its own result.
    assert (
        "preDeploy `smoke` (before the new version gets any traffic): Job of shop/smoke:2, timeout 1m;"
        " last result: Succeeded, for revision 5tab1e (the stable revision)"
    ) in text

"""Rule files rendered from PrometheusRules (slipway_dev/rules.py): only objects that changed are
rendered again, and what is rendered is each object's `spec.groups` as a rule file."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from slipway_dev import rules
from slipway_dev.rules import RenderedRules


def prometheus_rule(name: str, version: str, expr: str) -> dict[str, Any]:
    groups = [{"name": name, "rules": [{"alert": "Down", "expr": expr, "for": "0s"}]}]
    return {
        "metadata": {"namespace": "shop", "name": name, "resourceVersion": version},
        "spec": {"groups": groups},
    }


def test_only_rules_whose_resource_version_changed_are_rendered_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered: list[str] = []
    render = rules.rule_file

    def counting(rule: dict[str, Any]) -> str:
        rendered.append(rule["metadata"]["name"])
        return render(rule)

    monkeypatch.setattr(rules, "rule_file", counting)
    files = RenderedRules()
    first = files.files([prometheus_rule("web", "1", "up == 0"), prometheus_rule("api", "2", "up == 0")])
    assert sorted(rendered) == ["api", "web"]
    assert yaml.safe_load(first["shop_web.yml"]) == {
        "groups": prometheus_rule("web", "1", "up == 0")["spec"]["groups"]
    }
    rendered.clear()
    second = files.files([prometheus_rule("web", "3", "up < 1"), prometheus_rule("api", "2", "up == 0")])
    assert rendered == ["web"]
    assert second["shop_api.yml"] == first["shop_api.yml"]
    assert yaml.safe_load(second["shop_web.yml"])["groups"][0]["rules"][0]["expr"] == "up < 1"
    rendered.clear()
    assert files.files([prometheus_rule("api", "2", "up == 0")]) == {"shop_api.yml": first["shop_api.yml"]}
    assert rendered == []
    files.files([prometheus_rule("web", "3", "up < 1")])  # deleted and created again: rendered again
    assert rendered == ["web"]


def test_a_rule_file_reads_back_as_the_objects_groups_whichever_emitter_wrote_it() -> None:
    rule = prometheus_rule("web", "1", 'sum(rate(x{code=~"5.."}[1m])) > 0.01')
    assert yaml.safe_load(rules.rule_file(rule)) == {"groups": rule["spec"]["groups"]}
    assert rules.rule_file(rule) == yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False)

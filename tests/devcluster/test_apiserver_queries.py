"""JSONPath, selectors and ages as the server evaluates them for printer columns, lists and watches."""

from __future__ import annotations

import pytest

from slipway.devcluster.apiserver.errors import ApiError
from slipway.devcluster.apiserver.jsonpath import JsonPathError, evaluate
from slipway.devcluster.apiserver.selectors import labels_match, parse_field_selector, parse_label_selector
from slipway.devcluster.apiserver.tables import human_duration

RELEASE = {
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/name": "web", "tier": "front"},
    },
    "status": {
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Stalled", "status": "False"}],
        "replicas": [{"n": 1}, {"n": 5}],
    },
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (".metadata.name", ["web"]),
        ("{.metadata.name}", ["web"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type=='Stalled')].status", ["False"]),
        (".status.conditions[*].type", ["Ready", "Stalled"]),
        (".status.conditions[1].type", ["Stalled"]),
        (".status.conditions[-1].type", ["Stalled"]),
        (".status.replicas[?(@.n > 2)].n", [5]),
        (".status.conditions[?(@.reason)].type", []),
        (r".metadata.labels.app\.kubernetes\.io/name", ["web"]),
        (".metadata.labels['app.kubernetes.io/name']", ["web"]),
        (".spec.missing", []),
    ],
)
def test_jsonpath(expression: str, expected: list[object]) -> None:
    assert evaluate(RELEASE, expression) == expected


@pytest.mark.parametrize("expression", [".a[?(@.b ~ 1)]", ".a[", ".a[x]"])
def test_bad_jsonpath(expression: str) -> None:
    with pytest.raises(JsonPathError):
        evaluate(RELEASE, expression)


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("tier=front", True),
        ("tier==front,app.kubernetes.io/name=web", True),
        ("tier!=front", False),
        ("tier!=back", True),
        ("missing!=x", True),
        ("tier in (front, back)", True),
        ("tier notin (front)", False),
        ("tier", True),
        ("!tier", False),
        ("!missing,tier in (front)", True),
        ("", True),
    ],
)
def test_label_selectors(selector: str, matches: bool) -> None:
    assert labels_match(parse_label_selector(selector), RELEASE) is matches


@pytest.mark.parametrize("selector", ["tier in (front", "tier=a b", "!tier in (x)", "a=b=c"])
def test_bad_label_selectors(selector: str) -> None:
    with pytest.raises(ApiError):
        parse_label_selector(selector)


def test_field_selectors() -> None:
    assert parse_field_selector("metadata.name=web,metadata.namespace=shop")(RELEASE)
    assert not parse_field_selector("metadata.namespace!=shop")(RELEASE)
    assert parse_field_selector("metadata.namespace=")({"metadata": {"name": "cluster-scoped"}})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-0.5, "0s"),
        (59, "59s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 300, "3h5m"),
        (10 * 3600, "10h"),
        (3 * 86400 + 3600, "3d1h"),
        (30 * 86400, "30d"),
        (3 * 365 * 86400 + 86400, "3y1d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_ages_read_like_kubectl(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text

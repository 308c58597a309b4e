"""How one raw measurement becomes a verdict: thresholds, NaN, infinities, empty results, errors."""

from __future__ import annotations

import math
from typing import Any

import pytest
from core_support import T0

from slipway.api.models import Metric
from slipway.core.judge import judge
from slipway.core.measurement import RawMeasurement
from slipway.core.revision import revision_hash

INF, NAN = math.inf, math.nan


def verdict(values: tuple[float, ...], error: str | None = None, **metric: Any) -> tuple[str, str | None]:
    judged = judge(
        Metric.model_validate({"name": "m", **metric}),
        RawMeasurement("m", "rev", T0, values=values, error=error),
    )
    return judged.result, judged.value


MAX = {"prometheus": {"query": "q"}, "thresholdRange": {"max": 0.5}}
MIN = {"prometheus": {"query": "q"}, "thresholdRange": {"min": 10}}
BOTH = {"prometheus": {"query": "q"}, "thresholdRange": {"min": 1, "max": 2}}


@pytest.mark.parametrize(
    ("values", "metric", "expected"),
    [
        ((0.1,), MAX, ("Successful", "0.1")),
        ((0.5,), MAX, ("Successful", "0.5")),  # bounds are inclusive
        ((0.51,), MAX, ("Failed", "0.51")),
        ((0.1, 0.7, 0.2), MAX, ("Failed", "0.7")),  # one series out of range fails the measurement
        ((0.1, 0.3), MAX, ("Successful", "0.3")),  # the value nearest the bound is shown
        ((INF,), MAX, ("Failed", "+Inf")),  # a p95 beyond the last bucket is too slow
        ((-INF,), MAX, ("Successful", "-Inf")),
        ((-INF,), MIN, ("Failed", "-Inf")),
        ((INF,), MIN, ("Successful", "+Inf")),
        ((9.9,), MIN, ("Failed", "9.9")),
        ((1.5,), BOTH, ("Successful", "1.5")),
        ((2.5,), BOTH, ("Failed", "2.5")),
        ((0.0,), BOTH, ("Failed", "0")),
        ((NAN, 0.2), MAX, ("Successful", "0.2")),  # NaN is dropped, the rest is judged
        ((NAN,), MAX, ("Inconclusive", None)),  # only NaN is no data
        ((), MAX, ("Inconclusive", None)),
        ((), {**MAX, "onNoData": "fail"}, ("Failed", None)),
        ((NAN,), {**MAX, "onNoData": "pass"}, ("Successful", None)),
        ((0.0009,), {"builtin": "error-rate"}, ("Successful", "0.0009")),  # seed threshold 0.1 %
        ((0.002,), {"builtin": "error-rate"}, ("Failed", "0.002")),
        ((0.6,), {"builtin": "latency-p95"}, ("Failed", "0.6")),  # seed threshold 500 ms
        (
            (1.0,),
            {"job": {"template": {"template": {"spec": {"containers": [{"name": "t", "image": "t"}]}}}}},
            ("Successful", "1"),
        ),
        (
            (0.0,),
            {"job": {"template": {"template": {"spec": {"containers": [{"name": "t", "image": "t"}]}}}}},
            ("Failed", "0"),
        ),
    ],
)
def test_values_are_judged_against_the_range(
    values: tuple[float, ...], metric: dict[str, Any], expected: tuple[str, str | None]
) -> None:
    assert verdict(values, **metric) == expected


def test_a_provider_error_is_an_error_whatever_the_values() -> None:
    assert verdict((), error="timeout", **MAX) == ("Error", None)


def test_the_message_says_why() -> None:
    judged = judge(Metric.model_validate({"name": "m", **MAX}), RawMeasurement("m", "rev", T0, values=(0.7,)))
    assert judged.message == "0.7 is not <= 0.5"


def test_revision_hash_is_short_dns_safe_and_independent_of_key_order() -> None:
    template = {
        "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        "metadata": {"labels": {"a": "b"}},
    }
    reordered = {
        "metadata": {"labels": {"a": "b"}},
        "spec": {"containers": [{"image": "web:1", "name": "web"}]},
    }
    digest = revision_hash(template, "1")
    assert digest == revision_hash(reordered, "1")
    assert digest != revision_hash(template, "2")
    assert len(digest) == 10 and all(c in "0123456789abcdef" for c in digest)


def test_on_no_data_tells_kubectl_explain_what_the_judge_does_with_infinities() -> None:
    """onNoData only covers results with no number; an infinity is judged, whatever onNoData says."""
    description = Metric.model_fields["on_no_data"].description or ""
    assert verdict((INF,), **{**MAX, "onNoData": "pass"}) == ("Failed", "+Inf")
    assert verdict((NAN,), **{**MAX, "onNoData": "pass"}) == ("Successful", None)
    assert "NaN" in description and "judged against thresholdRange" in description
    assert "infinite result counts" not in description

"""Judging one raw measurement against its metric: the only place a value becomes a verdict.

The rules, the same for every provider:
- the provider could not answer (`error` set): Error;
- NaN values are dropped (PromQL returns NaN for 0/0, e.g. an error rate with no requests): they are
  "no data", not a number;
- no value left (empty result, or only NaN): the metric's onNoData decides (Inconclusive, Failed or
  Successful);
- every remaining value, infinities included, must lie in the threshold range (bounds inclusive):
  +Inf is above any max (a p95 beyond the last histogram bucket is too slow), -Inf below any min.
  One value out of range fails the measurement. A metric without a range is judged by its
  provider's default (a job metric's: 1, the Job succeeded).
"""

from __future__ import annotations

import math

from slipway.api.models import Metric, ThresholdRange
from slipway.api.status import MeasurementRecord, MeasurementResult
from slipway.core.measurement import RawMeasurement

_NO_DATA_RESULT: dict[str, MeasurementResult] = {
    "inconclusive": "Inconclusive",
    "fail": "Failed",
    "pass": "Successful",
}


def format_value(value: float) -> str:
    """A value as status shows it: 6 significant digits, NaN, +Inf or -Inf."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.6g}"


def format_range(threshold: ThresholdRange) -> str:
    """The range as text: `<= 0.001`, `>= 1`, or `[0.1, 0.5]`."""
    if threshold.min is not None and threshold.max is not None:
        return f"[{format_value(threshold.min)}, {format_value(threshold.max)}]"
    if threshold.max is not None:
        return f"<= {format_value(threshold.max)}"
    return f">= {format_value(threshold.min if threshold.min is not None else -math.inf)}"


def threshold_of(metric: Metric) -> ThresholdRange:
    return metric.effective_threshold()


def _in_range(value: float, threshold: ThresholdRange) -> bool:
    above_min = threshold.min is None or value >= threshold.min
    below_max = threshold.max is None or value <= threshold.max
    return above_min and below_max


def judge(metric: Metric, raw: RawMeasurement) -> MeasurementRecord:
    """The verdict on one raw measurement of `metric`, as status keeps it."""

    def verdict(result: MeasurementResult, value: float | None, message: str) -> MeasurementRecord:
        shown = None if value is None else format_value(value)
        return MeasurementRecord(
            metric=metric.name, revision=raw.revision, at=raw.at, result=result, value=shown, message=message
        )

    if raw.error is not None:
        return verdict("Error", None, f"provider error: {raw.error}")
    numbers = [value for value in raw.values if not math.isnan(value)]
    if not numbers:
        what = "only NaN" if raw.values else "no data"
        return verdict(_NO_DATA_RESULT[metric.on_no_data], None, f"{what} (onNoData: {metric.on_no_data})")
    threshold = threshold_of(metric)
    wanted = format_range(threshold)
    for value in numbers:
        if not _in_range(value, threshold):
            return verdict("Failed", value, f"{format_value(value)} is not {wanted}")
    # The value closest to the bound that matters is the one worth showing.
    shown = max(numbers) if threshold.max is not None else min(numbers)
    return verdict("Successful", shown, f"{format_value(shown)} is {wanted}")

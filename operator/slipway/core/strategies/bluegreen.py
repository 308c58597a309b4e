"""Blue-green: a full-size preview without traffic, optional checks and wait, then one switch."""

from __future__ import annotations

from typing import Final

from slipway.api.models import BlueGreenStrategy
from slipway.core.strategies.plan import Gate, Hold, Plan, PlanStep, Shift

ANALYSIS_MEASUREMENTS: Final = 3
"""Good measurements in a row that pre- and post-promotion analysis need (blueGreen has no count field)."""


def plan(strategy: BlueGreenStrategy, replicas: int) -> Plan:
    steps: list[PlanStep] = [Shift(0, replicas, replicas, label=f"preview: {replicas} pods, no traffic")]
    if strategy.pre_promotion_analysis:
        steps.append(Gate(successes=ANALYSIS_MEASUREMENTS, metrics=None))
    if not strategy.auto_promotion:
        steps.append(Hold(None, label="before switching (autoPromotion: false)"))
    elif strategy.auto_promotion_seconds > 0:
        steps.append(
            Hold(float(strategy.auto_promotion_seconds), label="before switching (autoPromotionSeconds)")
        )
    # The switch: all traffic at once, while the old revision keeps all its pods to switch back to.
    steps.append(Shift(100, replicas, replicas, label="switch all traffic"))
    if strategy.post_promotion_analysis:
        steps.append(Gate(successes=ANALYSIS_MEASUREMENTS, metrics=None))
    return Plan(steps=tuple(steps), scale_down_delay_seconds=float(strategy.scale_down_delay_seconds))

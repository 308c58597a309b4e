"""What a metric provider hands to the core: raw values, never a verdict.

Providers only fetch; judging a value against a threshold (and deciding what NaN, infinity or an
empty result mean) is the core's job, so that every provider is judged by the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RawMeasurement:
    """One query of one metric for one revision.

    `values` is empty when the provider answered but had no data; it may hold NaN or infinities
    exactly as the provider returned them. `error` is set (and `values` empty) when the provider
    could not answer at all: unreachable, bad query, refused address, timeout.
    """

    metric: str
    revision: str
    at: datetime
    values: tuple[float, ...] = ()
    error: str | None = None

"""Fault injection for reliability tests: failed and conflicting writes, dropped watches, short watch
history (which forces 410 Gone), added latency."""

from __future__ import annotations

import random
from dataclasses import dataclass

from slipway_dev.apiserver.errors import ApiError


@dataclass(frozen=True)
class FaultConfig:
    write_error_rate: float = 0.0  # share of writes answered 500 InternalError
    write_conflict_rate: float = 0.0  # share of writes answered 409 Conflict
    watch_drop_seconds: float | None = None  # watch streams end after this long
    watch_history_size: int = 10_000  # events kept for resuming watches; fewer means earlier 410 Gone
    latency_ms: float = 0.0  # added to every request
    seed: int | None = None  # makes the injected failures reproducible
    # Only writes to these resources (plural names, e.g. "events") meet the write faults; empty: all.
    resources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("write_error_rate", "write_conflict_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate}")
        if self.write_error_rate + self.write_conflict_rate > 1.0:
            raise ValueError("write_error_rate + write_conflict_rate must not exceed 1")
        if self.watch_drop_seconds is not None and self.watch_drop_seconds <= 0:
            raise ValueError("watch_drop_seconds must be positive")
        if self.watch_history_size < 1:
            raise ValueError("watch_history_size must be at least 1")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must not be negative")


class FaultInjector:
    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._random = random.Random(config.seed)
        self.injected: dict[int, int] = {}
        """Faults injected so far, by HTTP status code."""

    def write_fault(self, plural: str) -> ApiError | None:
        """The error an injected fault turns this write to a `plural` resource into, if any (decided
        before anything is stored)."""
        if self.config.resources and plural not in self.config.resources:
            return None
        fault = self._draw()
        if fault is not None:
            self.injected[fault.code] = self.injected.get(fault.code, 0) + 1
        return fault

    def _draw(self) -> ApiError | None:
        draw = self._random.random()
        if draw < self.config.write_error_rate:
            return ApiError(
                500, "InternalError", "Internal error occurred: injected fault (write_error_rate)"
            )
        if draw < self.config.write_error_rate + self.config.write_conflict_rate:
            return ApiError(
                409,
                "Conflict",
                "Operation cannot be fulfilled: injected fault (write_conflict_rate); "
                "please apply your changes to the latest version and try again",
            )
        return None

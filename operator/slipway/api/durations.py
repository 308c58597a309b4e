"""Durations as users write them in a Release: 30s, 2m, 1h, 1h30m, 500ms, 1.5h.

The same grammar is enforced by the CRD schema (DURATION_PATTERN) and by `parse_duration`; it is the
subset of Go's time.ParseDuration that a Release needs, without signs (no negative durations).
"""

from __future__ import annotations

import re
from typing import Final

DURATION_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"

_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_COMPONENT: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_WHOLE: Final = re.compile(DURATION_PATTERN)


def parse_duration(text: str) -> float:
    """Seconds in `text`; ValueError when it does not follow the duration grammar."""
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration such as 30s, 2m, 1h30m or 500ms")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _COMPONENT.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest duration text for `seconds`, e.g. 5400 -> "1h30m", 0.5 -> "500ms"."""
    if seconds < 0:
        raise ValueError(f"durations are never negative, got {seconds}")
    total_ms = round(seconds * 1000)
    if total_ms == 0:
        return "0s"
    hours, rest_ms = divmod(total_ms, 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    whole_seconds, millis = divmod(rest_ms, 1000)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if millis and not (hours or minutes or whole_seconds):
        parts.append(f"{millis}ms")
    elif millis:
        parts.append(f"{whole_seconds}.{millis:03d}".rstrip("0") + "s")
    elif whole_seconds:
        parts.append(f"{whole_seconds}s")
    return "".join(parts)

"""Durations as users write them in a Release: 30s, 2m, 1h, 1h30m, 500ms, 1.5h.

The same grammar is enforced by the CRD schema (DURATION_PATTERN) and by `parse_duration`; it is the
subset of Go's time.ParseDuration that a Release needs, without signs (no negative durations). durationpy
reads it; the pattern comes first because durationpy also takes what the CRD refuses ("-5s", "1d", "0").
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

import durationpy

# At most 5 digits before the point: with the 32 characters a duration may have, no text adds up to
# more than 499995h, which Go's time.ParseDuration (the API server's CEL duration()) and Python's
# timedelta both hold; the fields' maxima (at most MAX_DURATION) are then checked on a parsed value.
DURATION_PATTERN: Final = r"^([0-9]{1,5}(\.[0-9]{1,9})?(ms|s|m|h))+$"
MAX_DURATION: Final = "8760h"
"""The longest any duration of a Release may be (365 days): waits past it are typos, and with it every
deadline the core computes (a gate's measurements x interval, 100 steps of them) stays a valid date."""
MAX_SECONDS: Final = 365 * 24 * 3600
"""The same bound for the fields that count seconds (progressDeadlineSeconds, ...)."""

_WHOLE: Final = re.compile(DURATION_PATTERN)


# decide() reads the same few durations of a spec on every pass: parse each text once.
@lru_cache(maxsize=1024)
def parse_duration(text: str) -> float:
    """Seconds in `text`; ValueError when it does not follow the duration grammar."""
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration such as 30s, 2m, 1h30m or 500ms")
    try:
        return durationpy.from_str(text).total_seconds()
    except durationpy.DurationError as too_long:  # past Python's timedelta, some 2.7 million years
        raise ValueError(f"{text!r} is not a duration Slipway can wait: {too_long}") from None


def format_duration(seconds: float) -> str:
    """The shortest duration text for `seconds`, e.g. 5400 -> "1h30m", 0.5 -> "500ms".

    Not durationpy.to_str: it writes hours with "%g" (2e+06h), microseconds and nanoseconds ("1ms500us")
    and "0" for zero, none of which the duration grammar reads back.
    """
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

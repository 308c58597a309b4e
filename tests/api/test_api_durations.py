"""Durations in a Release (30s, 2m, 1h30m, 500ms): parsed to seconds and written back the shortest way."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slipway.api.durations import DURATION_PATTERN, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("2m", 120),
        ("1h", 3600),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1.5h", 5400),
        ("0s", 0),
        ("1m30s250ms", 90.25),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


# durationpy (Go's grammar) reads "0", "-5s", "1d" and ".5s"; a Release may not.
@pytest.mark.parametrize("text", ["", "0", "30", "-5s", "1d", "2 minutes", "1h 30m", "s", ".5s", "1H"])
def test_parse_refuses_what_the_crd_pattern_refuses(text: str) -> None:
    assert not re.search(DURATION_PATTERN, text)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_parse_refuses_a_number_of_more_than_five_digits() -> None:
    # Issue 13: 30 nines of hours overflowed; five digits in 32 characters never can.
    with pytest.raises(ValueError, match="not a duration such as"):
        parse_duration("9" * 30 + "h")


def test_parse_refuses_a_duration_longer_than_python_can_hold() -> None:
    with pytest.raises(ValueError, match="not a duration Slipway can wait"):
        parse_duration("99999h" * 300_000)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (30, "30s"),
        (90, "1m30s"),
        (5400, "1h30m"),
        (1.25, "1.25s"),
        (2_000_000 * 3600, "2000000h"),  # where durationpy.to_str would write 2e+06h
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_refuses_negative_durations() -> None:
    with pytest.raises(ValueError, match="never negative"):
        format_duration(-1)


@given(st.integers(min_value=0, max_value=10 * 24 * 3600 * 1000))
def test_format_then_parse_is_the_identity_to_the_millisecond(milliseconds: int) -> None:
    text = format_duration(milliseconds / 1000)
    assert re.search(DURATION_PATTERN, text)
    assert round(parse_duration(text) * 1000) == milliseconds

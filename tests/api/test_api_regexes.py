"""What a match route's regular expression may hold (slipway.api.regexes): RE2's syntax, and a cookie
value that neither anchors nor runs on into the next cookie. Character classes and escapes are
literal text, never a construct."""

from __future__ import annotations

import pytest

from slipway.api.regexes import cookie_value_problem, re2_lacks


@pytest.mark.parametrize(
    ("pattern", "lacking"),
    [
        ("a(?=b)", "a lookahead"),
        ("(?<!a)b", "a lookbehind"),
        ("(a)\\1", "a backreference"),
        ("(?P<x>a)(?P=x)", "a backreference"),
        ("(?>ab)", "an atomic group"),
        ("a{2}+", "a possessive quantifier"),
        ("qa-[0-9]+|x(?:y|z)*", None),
        ("[(?=\\1]\\++", None),  # inside a class, or escaped: literal
        ("(?P<team>qa)(?i)dev\\d+", None),
    ],
)
def test_re2_lacks(pattern: str, lacking: str | None) -> None:
    assert re2_lacks(pattern) == lacking


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [("^on", True), ("on$", True), ("a.*z", True), ("[^x]+", True), ("\\S+", True)],
)
def test_a_cookie_value_regex_may_not_anchor_nor_run_on(pattern: str, refused: bool) -> None:
    assert (cookie_value_problem(pattern) is not None) is refused


@pytest.mark.parametrize("pattern", ["a[^;]*z", "[a-z.]+\\.x", "[]^$]", "v[0-9]{2}"])
def test_a_bounded_cookie_value_regex_is_taken(pattern: str) -> None:
    assert cookie_value_problem(pattern) is None

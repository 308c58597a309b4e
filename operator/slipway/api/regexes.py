"""What a match route's regular expression may hold: the routers (Envoy, so Gateway API and Istio) read
RE2, which Python's `re` (used to check the syntax) extends; and a cookie's value is matched inside
the whole Cookie header (routers/base.py `cookie_pattern`), so it may neither anchor nor run on into
the next cookie."""

from __future__ import annotations

from collections.abc import Iterator

_GROUPS_RE2_LACKS = {
    "(?=": "a lookahead",
    "(?!": "a lookahead",
    "(?<=": "a lookbehind",
    "(?<!": "a lookbehind",
    "(?P=": "a backreference",
    "(?(": "a conditional group",
    "(?>": "an atomic group",
}
_ANY_BUT_FEW = {".", "\\S", "\\W", "\\D"}
"""Tokens that match a `;`: in a cookie value they run on into the next cookie."""


def _tokens(pattern: str) -> Iterator[str]:
    """The pattern's tokens outside character classes (an escape is one token, a class `[...]` too)."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            yield pattern[i : i + 2]
            i += 2
        elif pattern[i] == "[":
            end = i + 1 + (pattern[i + 1 : i + 2] == "^")
            end += pattern[end : end + 1] == "]"  # a `]` first is a literal
            while end < len(pattern) and pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            yield pattern[i : end + 1]
            i = end + 1
        else:
            group = next((g for g in _GROUPS_RE2_LACKS if pattern.startswith(g, i)), None)
            yield group or pattern[i]
            i += len(group) if group else 1


def re2_lacks(pattern: str) -> str | None:
    """The first construct of `pattern` that RE2 does not have, described; None when it has them all."""
    previous = ""
    for token in _tokens(pattern):
        if token in _GROUPS_RE2_LACKS:
            return _GROUPS_RE2_LACKS[token]
        if token[:1] == "\\" and ((token[1:].isdigit() and token != "\\0") or token == "\\k"):
            return "a backreference"
        if token == "+" and previous in ("*", "+", "?", "}"):
            return "a possessive quantifier"
        previous = token
    return None


def cookie_value_problem(pattern: str) -> str | None:
    """Why `pattern` cannot match a cookie's value inside the Cookie header; None when it can."""
    for token in _tokens(pattern):
        if token in ("^", "$", "\\A", "\\z", "\\Z"):
            return f"a cookie value's regex may not anchor ({token}): it is matched as the whole value"
        if token in _ANY_BUT_FEW or (token.startswith("[^") and ";" not in token):
            return (
                f"a cookie value's regex may not hold {token}, which matches ';' and so runs on into "
                "the next cookie: write [^;] (or a class without ';')"
            )
    return None

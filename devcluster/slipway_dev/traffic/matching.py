"""What a route matches in a request: host patterns, path, method, headers, query parameters, cookies.

The kinds of string match are those of the routing APIs the gateway reads: exact, a string prefix
(Istio `prefix`), a path prefix matched element by element (Gateway API `PathPrefix`, Ingress
`Prefix`), a regular expression matching the whole value (Gateway API `RegularExpression` and Istio
`regex`, RE2 in Envoy), one found anywhere in the value (ingress-nginx's `canary-by-header-pattern`,
PCRE in nginx) and mere presence. Regular expressions are Python's `re`: RE2's and PCRE's common
syntax means the same there; one that does not compile matches nothing (the real proxies refuse it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

MatchKind = Literal["exact", "prefix", "path_prefix", "regex", "search", "present"]


@dataclass(frozen=True)
class Request:
    """A request as routing sees it: header names lower-case, the host without its port."""

    host: str
    path: str = "/"
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def cookies(self) -> dict[str, str]:
        """The `Cookie` header's pairs; the first of a repeated name wins, as nginx's `$cookie_` does."""
        found: dict[str, str] = {}
        for pair in self.headers.get("cookie", "").split(";"):
            name, equals, value = pair.strip().partition("=")
            if equals and name:
                found.setdefault(name, value)
        return found


def host_of(authority: str) -> str:
    """The host of a Host header, lower-case and without its port."""
    host = authority.strip().lower()
    if host.startswith("["):  # an IPv6 literal
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def host_rank(pattern: str, host: str) -> tuple[int, int] | None:
    """How specifically `pattern` names `host` (higher is more specific), or None when it does not:
    an exact name beats a wildcard (`*.example.com`, one or more labels), which beats `*` or ""."""
    if pattern in ("", "*"):
        return (0, 0)
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return (1, len(suffix)) if host.endswith(suffix) and len(host) > len(suffix) else None
    return (2, len(pattern)) if host == pattern else None


@dataclass(frozen=True)
class StringMatch:
    kind: MatchKind
    value: str = ""
    _compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind in ("regex", "search"):
            try:
                compiled: re.Pattern[str] | None = re.compile(self.value)
            except re.error:
                compiled = None
            object.__setattr__(self, "_compiled", compiled)

    def test(self, text: str | None) -> bool:
        if text is None:
            return False
        match self.kind:
            case "exact":
                return text == self.value
            case "prefix":
                return text.startswith(self.value)
            case "path_prefix":
                prefix = self.value.rstrip("/")
                return text == prefix or text.startswith(prefix + "/") or not prefix
            case "regex":
                return self._compiled is not None and self._compiled.fullmatch(text) is not None
            case "search":
                return self._compiled is not None and self._compiled.search(text) is not None
            case "present":
                return True


@dataclass(frozen=True)
class NamedMatch:
    """A header (name lower-case), query parameter or cookie whose value must match; `absent`
    inverts it (Istio `withoutHeaders`: the request must not carry a matching header)."""

    name: str
    value: StringMatch
    absent: bool = False

    def test(self, values: Mapping[str, str]) -> bool:
        return self.value.test(values.get(self.name)) != self.absent


@dataclass(frozen=True)
class Match:
    """All of its conditions hold (a missing one holds for every request)."""

    path: StringMatch | None = None
    method: str | None = None
    headers: tuple[NamedMatch, ...] = ()
    query: tuple[NamedMatch, ...] = ()
    cookies: tuple[NamedMatch, ...] = ()

    def test(self, request: Request) -> bool:
        return (
            (self.path is None or self.path.test(request.path))
            and (self.method is None or self.method == request.method)
            and all(header.test(request.headers) for header in self.headers)
            and all(param.test(request.query) for param in self.query)
            and all(cookie.test(request.cookies) for cookie in self.cookies)
        )


ANY = Match()

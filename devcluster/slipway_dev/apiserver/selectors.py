"""Label selectors (equality and set-based) and field selectors, parsed once per request."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slipway_dev.apiserver.errors import bad_request

_SET_TERM = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQUALITY_TERM = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str]

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" also match objects that lack the label, as in Kubernetes
        return not present or value not in self.values


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside the parentheses of an `in (...)` term."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def parse_label_selector(selector: str) -> list[Requirement]:
    requirements = []
    for term in _split_terms(selector):
        equality = _EQUALITY_TERM.match(term)
        if equality:
            key, op, value = equality.groups()
            _check_value(value, selector)
            requirements.append(Requirement(key, "!=" if op == "!=" else "=", frozenset([value])))
            continue
        set_based = _SET_TERM.match(term)
        if not set_based:
            raise bad_request(f'unable to parse requirement: invalid label selector "{selector}"')
        negated, key, op, values = set_based.groups()
        if op:
            if negated:
                raise bad_request(f'unable to parse requirement: invalid label selector "{selector}"')
            parsed = frozenset(v.strip() for v in values.split(",") if v.strip())
            for value in parsed:
                _check_value(value, selector)
            requirements.append(Requirement(key, op, parsed))
        else:
            requirements.append(Requirement(key, "!" if negated else "exists", frozenset()))
    return requirements


def _check_value(value: str, selector: str) -> None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise bad_request(
            f'unable to parse requirement: invalid label value "{value}" in selector "{selector}"'
        )


def selector_from_match(selector: dict[str, Any]) -> list[Requirement]:
    """A LabelSelector object (matchLabels, matchExpressions) as requirements."""
    requirements = [
        Requirement(k, "=", frozenset([str(v)])) for k, v in (selector.get("matchLabels") or {}).items()
    ]
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in selector.get("matchExpressions") or []:
        requirements.append(
            Requirement(
                expression["key"],
                operators[expression["operator"]],
                frozenset(expression.get("values") or ()),
            )
        )
    return requirements


def format_requirements(requirements: list[Requirement]) -> str:
    """The string form of a selector, as a Scale's status.selector carries it."""
    parts = []
    for r in requirements:
        if r.operator in ("=", "!="):
            parts.append(f"{r.key}{r.operator}{next(iter(r.values))}")
        elif r.operator in ("in", "notin"):
            parts.append(f"{r.key} {r.operator} ({','.join(sorted(r.values))})")
        else:
            parts.append(r.key if r.operator == "exists" else f"!{r.key}")
    return ",".join(parts)


def _field_value(obj: dict[str, Any], path: str) -> str | None:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, str) else None if value is None else str(value).lower()


def parse_field_selector(selector: str) -> Callable[[dict[str, Any]], bool]:
    """`metadata.name=x,status.phase!=Running`: any dotted path of the object may be compared."""
    checks: list[tuple[str, bool, str]] = []
    for term in _split_terms(selector):
        match = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not match:
            raise bad_request(f'invalid field selector: "{selector}"')
        path, op, value = match.groups()
        checks.append((path, op != "!=", value))

    def matches(obj: dict[str, Any]) -> bool:
        for path, equal, value in checks:
            actual = _field_value(obj, path)
            if path == "metadata.namespace" and actual is None:
                actual = ""
            if (actual == value) != equal:
                return False
        return True

    return matches


def labels_match(requirements: list[Requirement], obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)

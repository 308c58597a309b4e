"""The JSONPath subset Kubernetes printer columns and scale paths use.

Supported: `.field`, `['field']`, `[N]`, `[*]`, `.*` and filters `[?(@.a.b == "x")]` (==, !=, <, <=, >, >=,
or bare existence), with an optional `{...}` wrapper and `\\.` escapes in field names.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_FILTER = re.compile(r"^\?\(\s*@((?:\.[^\s=!<>]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*\)$")


class JsonPathError(ValueError):
    pass


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Index:
    index: int


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Filter:
    path: tuple[_Field, ...]
    op: str | None
    literal: Any


_Segment = _Field | _Index | _Wildcard | _Filter


def _split_fields(text: str) -> list[_Field]:
    """`.a.b\\.c` -> [a, b.c]."""
    fields: list[_Field] = []
    current = ""
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current += text[i + 1]
            i += 2
            continue
        if char == ".":
            if current:
                fields.append(_Field(current))
            current = ""
        else:
            current += char
        i += 1
    if current:
        fields.append(_Field(current))
    return fields


def _parse_literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError as error:
        raise JsonPathError(f"bad literal in filter: {text}") from error


def _parse_bracket(inner: str) -> _Segment:
    inner = inner.strip()
    if inner == "*":
        return _Wildcard()
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _Field(inner[1:-1])
    if inner.startswith("?"):
        match = _FILTER.match(inner)
        if not match:
            raise JsonPathError(f"unsupported filter: [{inner}]")
        path, op, literal = match.groups()
        return _Filter(tuple(_split_fields(path)), op, _parse_literal(literal) if op else None)
    try:
        return _Index(int(inner))
    except ValueError as error:
        raise JsonPathError(f"unsupported subscript: [{inner}]") from error


def parse(expression: str) -> tuple[_Segment, ...]:
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    segments: list[_Segment] = []
    i = 0
    while i < len(text):
        if text[i] == "[":
            depth, j = 0, i
            while j < len(text):
                depth += {"[": 1, "]": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            if j == len(text):
                raise JsonPathError(f"unclosed [ in {expression}")
            segments.append(_parse_bracket(text[i + 1 : j]))
            i = j + 1
            continue
        j = i
        while j < len(text) and not (text[j] == "[" and text[j - 1] != "\\"):
            j += 1
        for part in _split_fields(text[i:j]):
            segments.append(_Wildcard() if part.name == "*" else part)
        i = j
    return tuple(segments)


def _step(value: Any, segment: _Segment) -> list[Any]:
    if isinstance(segment, _Field):
        return [value[segment.name]] if isinstance(value, dict) and segment.name in value else []
    if isinstance(segment, _Index):
        if isinstance(value, list) and -len(value) <= segment.index < len(value):
            return [value[segment.index]]
        return []
    if isinstance(segment, _Wildcard):
        if isinstance(value, list):
            return list(value)
        return list(value.values()) if isinstance(value, dict) else []
    items = value if isinstance(value, list) else []
    return [item for item in items if _matches(item, segment)]


def _matches(item: Any, condition: _Filter) -> bool:
    found = evaluate_segments(item, condition.path)
    if condition.op is None:
        return bool(found)
    compare = _COMPARE[condition.op]
    for value in found:
        try:
            if compare(value, condition.literal):
                return True
        except TypeError:
            continue
    return False


def evaluate_segments(document: Any, segments: tuple[_Segment, ...]) -> list[Any]:
    values = [document]
    for segment in segments:
        values = [result for value in values for result in _step(value, segment)]
    return values


def evaluate(document: Any, expression: str) -> list[Any]:
    """Every value the expression selects, in document order (empty when nothing matches)."""
    return evaluate_segments(document, parse(expression))


def set_value(document: dict[str, Any], expression: str, value: Any) -> None:
    """Set a plain field path such as `.spec.replicas`, creating maps on the way."""
    segments = parse(expression)
    if not segments or not all(isinstance(s, _Field) for s in segments):
        raise JsonPathError(f"not a plain field path: {expression}")
    target = document
    for segment in segments[:-1]:
        assert isinstance(segment, _Field)
        target = target.setdefault(segment.name, {})
    last = segments[-1]
    assert isinstance(last, _Field)
    target[last.name] = value

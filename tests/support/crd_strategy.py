"""Hypothesis strategies for objects a CRD's structural schema accepts, built from the schema itself.

Types, enums, minimum/maximum, lengths, patterns, required fields, list sizes and `set`/`map` lists are
followed. Of the CEL rules, two shapes decide which optional fields are drawn: "exactly one of"
(`(has(self.a) ? 1 : 0) + ... == 1`) and "at least one of" (`has(self.a) || has(self.b)`); every other
rule is left to the dev cluster's schema enforcement, which the caller runs on what is drawn (as the API
server would) to keep only what it accepts.
"""

from __future__ import annotations

import re
from typing import Any, Final

from hypothesis import strategies as st

_EXACTLY_ONE: Final = re.compile(r"^(\(has\(self\.(\w+)\) \? 1 : 0\)( \+ )?)+ == 1$")
_AT_LEAST_ONE: Final = re.compile(r"^has\(self\.\w+\)( \|\| has\(self\.\w+\))*$")
_HAS: Final = re.compile(r"has\(self\.(\w+)\)")
# Enough to reach every branch; larger lists only make examples slower.
_MAX_ITEMS: Final = 3
_MAX_TEXT: Final = 20
# Integers without a maximum in the schema still stay where JSON (and the API server's int64) can go.
_BIGGEST_INTEGER: Final = 2**53


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of `schema` (a structural OpenAPI v3 node)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("x-kubernetes-int-or-string"):
        return st.one_of(_integers(schema), _strings(schema))
    kind = schema.get("type")
    if kind == "object":
        return _objects(schema)
    if kind == "array":
        return _arrays(schema)
    if kind == "string":
        return _strings(schema)
    if kind == "integer":
        return _integers(schema)
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.floats(
            min_value=low,
            max_value=high,
            allow_nan=False,
            allow_infinity=False,
            exclude_min=bool(schema.get("exclusiveMinimum")),
        )
    if kind == "boolean":
        return st.booleans()
    raise ValueError(f"no strategy for schema type {kind!r}")


def _integers(schema: dict[str, Any]) -> st.SearchStrategy[int]:
    low = schema.get("minimum", -_BIGGEST_INTEGER)
    if schema.get("exclusiveMinimum"):
        low += 1
    return st.integers(min_value=low, max_value=schema.get("maximum", _BIGGEST_INTEGER))


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "pattern" in schema:
        drawn = st.from_regex(schema["pattern"], fullmatch=True)
        return drawn.filter(lambda text: low <= len(text) <= (high if high is not None else len(text)))
    return st.text(min_size=low, max_size=min(high or _MAX_TEXT, _MAX_TEXT))


def _arrays(schema: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    items = from_schema(schema["items"])
    low = schema.get("minItems", 0)
    high = max(low, min(schema.get("maxItems", _MAX_ITEMS), _MAX_ITEMS))
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        return st.lists(items, min_size=low, max_size=high, unique=True)
    if list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        return st.lists(
            items, min_size=low, max_size=high, unique_by=lambda item: tuple(item.get(k) for k in keys)
        )
    return st.lists(items, min_size=low, max_size=high)


def _objects(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties: dict[str, Any] = schema.get("properties", {})
    additional = schema.get("additionalProperties")
    if not properties and isinstance(additional, dict):
        return st.dictionaries(st.text(min_size=1, max_size=8), from_schema(additional), max_size=2)
    # Built once per node: a strategy built on every draw costs more than the draw.
    fields = {name: from_schema(child) for name, child in properties.items()}
    chosen = _chosen_fields(schema)

    @st.composite
    def objects(draw: st.DrawFn) -> dict[str, Any]:
        return {name: draw(fields[name]) for name in draw(chosen)}

    return objects()


def _chosen_fields(schema: dict[str, Any]) -> st.SearchStrategy[list[str]]:
    """Which fields an object sets: the required ones, some optional ones, as its CEL rules allow."""
    properties: dict[str, Any] = schema.get("properties", {})
    required = [name for name in schema.get("required", []) if name in properties]
    rules = [rule["rule"] for rule in schema.get("x-kubernetes-validations", [])]
    exactly_one = [_HAS.findall(rule) for rule in rules if _EXACTLY_ONE.match(rule)]
    at_least_one = [_HAS.findall(rule) for rule in rules if _AT_LEAST_ONE.match(rule)]
    grouped = {name for group in exactly_one for name in group}
    optional = sorted(set(properties) - set(required) - grouped)

    @st.composite
    def choose(draw: st.DrawFn) -> list[str]:
        chosen = set(required) | {name for name in optional if draw(st.booleans())}
        for group in exactly_one:
            chosen.add(draw(st.sampled_from(group)))
        for group in at_least_one:
            if not chosen & set(group):
                free = [name for name in group if name not in grouped] or group
                chosen.add(draw(st.sampled_from(free)))
        return sorted(chosen)

    return choose()

"""What a real API server does with a CRD's openAPIV3Schema when a custom resource is written.

In the order Kubernetes does it: prune unknown fields (and nulls of non-nullable fields), apply
defaults, validate against the OpenAPI value validations, then evaluate the `x-kubernetes-validations`
CEL rules. Errors are collected, never stopped at the first, and come back as `FieldCause`s that the API
server puts in the `details.causes` of a 422 Invalid Status. On update, subtrees equal to the old object
are not re-validated (CRD validation ratcheting, on by default since Kubernetes 1.30), and transition
rules see `oldSelf`.

Pure functions over plain JSON-like data; no I/O.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import functools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

_ROOT_KEYS: Final = ("apiVersion", "kind", "metadata")
_MISSING: Final = object()


@dataclass(frozen=True)
class FieldCause:
    """One problem with one field, as in a Kubernetes Status' details.causes."""

    reason: str
    message: str
    field: str

    def as_status_cause(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def invalid_message(kind_and_group: str, name: str, causes: list[FieldCause]) -> str:
    """The Status message Kubernetes gives with a 422, e.g. 'Release.slipway.dev "web" is invalid: ...'."""
    details = [f"{cause.field}: {cause.message}" if cause.field else cause.message for cause in causes]
    joined = details[0] if len(details) == 1 else "[" + ", ".join(details) + "]"
    return f'{kind_and_group} "{name}" is invalid: {joined}'


def validate_custom_resource(
    schema: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[FieldCause]]:
    """`obj` pruned and defaulted by `schema`, and every problem with it (empty when it is valid).

    `old` is the stored object on an update: unchanged parts are not re-validated, and CEL
    transition rules (those using `oldSelf`) are evaluated against it.
    """
    result = prune(schema, obj)
    apply_defaults(schema, result)
    causes = _validate(schema, result, _MISSING if old is None else old)
    return result, causes


def prune(schema: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` without fields the schema does not know (nor nulls of non-nullable fields).

    apiVersion, kind and metadata of the object itself are always kept.
    """
    pruned = _prune(schema, copy.deepcopy(obj), root=True)
    return pruned if isinstance(pruned, dict) else {}


def find_unknown_fields(schema: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """Paths of fields pruning would drop: what `fieldValidation=Strict` (kubectl's default) reports."""
    return list(_unknown_fields(schema, obj, "", root=True))


def apply_defaults(schema: dict[str, Any], value: Any) -> None:
    """Fill in `default`s of missing properties, in place, then recurse (into the defaults too)."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name, child in properties.items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
        for name, item in value.items():
            child_schema = properties.get(name, _additional_schema(schema))
            if child_schema is not None:
                apply_defaults(child_schema, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(schema["items"], item)


# --- pruning -------------------------------------------------------------------------------------------


def _additional_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    additional = schema.get("additionalProperties")
    return additional if isinstance(additional, dict) else None


def _keeps_unknown(schema: dict[str, Any]) -> bool:
    return (
        bool(schema.get("x-kubernetes-preserve-unknown-fields")) or schema.get("additionalProperties") is True
    )


def _object_meta_level(schema: dict[str, Any], root: bool) -> bool:
    """Whether apiVersion, kind and metadata here are an object's own, kept whole as ObjectMeta is."""
    return root or bool(schema.get("x-kubernetes-embedded-resource"))


def _prune(schema: dict[str, Any], value: Any, root: bool = False) -> Any:
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        additional = _additional_schema(schema)
        object_meta = _object_meta_level(schema, root)
        result: dict[str, Any] = {}
        for name, item in value.items():
            child = properties.get(name, additional)
            if object_meta and name in _ROOT_KEYS:
                result[name] = item
            elif item is None and child is not None and not child.get("nullable"):
                continue
            elif child is not None:
                result[name] = _prune(child, item)
            elif _keeps_unknown(schema):
                result[name] = item
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(schema["items"], item) for item in value]
    return value


def _unknown_fields(schema: dict[str, Any], value: Any, path: str, root: bool = False) -> Iterator[str]:
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        additional = _additional_schema(schema)
        object_meta = _object_meta_level(schema, root)
        for name, item in value.items():
            child = properties.get(name, additional)
            if object_meta and name in _ROOT_KEYS:
                continue
            if child is not None:
                yield from _unknown_fields(child, item, _key_path(path, name, name not in properties))
            elif not _keeps_unknown(schema):
                yield _key_path(path, name, False)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _unknown_fields(schema["items"], item, f"{path}[{index}]")


# --- paths and messages --------------------------------------------------------------------------------


def _key_path(path: str, name: str, map_key: bool) -> str:
    """Kubernetes' field.Path rendering: properties as `.name`, map keys as `[key]`."""
    if map_key:
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def _shown(value: Any) -> str:
    """A value as Kubernetes prints it after "Invalid value: "."""
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _invalid(path: str, value: Any, detail: str) -> FieldCause:
    return FieldCause("FieldValueInvalid", f"Invalid value: {_shown(value)}: {detail}", path)


def _in_body(path: str) -> str:
    return f"{path or 'body'} in body"


# --- OpenAPI value validation --------------------------------------------------------------------------


def _has_type(schema: dict[str, Any], value: Any) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    expected = schema.get("type")
    if expected is None:
        return True
    actual = _type_name(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _validate(schema: dict[str, Any], obj: dict[str, Any], old: Any) -> list[FieldCause]:
    causes = [cause for node in _walk(schema, obj, "", old) for cause in _node_validations(*node[:3])]
    # As the API server does: CEL cannot run on values of the wrong type, so then it runs not at all.
    if any(cause.reason in _BLOCKING_REASONS for cause in causes):
        causes.append(FieldCause("FieldValueInvalid", _CEL_SKIPPED, "<nil>"))
    else:
        causes.extend(cause for node in _walk(schema, obj, "", old) for cause in _cel_rules(*node))
    return causes


_BLOCKING_REASONS: Final = frozenset({"FieldValueTypeInvalid", "FieldValueNotSupported"})
# Word for word what the API server says, field "<nil>" included.
_CEL_SKIPPED: Final = (
    'Invalid value: "null": some validation rules were not checked because the object was invalid; '
    "correct the existing errors to complete validation"
)


def _walk(
    schema: dict[str, Any], value: Any, path: str, old: Any
) -> Iterator[tuple[dict[str, Any], Any, str, Any]]:
    """Every (schema, value, path, old value) in the object, parents first.

    Parts equal to the old object are skipped: with validation ratcheting an unchanged part is not
    held to rules it may predate.
    """
    if old is not _MISSING and old == value:
        return
    yield schema, value, path, old
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        additional = _additional_schema(schema)
        old_map = old if isinstance(old, dict) else {}
        for name, item in value.items():
            child = properties.get(name, additional)
            if child is not None:
                child_path = _key_path(path, name, name not in properties)
                yield from _walk(child, item, child_path, old_map.get(name, _MISSING))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        old_items = _correlated_items(schema, value, old)
        for index, item in enumerate(value):
            yield from _walk(schema["items"], item, f"{path}[{index}]", old_items[index])


def _node_validations(schema: dict[str, Any], value: Any, path: str) -> Iterator[FieldCause]:
    """The OpenAPI checks of one node (its children are nodes of their own)."""
    if value is None:
        if not schema.get("nullable"):
            yield _wrong_type(schema, value, path)
        return
    if not _has_type(schema, value):
        yield _wrong_type(schema, value, path)
        return
    yield from _value_validations(schema, value, path)


def _wrong_type(schema: dict[str, Any], value: Any, path: str) -> FieldCause:
    expected = (
        "integer or string" if schema.get("x-kubernetes-int-or-string") else schema.get("type", "object")
    )
    actual = _type_name(value)
    return FieldCause(
        "FieldValueTypeInvalid",
        f'Invalid value: "{actual}": {_in_body(path)} must be of type {expected}: "{actual}"',
        path,
    )


def _value_validations(schema: dict[str, Any], value: Any, path: str) -> Iterator[FieldCause]:
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_shown(option) for option in schema["enum"])
        yield FieldCause(
            "FieldValueNotSupported",
            f"Unsupported value: {_shown(value)}: supported values: {supported}",
            path,
        )
    if isinstance(value, str):
        yield from _string_validations(schema, value, path)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield from _number_validations(schema, value, path)
    elif isinstance(value, list):
        yield from _array_validations(schema, value, path)
    elif isinstance(value, dict):
        yield from _object_validations(schema, value, path)
    yield from _junctors(schema, value, path)


def _string_validations(schema: dict[str, Any], value: str, path: str) -> Iterator[FieldCause]:
    if "minLength" in schema and len(value) < schema["minLength"]:
        yield _invalid(path, value, f"{_in_body(path)} should be at least {schema['minLength']} chars long")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        yield FieldCause(
            "FieldValueTooLong", f"Too long: may not be more than {schema['maxLength']} bytes", path
        )
    # OpenAPI patterns are searched, not matched: anchors must be written out, as they are in our CRD.
    if "pattern" in schema and not _regex(schema["pattern"]).search(value):
        yield _invalid(path, value, f"{_in_body(path)} should match '{schema['pattern']}'")
    problem = _format_problem(schema.get("format"), value)
    if problem:
        yield _invalid(path, value, f"{_in_body(path)} must be of type {problem}")


@functools.lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _format_problem(format_name: str | None, value: str) -> str | None:
    """The format `value` fails to be, for the formats whose violations the API server rejects."""
    checks = {
        "date-time": _parse_date_time,
        "date": datetime.date.fromisoformat,
        "byte": _parse_base64,
    }
    check = checks.get(format_name or "")
    if check is None:
        return None
    try:
        check(value)
    except ValueError:
        return format_name
    return None


def _parse_date_time(text: str) -> datetime.datetime:
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None and "T" not in text.upper():
        raise ValueError("a date-time needs a time")
    return parsed


def _parse_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise ValueError(str(error)) from error


def _number_validations(schema: dict[str, Any], value: float, path: str) -> Iterator[FieldCause]:
    if isinstance(value, float) and not math.isfinite(value):
        yield _invalid(path, value, f"{_in_body(path)} must be a finite number")
        return
    if "minimum" in schema:
        if schema.get("exclusiveMinimum") is True and value <= schema["minimum"]:
            yield _invalid(path, value, f"{_in_body(path)} should be greater than {schema['minimum']}")
        elif value < schema["minimum"]:
            yield _invalid(
                path, value, f"{_in_body(path)} should be greater than or equal to {schema['minimum']}"
            )
    if "maximum" in schema:
        if schema.get("exclusiveMaximum") is True and value >= schema["maximum"]:
            yield _invalid(path, value, f"{_in_body(path)} should be less than {schema['maximum']}")
        elif value > schema["maximum"]:
            yield _invalid(
                path, value, f"{_in_body(path)} should be less than or equal to {schema['maximum']}"
            )
    multiple = schema.get("multipleOf")
    if multiple and not float(value / multiple).is_integer():
        yield _invalid(path, value, f"{_in_body(path)} should be a multiple of {multiple}")


def _array_validations(schema: dict[str, Any], value: list[Any], path: str) -> Iterator[FieldCause]:
    if "minItems" in schema and len(value) < schema["minItems"]:
        yield _invalid(path, value, f"{_in_body(path)} should have at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        yield FieldCause(
            "FieldValueTooMany", f"Too many: {len(value)}: must have at most {schema['maxItems']} items", path
        )
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        yield from _duplicates(
            [tuple(item.get(key) for key in keys) if isinstance(item, dict) else item for item in value],
            value,
            path,
        )
    elif list_type == "set" or schema.get("uniqueItems"):
        yield from _duplicates([json.dumps(item, sort_keys=True) for item in value], value, path)


def _duplicates(identities: list[Any], items: list[Any], path: str) -> Iterator[FieldCause]:
    seen: list[Any] = []
    for index, identity in enumerate(identities):
        if identity in seen:
            shown = json.dumps(
                list(identity) if isinstance(identity, tuple) else items[index], sort_keys=True
            )
            yield FieldCause("FieldValueDuplicate", f"Duplicate value: {shown}", f"{path}[{index}]")
        seen.append(identity)


def _object_validations(schema: dict[str, Any], value: dict[str, Any], path: str) -> Iterator[FieldCause]:
    for name in schema.get("required", []):
        if name not in value:
            yield FieldCause("FieldValueRequired", "Required value", _key_path(path, name, False))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        yield _invalid(
            path, value, f"{_in_body(path)} should have at least {schema['minProperties']} properties"
        )
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        yield FieldCause(
            "FieldValueTooMany",
            f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
            path,
        )


def _junctors(schema: dict[str, Any], value: Any, path: str) -> Iterator[FieldCause]:
    """allOf / anyOf / oneOf / not: value validations only, as structural schemas allow."""
    for branch in schema.get("allOf", []):
        yield from _value_validations(branch, value, path)
    passing = [not list(_value_validations(branch, value, path)) for branch in schema.get("anyOf", [])]
    if passing and not any(passing):
        yield _invalid(path, value, f"{_in_body(path)} must validate at least one schema (anyOf)")
    passing = [not list(_value_validations(branch, value, path)) for branch in schema.get("oneOf", [])]
    if passing and sum(passing) != 1:
        yield _invalid(path, value, f"{_in_body(path)} must validate one and only one schema (oneOf)")
    if "not" in schema and not list(_value_validations(schema["not"], value, path)):
        yield _invalid(path, value, f"{_in_body(path)} must not validate the schema (not)")


def _correlated_items(schema: dict[str, Any], value: list[Any], old: Any) -> list[Any]:
    """The old item each new item is compared with: by map keys for map lists, none otherwise.

    Kubernetes correlates only map (and set) list items; a plain list item has no "old self".
    """
    if not isinstance(old, list) or schema.get("x-kubernetes-list-type") not in {"map", "set"}:
        return [_MISSING] * len(value)
    if schema["x-kubernetes-list-type"] == "set":
        return [item if item in old else _MISSING for item in value]
    keys = schema.get("x-kubernetes-list-map-keys", [])

    def identity(item: Any) -> Any:
        return tuple(item.get(key) for key in keys) if isinstance(item, dict) else None

    old_by_key = {identity(item): item for item in old}
    return [old_by_key.get(identity(item), _MISSING) for item in value]


# --- CEL -----------------------------------------------------------------------------------------------


# Built once, at import: building one raises the interpreter's recursion limit (CEL's grammar needs
# the depth), a process-wide change better made at start-up than in the middle of a request.
_CEL: Final = celpy.Environment()


def _has_value(optional: Any) -> Any:
    return celtypes.BoolType(optional is not None)


def _value(optional: Any) -> Any:
    if optional is None:
        raise ValueError("optional.none() dereference")
    return optional


# With optionalOldSelf, oldSelf is a CEL optional: here None (optional.none(), on create) or the old
# value itself, which these two functions read as an optional.
_OPTIONALS: Final = {"hasValue": _has_value, "value": _value}


@functools.lru_cache(maxsize=1024)
def _cel_program(rule: str) -> Any:
    return _CEL.program(_CEL.compile(rule), functions=_OPTIONALS)


# At the root, a rule sees only these of the object's metadata (as on a real API server).
_RULE_METADATA: Final = ("name", "generateName")


def _cel_rules(schema: dict[str, Any], value: Any, path: str, old: Any) -> Iterator[FieldCause]:
    for rule in schema.get("x-kubernetes-validations", []):
        expression = rule["rule"]
        uses_old = "oldSelf" in expression
        # Transition rules only apply on update, when there is an old value to compare with.
        if uses_old and old is _MISSING and not rule.get("optionalOldSelf"):
            continue
        reads = _fields_read(expression, rule.get("messageExpression", ""))
        activation = {"self": to_cel(schema, _only(reads, _as_rules_see(value, path)))}
        if uses_old:
            old_value = None if old is _MISSING else _only(reads, _as_rules_see(old, path))
            activation["oldSelf"] = to_cel(schema, old_value)
        # The API server names the object's root "<nil>" (a nil field path).
        field = ((path + rule["fieldPath"]).lstrip(".") if rule.get("fieldPath") else path) or "<nil>"
        try:
            outcome = _cel_program(expression).evaluate(activation)
        except Exception as error:  # celpy raises many kinds; any of them means the rule did not hold
            yield _invalid(field, value, f"rule evaluation error: {error}")
            continue
        if isinstance(outcome, Exception):
            yield _invalid(field, value, f"rule evaluation error: {outcome}")
        elif not outcome:
            yield _rule_failure(
                rule.get("reason", "FieldValueInvalid"), _rule_message(rule, activation), field, value
            )


# `self` or `oldSelf`; what may follow it: a field selection (`.name` or `.?name`) that is not a method
# call, or (oldSelf being an optional, with optionalOldSelf) `.hasValue()`, or `.value()` and a selection.
_SELF: Final = re.compile(r"(?<![A-Za-z0-9_])(?:self|oldSelf)\b")
_SELECTED: Final = re.compile(r"(?:\.value\(\))?\.\??([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()")
_HAS_VALUE: Final = re.compile(r"\.hasValue\(\)")


@functools.lru_cache(maxsize=1024)
def _fields_read(*expressions: str) -> frozenset[str] | None:
    """The fields of `self` (and `oldSelf`) the expressions can reach, when each mention of them selects
    a named field; None when one uses the value whole (`size(self)`, `self.all(...)`, `self == x`,
    `self['x']`). A rule sees nothing else, so the rest need not become CEL values: converting a whole
    Release (its status included) for a rule on `self.metadata.name` was most of a status write's cost.
    A mention inside a string literal can only add a field, never hide one."""
    fields = set()
    for expression in expressions:
        for mention in _SELF.finditer(expression):
            if _HAS_VALUE.match(expression, mention.end()):
                continue
            selected = _SELECTED.match(expression, mention.end())
            if selected is None:
                return None
            fields.add(selected.group(1))
    return frozenset(fields)


def _only(fields: frozenset[str] | None, value: Any) -> Any:
    """`value` with only `fields` when it is an object and they are known (`_fields_read`)."""
    if fields is None or not isinstance(value, dict):
        return value
    return {name: item for name, item in value.items() if name in fields}


def _as_rules_see(value: Any, path: str) -> Any:
    """The object at the root with only metadata.name and generateName, the rest of its metadata hidden."""
    if path or not isinstance(value, dict) or not isinstance(value.get("metadata"), dict):
        return value
    metadata = {key: value["metadata"][key] for key in _RULE_METADATA if key in value["metadata"]}
    return {**value, "metadata": metadata}


def _rule_message(rule: dict[str, Any], activation: dict[str, Any]) -> str:
    """messageExpression's result when it gives a non-blank string, else message, else the rule itself."""
    if "messageExpression" in rule:
        try:
            message = _cel_program(rule["messageExpression"]).evaluate(activation)
        except Exception:  # as on a real API server, a failing messageExpression falls back to message
            message = None
        if isinstance(message, str) and message.strip():
            return str(message)
    return str(rule.get("message") or f"failed rule: {rule['rule']}")


def _rule_failure(reason: str, detail: str, field: str, value: Any) -> FieldCause:
    """A failed rule in the words Kubernetes uses for the rule's `reason`."""
    prefixes = {
        "FieldValueForbidden": "Forbidden",
        "FieldValueRequired": "Required value",
        "FieldValueDuplicate": f"Duplicate value: {_shown(value)}",
    }
    prefix = prefixes.get(reason, f"Invalid value: {_shown(value)}")
    return FieldCause(reason if reason in prefixes else "FieldValueInvalid", f"{prefix}: {detail}", field)


def to_cel(schema: dict[str, Any], value: Any) -> Any:
    """`value` as the CEL value Kubernetes gives a rule, typed by the schema (numbers are doubles)."""
    if value is None:
        return None
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        additional = _additional_schema(schema)
        return celtypes.MapType(
            {
                celtypes.StringType(name): _child_to_cel(properties.get(name, additional), item)
                for name, item in value.items()
            }
        )
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else None
        return celtypes.ListType([_child_to_cel(items, item) for item in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if schema.get("type") == "number" and isinstance(value, (int, float)):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return _string_to_cel(schema.get("format"), value)
    return json_to_cel(value)


def _child_to_cel(schema: dict[str, Any] | None, value: Any) -> Any:
    return json_to_cel(value) if schema is None else to_cel(schema, value)


def _string_to_cel(format_name: str | None, value: str) -> Any:
    if format_name in {"date-time", "date"} and _format_problem(format_name, value) is None:
        return celtypes.TimestampType(
            _parse_date_time(value)
            if format_name == "date-time"
            else datetime.datetime.fromisoformat(value).replace(tzinfo=datetime.UTC)
        )
    if format_name == "duration":
        try:
            return celtypes.DurationType(value)
        except (ValueError, TypeError):
            return celtypes.StringType(value)
    return celtypes.StringType(value)

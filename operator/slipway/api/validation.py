"""Offline validation of Release manifests: the models' errors as `field: message` problems.

Field paths are written as the API server writes them (`spec.strategy.canary.steps[1].setWeight`), so
a problem found by `slipway validate` in CI names the same field a rejected `kubectl apply` would.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from slipway.api.durations import DURATION_PATTERN
from slipway.api.models import (
    CLOCK_PATTERN,
    DNS_LABEL_PATTERN,
    FIELD_ERROR_TYPE,
    GROUP,
    HTTP_URL_PATTERN,
    KIND,
    LABEL_VALUE_PATTERN,
    PERCENT_PATTERN,
    PERCENT_UP_TO_100_PATTERN,
    Release,
    Sectioned,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest: the field (API server notation) and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidRelease(ValueError):
    """A Release manifest the models refuse; `problems` says what and where."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def is_release(document: Mapping[str, Any]) -> bool:
    """Whether a manifest is meant as a Slipway Release (of any version of the API)."""
    api_version = document.get("apiVersion")
    return (
        document.get("kind") == KIND and isinstance(api_version, str) and api_version.startswith(f"{GROUP}/")
    )


def parse_release(document: Mapping[str, Any]) -> Release:
    """The Release in `document`; InvalidRelease naming every problem found otherwise."""
    try:
        return Release.model_validate(document)
    except ValidationError as invalid:
        raise InvalidRelease(problems_from(invalid)) from None


def release_problems(document: Mapping[str, Any]) -> list[Problem]:
    """Every problem with a Release manifest; empty when it is valid."""
    try:
        parse_release(document)
    except InvalidRelease as invalid:
        return invalid.problems
    return []


def problems_from(invalid: ValidationError) -> list[Problem]:
    """Pydantic's errors as problems, one per field; a union's alternatives are joined with "or"."""
    by_field: dict[str, list[str]] = {}
    for error in invalid.errors():
        field = _field_path(error)
        messages = by_field.setdefault(field, [])
        message = _message(error)
        if message not in messages:
            messages.append(message)
    return [Problem(field, _either(messages)) for field, messages in by_field.items()]


def _either(messages: list[str]) -> str:
    """A union's alternatives as one sentence: "must be an integer or a percentage such as "25%".

    A number refused by the int branch is also refused by the str branch for not being a string;
    saying so helps no one, so that alternative is left out when another one explains more."""
    first, *others = [message for message in messages if message != _NOT_A_STRING] or messages
    return " or ".join([first, *(other.removeprefix("must be ") for other in others)])


# Pydantic names the branch of a union in the error location; such names are never Release fields.
_UNION_BRANCHES: Final = frozenset({"int", "str", "float", "bool", "constrained-int", "constrained-str"})


def _is_union_branch(part: str | int) -> bool:
    return isinstance(part, str) and (part in _UNION_BRANCHES or "[" in part or part[:1].isupper())


def _field_path(error: ErrorDetails) -> str:
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not _is_union_branch(part):
            path += f".{part}" if path else part
    if error["type"] == FIELD_ERROR_TYPE:
        path += str((error.get("ctx") or {}).get("field_path", ""))
    return path.lstrip(".")


_PATTERN_MEANINGS: Final = {
    DURATION_PATTERN: "must be a duration such as 30s, 2m, 1h30m or 500ms",
    DNS_LABEL_PATTERN: "must be a DNS label: lowercase letters, digits and '-', alphanumeric at both ends",
    PERCENT_PATTERN: 'must be a percentage such as "25%"',
    PERCENT_UP_TO_100_PATTERN: 'must be a percentage from "0%" to "100%"',
    HTTP_URL_PATTERN: "must be an http:// or https:// URL: host, optional port (0-65535), no spaces or"
    " backslashes",
    CLOCK_PATTERN: 'must be a time of day "HH:MM" (UTC), from 00:00 to 23:59',
    LABEL_VALUE_PATTERN: "must be a label value: letters, digits, '-', '_', '.', alphanumeric at both ends",
}

_NOT_A_STRING: Final = "must be a string"
_TYPE_MESSAGES: Final = {
    "missing": "required",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": _NOT_A_STRING,
    "bool_type": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be a list",
}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    context: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    if kind == FIELD_ERROR_TYPE:
        return str(context["message"])
    if kind == "extra_forbidden":
        return _unknown_field(error["loc"])
    comparisons = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in comparisons:
        operator, key = comparisons[kind]
        return f"must be {operator} {context[key]}"
    if kind == "too_short":
        return (
            "must not be empty"
            if context["min_length"] == 1
            else f"must have at least {context['min_length']} items"
        )
    if kind == "too_long":
        return f"must have at most {context['max_length']} items"
    if kind == "string_too_short":
        return (
            "must not be empty"
            if context["min_length"] == 1
            else f"must be at least {context['min_length']} characters"
        )
    if kind == "string_too_long":
        return f"must be at most {context['max_length']} characters"
    if kind == "string_pattern_mismatch":
        return _PATTERN_MEANINGS.get(context["pattern"], f"must match {context['pattern']}")
    if kind == "literal_error":
        return f"must be one of {context['expected']}"
    return str(error["msg"]).removeprefix("Value error, ")


def _unknown_field(loc: tuple[str | int, ...]) -> str:
    """ "unknown field", with the nearest known name (a typo) or the names allowed there."""
    model = _model_at(loc[:-1])
    if model is None:
        return "unknown field"
    known = [info.alias or name for name, info in model.model_fields.items()]
    typo = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if typo:
        return f"unknown field; did you mean {typo[0]}?"
    return f"unknown field; allowed here: {', '.join(known)}"


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model that validates the object at `loc` in a Release (None below free-form objects)."""
    model: type[BaseModel] | None = Release
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue  # an item of a list: the field's model already is the item's
        field = next((info for name, info in model.model_fields.items() if part in (name, info.alias)), None)
        model = _model_in(field.annotation) if field is not None else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside a field's type (Foo, Foo | None, list[Foo]); None for other types."""
    if isinstance(annotation, type) and issubclass(annotation, Sectioned):
        return annotation.assembled()  # its fields include the plug-ins' sections
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, types.UnionType):
        for argument in get_args(annotation):
            model = _model_in(argument)
            if model is not None:
                return model
    return None

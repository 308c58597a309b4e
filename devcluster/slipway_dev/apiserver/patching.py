"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), applied to a private copy of the object."""

from __future__ import annotations

import copy
from typing import Any

from slipway_dev.apiserver.errors import ApiError, bad_request


class PatchTestFailed(ApiError):
    """A json-patch `test` op did not hold; kopf relies on a 422 here to retry with a fresh object."""

    def __init__(self, path: str) -> None:
        super().__init__(
            422,
            "Invalid",
            f"the server rejected our request due to an error in our request: testing value at {path} failed",
        )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise _unprocessable(f"invalid JSON pointer {pointer!r}")
    return [_unescape(t) for t in pointer[1:].split("/")]


def _unprocessable(message: str) -> ApiError:
    return ApiError(
        422, "Invalid", f"the server rejected our request due to an error in our request: {message}"
    )


def _index(container: list[Any], token: str, pointer: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise _unprocessable(f"invalid array index {token!r} in {pointer}")
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise _unprocessable(f"array index out of bounds in {pointer}")
    return index


def _parent(document: Any, pointer: str) -> tuple[Any, str]:
    tokens = _tokens(pointer)
    if not tokens:
        raise _unprocessable("the whole document cannot be the target of this operation")
    target = document
    for token in tokens[:-1]:
        if isinstance(target, dict) and token in target:
            target = target[token]
        elif isinstance(target, list):
            target = target[_index(target, token, pointer, allow_end=False)]
        else:
            raise _unprocessable(f"path {pointer} does not exist")
    return target, tokens[-1]


def _get(document: Any, pointer: str) -> Any:
    if pointer == "":
        return document
    parent, last = _parent(document, pointer)
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f"path {pointer} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, pointer, allow_end=False)]
    raise _unprocessable(f"path {pointer} does not exist")


def _add(document: Any, pointer: str, value: Any) -> None:
    parent, last = _parent(document, pointer)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, pointer, allow_end=True), value)
    else:
        raise _unprocessable(f"path {pointer} does not exist")


def _remove(document: Any, pointer: str) -> Any:
    parent, last = _parent(document, pointer)
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f"unable to remove nonexistent key {last!r} at {pointer}")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, pointer, allow_end=False))
    raise _unprocessable(f"path {pointer} does not exist")


def json_patch(document: Any, operations: Any) -> Any:
    """Apply RFC 6902 operations in order to `document` (modified in place and returned)."""
    if not isinstance(operations, list):
        raise bad_request("a json patch must be a list of operations")
    for operation in operations:
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise bad_request(f"invalid json patch operation: {operation!r}")
        op, path = operation.get("op"), operation["path"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise bad_request(f"json patch operation {op} at {path} lacks a value")
        if op == "add":
            if path == "":
                document = copy.deepcopy(operation["value"])
            else:
                _add(document, path, copy.deepcopy(operation["value"]))
        elif op == "remove":
            _remove(document, path)
        elif op == "replace":
            if path == "":
                document = copy.deepcopy(operation["value"])
            else:
                _remove(document, path)
                _add(document, path, copy.deepcopy(operation["value"]))
        elif op == "test":
            try:
                current = _get(document, path)
            except ApiError as missing:
                raise PatchTestFailed(path) from missing
            if current != operation["value"]:
                raise PatchTestFailed(path)
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise bad_request(f"json patch operation {op} at {path} lacks from")
            value = _remove(document, source) if op == "move" else copy.deepcopy(_get(document, source))
            _add(document, path, value)
        else:
            raise bad_request(f"unknown json patch operation {op!r}")
    return document

"""What decoding a patched object into typed structs refuses, with the real server's messages.

A real server applies a patch to a map and then converts the result into the kind's Go struct; a
value of the wrong JSON type there (labels sent as a string) fails that conversion, and the server
answers 422 naming the patch in Go's `%+v` form and the converter's complaint."""

from __future__ import annotations

from typing import Any

from slipway_dev.apiserver.errors import ApiError

_JSON_TYPE_NAMES = {str: "string", int: "int64", float: "float64", bool: "bool", list: "slice"}
_MAPS = ("labels", "annotations")


def go_format(value: Any) -> str:
    """Go's `%+v` of a decoded JSON value: maps as map[k:v ...] with sorted keys, lists as [a b]."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_patched_metadata(patch: Any, patched: Any) -> None:
    meta = patched.get("metadata") if isinstance(patched, dict) else None
    if not isinstance(meta, dict):
        return
    for key in _MAPS:
        value = meta.get(key)
        if value is not None and not isinstance(value, dict):
            found = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
            cause = f"cannot restore map from {found}"
            raise ApiError(
                422,
                "Invalid",
                f' "" is invalid: patch: Invalid value: "{go_format(patch)}": {cause}',
                {
                    "causes": [
                        {
                            "reason": "FieldValueInvalid",
                            "message": f'Invalid value: "{go_format(patch)}": {cause}',
                            "field": "patch",
                        }
                    ]
                },
            )

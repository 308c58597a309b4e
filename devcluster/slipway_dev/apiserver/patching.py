"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), applied to a private copy of the object."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from slipway_dev.apiserver.errors import ApiError, bad_request

_REJECTED = "the server rejected our request due to an error in our request"


class PatchTestFailed(ApiError):
    """A json-patch `test` op did not hold; kopf relies on a 422 here to retry with a fresh object."""

    def __init__(self, path: str) -> None:
        super().__init__(422, "Invalid", f"{_REJECTED}: testing value at {path} failed")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, null deletes, anything else replaces. `target` is left as it is (the
    result has new maps along the patch's paths); the patch's values go into the result as they are,
    so the caller hands over a patch it no longer changes."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: Any, operations: Any) -> Any:
    """Apply RFC 6902 operations in order to `document` (a private copy: changed in place, and returned).

    The jsonpatch library does the work; each operation goes to it on its own only so that an error can
    name the failing operation. As in kube-apiserver, a malformed patch is 400 and an operation that
    cannot be carried out on this object 422 (a failed `test` included).
    """
    if not isinstance(operations, list):
        raise bad_request("a json patch must be a list of operations")
    for operation in copy.deepcopy(operations):  # the stored object shares no value with the request
        try:
            document = jsonpatch.JsonPatch([operation]).apply(document, in_place=True)
        except jsonpatch.InvalidJsonPatch as error:
            raise bad_request(f"invalid json patch operation {operation!r}: {error}") from None
        except jsonpatch.JsonPatchTestFailed:
            raise PatchTestFailed(operation["path"]) from None
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as error:
            message = f"{_REJECTED}: {operation['op']} at {operation['path']}: {error}"
            raise ApiError(422, "Invalid", message) from None
    return document

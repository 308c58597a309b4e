"""Strategic merge patch for built-in resources: lists merge by key where Kubernetes' types say so.

The merge keys are those of the Go struct tags (`patchMergeKey`) of the built-in types that the dev
cluster serves; kubectl computes its patches from the same tags, so both sides agree. Directives:
`$patch: replace|delete|merge`, `$retainKeys`, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`.
"""

from __future__ import annotations

import copy
from typing import Any

from slipway_dev.apiserver.errors import bad_request

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

# (parent field, list field) or (list field,) -> merge key; the longer match wins.
_MERGE_KEYS: dict[tuple[str, ...], str] = {
    **{(c,): "name" for c in _CONTAINER_LISTS},
    **{(c, "ports"): "containerPort" for c in _CONTAINER_LISTS},
    ("spec", "ports"): "port",
    ("env",): "name",
    ("volumeMounts",): "mountPath",
    ("volumeDevices",): "devicePath",
    ("volumes",): "name",
    ("imagePullSecrets",): "name",
    ("hostAliases",): "ip",
    ("topologySpreadConstraints",): "topologyKey",
    ("ownerReferences",): "uid",
    ("conditions",): "type",
    ("podIPs",): "ip",
    ("hostIPs",): "ip",
}
# Lists of scalars that merge as sets instead of being replaced.
_MERGED_SCALAR_LISTS = {("finalizers",)}

_SET_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"


def _strategy(path: tuple[str, ...]) -> tuple[bool, str | None]:
    """(merge?, merge key) for the list at `path`."""
    for length in (2, 1):
        suffix = path[-length:]
        if len(suffix) == length:
            if suffix in _MERGE_KEYS:
                return True, _MERGE_KEYS[suffix]
            if suffix in _MERGED_SCALAR_LISTS:
                return True, None
    return False, None


def strategic_merge(original: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to an object; neither argument is modified."""
    if not isinstance(patch, dict):
        raise bad_request("a strategic merge patch must be a JSON object")
    result = _merge_map(original if isinstance(original, dict) else {}, patch, ())
    return {} if result is None else result


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]
) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if directive not in (None, "merge"):
        raise bad_request(f"unknown patch directive {directive!r}")
    result = dict(original)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, (*path, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, (*path, key))
        else:
            result[key] = value
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            field = key[len(_DELETE_FROM) :]
            doomed = value if isinstance(value, list) else []
            if isinstance(result.get(field), list):
                result[field] = [item for item in result[field] if item not in doomed]
        elif key.startswith(_SET_ORDER):
            field = key[len(_SET_ORDER) :]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = _reorder(result[field], value, _strategy((*path, field))[1])
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(original: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    merge, key = _strategy(path)
    if not merge or not isinstance(original, list):
        return [copy.deepcopy(item) for item in patch if not _is_directive(item)]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [copy.deepcopy(item) for item in patch if not _is_directive(item)]
    if key is None:
        return list(original) + [copy.deepcopy(item) for item in patch if item not in original]
    result = list(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise bad_request(f"map in list {'.'.join(path)} lacks its merge key {key!r}")
        position = next(
            (i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item[key]), None
        )
        if item.get("$patch") == "delete":
            result = [old for old in result if not (isinstance(old, dict) and old.get(key) == item[key])]
        elif position is None:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            merged = _merge_map(result[position], item, path)
            if merged is None:
                del result[position]
            else:
                result[position] = merged
    return result


def _is_directive(item: Any) -> bool:
    return isinstance(item, dict) and "$patch" in item and len(item) == 1


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Items named in `order` come first, in that order; the others keep their relative order after them."""

    def identity(item: Any) -> Any:
        return item.get(key) if key is not None and isinstance(item, dict) else item

    wanted = [identity(o) for o in order]
    ranked = sorted(
        enumerate(items),
        key=lambda pair: (
            (wanted.index(identity(pair[1])), 0) if identity(pair[1]) in wanted else (len(wanted), pair[0])
        ),
    )
    return [item for _, item in ranked]

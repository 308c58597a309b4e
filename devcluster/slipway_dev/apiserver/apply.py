"""Server-side apply (`PATCH` with `application/apply-patch+yaml`).

The applied configuration is merged into the live object by the types' rules (maps field by field,
keyed lists item by item, sets as sets, atomic values whole); the applier then owns exactly the fields
of its configuration. A field it applied before and no longer applies is removed, unless another manager
owns it too. Changing a field another manager owns is a conflict (409, naming each manager and field)
unless the apply is forced, which moves the field to the applier. Objects that never had managedFields
get a `before-first-apply` entry first, as on a real server.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import yaml

from slipway_dev.apiserver.errors import ApiError, bad_request
from slipway_dev.apiserver.fieldtypes import KEY_DEFAULTS, MAP, SET, Node, root_node
from slipway_dev.apiserver.managedfields import (
    APPLY,
    ManagerInfo,
    Path,
    Tree,
    compare_objects,
    entry_tree,
    ignored_roots,
    key_element,
    manager_label,
    members,
    new_entry,
    object_fields,
    path_string,
    same_manager,
    subtree,
    unmark_subtree,
)
from slipway_dev.apiserver.nesting import check_depth
from slipway_dev.apiserver.resources import ResourceType
from slipway_dev.apiserver.storage import Stored

if TYPE_CHECKING:
    from slipway_dev.apiserver.cluster import Cluster, WriteOptions

BEFORE_FIRST_APPLY = "before-first-apply"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def decode_configuration(raw: bytes) -> dict[str, Any]:
    """The applied configuration: YAML (JSON is YAML too), which must be one object."""
    try:
        value = json.loads(raw)
    except ValueError:
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise bad_request(f"error decoding YAML: {str(error).splitlines()[0]}") from None
    check_depth(value)
    if not isinstance(value, dict):
        found = {list: "array", str: "string", int: "number", float: "number", bool: "bool"}.get(
            type(value), "null"
        )
        raise bad_request(
            "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
            f"{found} into Go value of type map[string]interface {{}}"
        )
    return value


def server_side_apply(
    cluster: Cluster,
    resource: ResourceType,
    namespace: str,
    name: str,
    raw: bytes,
    subresource: str | None,
    options: WriteOptions,
    force: bool,
) -> tuple[Stored, bool]:
    """Apply a configuration; the stored (or, on dry run, computed) object and whether it was created."""
    config = decode_configuration(raw)
    config = cluster._checked_body(resource, namespace, config)
    meta = config["metadata"]
    if not meta.get("name"):
        meta["name"] = name
    if meta["name"] != name:
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )
    if meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    manager = options.manager
    node = root_node(resource)
    ignore = ignored_roots(resource, subresource)
    applied_tree = object_fields(config, node, added=False, ignore=ignore)
    live = cluster.store.get(resource.storage_key, namespace, name)
    if live is None:
        if subresource is not None:
            cluster.get(resource, namespace, name)  # 404, as for any write to a subresource
        entry = new_entry(
            ManagerInfo(manager.name, APPLY, subresource), resource.api_version, "", applied_tree
        )
        applying = replace(options, manager=replace(manager, operation=APPLY, applied=[entry]))
        return cluster.create(resource, namespace, copy.deepcopy(config), applying), True
    now = cluster.now()
    entries: list[dict[str, Any]] = live.copy()["metadata"].get("managedFields") or []
    if not entries:
        whole = object_fields(live.obj, node, added=False, ignore=ignored_roots(resource, None))
        if whole:
            entries = [new_entry(ManagerInfo(BEFORE_FIRST_APPLY), resource.api_version, now, whole)]
    mine = next((e for e in entries if same_manager(e, manager.name, APPLY, "", subresource)), None)
    others = [e for e in entries if e is not mine]
    merged = live.copy()
    merged["metadata"].pop("managedFields", None)
    _merge_object(merged, config, node, ignore)
    if mine is not None:
        _prune(merged, entry_tree(mine), applied_tree, others, node)
    changes = compare_objects(live.obj, merged, node, ignore)
    conflicts = [
        (other, path)
        for other in others
        for kind, changed, _, _ in changes
        if kind != "del"
        for path in _owned_under(entry_tree(other), changed)
    ]
    if conflicts and not force and manager.name == "kubectl":
        allowed = _allowed_by_last_applied(live.obj, node)
        conflicts = [(entry, path) for entry, path in conflicts if path not in allowed]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for other in others:
        tree = entry_tree(other)
        for _, changed, _, _ in changes:
            unmark_subtree(tree, changed)
    if mine is None:
        mine = new_entry(
            ManagerInfo(manager.name, APPLY, subresource), resource.api_version, now, applied_tree
        )
        entries.append(mine)
    elif entry_tree(mine) != applied_tree or mine.get("apiVersion") != resource.api_version:
        mine.update(apiVersion=resource.api_version, time=now, fieldsV1=applied_tree)
    kept = [e for e in entries if entry_tree(e)]
    merged["metadata"]["managedFields"] = kept
    merged["metadata"]["resourceVersion"] = meta.get("resourceVersion")
    _follow_last_applied(merged, config, namespace)
    applying = replace(options, manager=replace(manager, operation=APPLY, applied=kept))
    return cluster._commit_update(resource, live, merged, subresource, applying), False


def _follow_last_applied(merged: dict[str, Any], config: dict[str, Any], namespace: str) -> None:
    """An object client-side applied before keeps its last-applied annotation in step with what is
    applied server-side, so that a later client-side apply computes its patch from it (as upstream)."""
    annotations = merged["metadata"].get("annotations") or {}
    if LAST_APPLIED not in annotations or LAST_APPLIED in (config["metadata"].get("annotations") or {}):
        return
    last = copy.deepcopy(config)
    last["metadata"].pop("managedFields", None)
    if not namespace:
        last["metadata"].pop("namespace", None)
    annotations[LAST_APPLIED] = json.dumps(last, separators=(",", ":")) + "\n"


# -- merging


def _merge_object(live: dict[str, Any], config: dict[str, Any], node: Node, ignore: frozenset[str]) -> None:
    for name, value in config.items():
        if name in ("apiVersion", "kind") or name in ignore:
            continue
        child, _ = node.child(name)
        if name == "metadata":
            target = live.setdefault("metadata", {})
            for key, item in value.items():
                if key in ("name", "namespace", "resourceVersion", "uid", "generation", "creationTimestamp"):
                    continue
                meta_child, _ = child.child(key)
                _merge_field(target, key, item, meta_child)
        else:
            _merge_field(live, name, value, child)


def _merge_field(target: dict[str, Any], name: str, value: Any, node: Node) -> None:
    if value is None:
        target.pop(name, None)
        return
    target[name] = _merge(target.get(name), value, node)


def _merge(live: Any, config: Any, node: Node) -> Any:
    if isinstance(config, dict):
        if not isinstance(live, dict) or node.atomic_map():
            return copy.deepcopy(config)
        merged = dict(live)
        for name, value in config.items():
            child, _ = node.child(name)
            _merge_field(merged, name, value, child)
        return merged
    if isinstance(config, list) and isinstance(live, list):
        list_type, keys = node.list_type()
        if list_type == SET:
            return list(live) + [copy.deepcopy(v) for v in config if v not in live]
        if list_type == MAP and all(isinstance(i, dict) for i in live + config):
            item_node = node.item()
            result = list(live)
            positions = {key_element(item, keys): index for index, item in enumerate(result)}
            for item in config:
                element = key_element(item, keys)
                if element in positions:
                    result[positions[element]] = _merge(result[positions[element]], item, item_node)
                else:
                    positions[element] = len(result)
                    result.append(copy.deepcopy(item))
            return result
    return copy.deepcopy(config)


# -- removal of fields the applier stopped applying


def _prune(obj: dict[str, Any], before: Tree, after: Tree, others: list[dict[str, Any]], node: Node) -> None:
    still = set(members(after))
    other_trees = [entry_tree(e) for e in others]
    removed: list[Path] = []
    for path in members(before):  # parents first: a removed list item takes its fields with it
        if path in still or any(path[: len(r)] == r for r in removed):
            continue
        if any(subtree(tree, path) is not None for tree in other_trees):
            continue  # someone else owns it (or something inside it)
        if any(p[: len(path)] == path for p in still):
            continue  # the applier still applies something inside
        _remove_path(obj, path, node)
        removed.append(path)


def _remove_path(obj: Any, path: Path, node: Node) -> None:
    parents: list[tuple[Any, Any]] = []
    current = obj
    for element in path:
        kind, body = element[:2], element[2:]
        if isinstance(current, dict) and kind == "f:":
            if body not in current:
                return
            parents.append((current, body))
            node, _ = node.child(body)
            current = current[body]
        elif isinstance(current, list) and kind in ("k:", "v:", "i:"):
            index = _find_item(current, kind, body)
            if index is None:
                return
            parents.append((current, index))
            if kind == "k:":
                node = node.item()
            current = current[index]
        else:
            return
    container, key = parents[-1]
    del container[key]


def _find_item(items: list[Any], kind: str, body: str) -> int | None:
    if kind == "i:":
        index = int(body)
        return index if 0 <= index < len(items) else None
    wanted = json.loads(body)
    for index, item in enumerate(items):
        if kind == "v:" and item == wanted:
            return index
        if (
            kind == "k:"
            and isinstance(item, dict)
            and all(item.get(k, KEY_DEFAULTS.get(k)) == v for k, v in wanted.items())
        ):
            return index
    return None


# -- conflicts


def _owned_under(tree: Tree, path: Path) -> list[Path]:
    node = subtree(tree, path)
    if node is None:
        return []
    found = [path] if (not node or "." in node) else []
    return found + members(node, path)


def _conflict_error(conflicts: list[tuple[dict[str, Any], Path]]) -> ApiError:
    conflicts = sorted(conflicts, key=lambda c: (c[0].get("manager", ""), path_string(c[1])))
    causes = [
        {
            "type": "FieldManagerConflict",
            "message": f"conflict with {manager_label(entry)}",
            "field": path_string(path),
        }
        for entry, path in conflicts
    ]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {manager_label(entry)}: {path_string(path)}"
    else:
        by_manager: dict[str, list[str]] = {}
        for entry, path in conflicts:
            by_manager.setdefault(manager_label(entry), []).append(path_string(path))
        lines = []
        for label in sorted(by_manager):
            lines.append(f"conflicts with {label}:")
            lines += [f"- {p}" for p in by_manager[label]]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})


def _allowed_by_last_applied(live: dict[str, Any], node: Node) -> set[Path]:
    """Fields kubectl's client-side apply set (its annotation) that still hold the values it set: an
    apply by `kubectl` may take them over without conflict, as a real server lets it upgrade."""
    text = (live["metadata"].get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = json.loads(text) if text else None
    except ValueError:
        return set()
    if not isinstance(last, dict) or last.get("apiVersion") != live.get("apiVersion"):
        return set()
    return {
        path
        for path in members(object_fields(last, node, added=False))
        if _value_at(last, path) == _value_at(live, path)
    }


def _value_at(obj: Any, path: Path) -> Any:
    current = obj
    for element in path:
        kind, body = element[:2], element[2:]
        if isinstance(current, dict) and kind == "f:" and body in current:
            current = current[body]
        elif isinstance(current, list) and kind in ("k:", "v:", "i:"):
            index = _find_item(current, kind, body)
            if index is None:
                return _ABSENT
            current = current[index]
        else:
            return _ABSENT
    return current


_ABSENT = object()


# -- the /scale subresource


def server_side_apply_scale(
    cluster: Cluster,
    resource: ResourceType,
    namespace: str,
    name: str,
    raw: bytes,
    options: WriteOptions,
    force: bool,
) -> dict[str, Any]:
    """Apply a Scale (autoscaling/v1) to an object's /scale, as the real server's scale handler does:
    the parent's managers of its replicas field are seen as managers of the Scale's `spec.replicas`;
    the applier's entry is kept on the parent (with `subresource: scale`) owning the replicas field.
    A change of replicas owned by another manager is a conflict unless forced, which takes the field
    from them; applying the value already there shares it. The Scale is answered."""
    assert resource.scale is not None
    config = decode_configuration(raw)
    for field, label, expected in (
        ("apiVersion", "API version", "autoscaling/v1"),
        ("kind", "kind", "Scale"),
    ):
        if config.get(field) not in (None, expected):
            raise bad_request(
                f"the {label} in the data ({config[field]}) does not match the expected {label} ({expected})"
            )
    meta = config.get("metadata") or {}
    if not isinstance(meta, dict) or meta.get("name") not in (None, name):
        raise bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
        )
    if meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    spec = config.get("spec") or {}
    live = cluster.get(resource, namespace, name)
    replicas_path: Path = tuple(
        f"f:{part}" for part in resource.scale.spec_replicas_path.strip(".").split(".")
    )
    entries: list[dict[str, Any]] = live.copy()["metadata"].get("managedFields") or []
    manager = options.manager
    mine = next((e for e in entries if same_manager(e, manager.name, APPLY, "", "scale")), None)
    current = cluster.scale_of(resource, live.obj)["spec"]["replicas"]
    applies = isinstance(spec, dict) and "replicas" in spec
    if applies and spec["replicas"] != current:
        owners = [e for e in entries if e is not mine and subtree(entry_tree(e), replicas_path) is not None]
        if owners and not force:
            raise _conflict_error([(owner, ("f:spec", "f:replicas")) for owner in owners])
        for owner in owners:
            unmark_subtree(entry_tree(owner), replicas_path)
    if mine is None and applies:
        mine = new_entry(ManagerInfo(manager.name, APPLY, "scale"), resource.api_version, "", {})
        entries.append(mine)
    if mine is not None:
        tree: Tree = {}
        if applies:
            node = tree
            for element in replicas_path:
                node = node.setdefault(element, {})
        mine.update(apiVersion=resource.api_version, time=cluster.now(), fieldsV1=tree)
    kept = [e for e in entries if entry_tree(e)]
    scale = {
        "metadata": {"resourceVersion": meta.get("resourceVersion")},
        "spec": {"replicas": spec["replicas"] if applies else current},
    }
    applying = replace(options, manager=replace(manager, operation=APPLY, subresource="scale", applied=kept))
    return cluster.update_scale(resource, namespace, name, scale, applying)

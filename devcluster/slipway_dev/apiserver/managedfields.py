"""Field ownership (`metadata.managedFields`), kept on every write as a real API server keeps it.

A field set is a FieldsV1 tree, the form the API shows: each key is a path element (`f:<field>`,
`k:<json of the list item's keys>`, `v:<json of a set member>`, `i:<index>`); an empty node `{}` is an
owned field; a node with children is owned itself only when it holds `".": {}`.

Every create, update and patch records an `Update` entry for its manager: the fields it changed become
its own and leave every other manager (structured-merge-diff's rule); fields it removed leave everyone.
Only the changed part of an object is walked, so a write costs in proportion to what it changes.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from slipway_dev.apiserver.errors import field_cause, invalid
from slipway_dev.apiserver.fieldtypes import ATOMIC, KEY_DEFAULTS, MAP, SET, Node, root_node
from slipway_dev.apiserver.resources import ResourceType

MAX_MANAGER_LENGTH = 128
APPLY, UPDATE = "Apply", "Update"
FIELDS_V1 = "FieldsV1"
# Metadata the server owns: never part of anyone's field set.
SERVER_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)
_ROOT_IGNORED = frozenset({"apiVersion", "kind"})

Path = tuple[str, ...]
Tree = dict[str, Any]


@dataclass(frozen=True)
class ManagerInfo:
    """Who writes, and how: what a write records in managedFields."""

    name: str = "kube-apiserver"
    operation: str = UPDATE
    subresource: str | None = None  # recorded as the entry's subresource (status, scale)
    applied: list[dict[str, Any]] | None = None  # Apply: the managedFields the apply computed


SERVER_MANAGER = ManagerInfo()

# -- the request's field manager


def manager_from_request(query_manager: str | None, user_agent: str, options_kind: str, apply: bool) -> str:
    """The fieldManager parameter, checked as the real server checks it; the User-Agent's product name
    when there is none (apply requires one)."""
    causes = []
    manager = query_manager or ""
    if apply and not manager:
        causes.append(
            field_cause("fieldManager", "Required value: is required for apply patch", "FieldValueRequired")
        )
    if len(manager.encode()) > MAX_MANAGER_LENGTH:
        causes.append(
            field_cause(
                "fieldManager",
                f"Too long: may not be more than {MAX_MANAGER_LENGTH} bytes",
                "FieldValueTooLong",
            )
        )
    for position, char in enumerate(manager):
        if not char.isprintable():
            causes.append(
                field_cause(
                    "fieldManager",
                    f"Invalid value: {json.dumps(manager)}: invalid character U+{ord(char):04X} "
                    f"(at position {position})",
                )
            )
    if causes:
        raise invalid(options_kind, "meta.k8s.io", "", causes)
    if manager:
        return manager
    prefix = ""
    for char in user_agent.split("/")[0]:
        if not char.isprintable():
            continue
        if len((prefix + char).encode()) > MAX_MANAGER_LENGTH:
            break
        prefix += char
    return prefix


# -- path elements


def key_element(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    values = tuple(item.get(k, KEY_DEFAULTS.get(k)) for k in keys)
    # The types too: 1, 1.0 and true are equal keys to a cache, not in JSON.
    types = tuple(map(type, values))
    try:
        return _key_element(keys, values, types)
    except TypeError:  # a key whose value is a map or a list: rare, and not cached
        return _key_element.__wrapped__(keys, values, types)


@functools.lru_cache(maxsize=4096)
def _key_element(keys: tuple[str, ...], values: tuple[Any, ...], _types: tuple[type, ...]) -> str:
    # Cached: the same items (a pod's conditions, a container's name) recur in every write.
    mapping = dict(zip(keys, values, strict=True))
    return "k:" + json.dumps(mapping, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def value_element(value: Any) -> str:
    return "v:" + json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def path_string(path: Path) -> str:
    """`.spec.template.spec.containers[name="app"].image`, as structured-merge-diff prints a path."""
    parts = []
    for element in path:
        kind, body = element[:2], element[2:]
        if kind == "f:":
            parts.append("." + body)
        elif kind == "k:":
            keys = json.loads(body)
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]")
        elif kind == "v:":
            parts.append("[=" + body + "]")
        else:
            parts.append("[" + body + "]")
    return "".join(parts)


# -- FieldsV1 trees


def mark(tree: Tree, path: Path) -> None:
    """Add `path` to the set."""
    node = tree
    last = len(path) - 1
    for index, element in enumerate(path):
        child = node.get(element)
        if child is None:
            for rest in path[index:]:
                child = {}
                node[rest] = child
                node = child
            return
        if not child and index < last:
            child["."] = {}  # an owned leaf gains children: it stays owned
        node = child
    if node and "." not in node:
        node["."] = {}


def unmark_subtree(tree: Tree, path: Path) -> bool:
    """Remove `path` and everything under it from the set; whether anything was there."""
    trail = []
    node = tree
    for element in path:
        child = node.get(element)
        if child is None:
            return False
        trail.append((node, element))
        node = child
    parent, element = trail.pop()
    del parent[element]
    while True:
        if parent.keys() == {"."}:
            parent.clear()  # owned, with no children left: an owned leaf
            return True
        if parent or not trail:
            return True
        grand, element = trail.pop()
        del grand[element]  # an empty node that was not owned itself
        parent = grand


def subtree(tree: Tree, path: Path) -> Tree | None:
    node = tree
    for element in path:
        node = node.get(element)  # type: ignore[assignment]
        if node is None:
            return None
    return node


def members(tree: Tree, prefix: Path = ()) -> list[Path]:
    """Every path in the set, parents before children."""
    found: list[Path] = []
    stack = [(prefix, tree)]
    while stack:
        path, node = stack.pop()
        if path != prefix and (not node or "." in node):
            found.append(path)
        for element, child in node.items():
            if element != ".":
                stack.append(((*path, element), child))
    found.sort(key=len)
    return found


# -- field sets of values


def collect(value: Any, node: Node, path: Path, tree: Tree) -> None:
    """The fields a value sets, as an applied configuration owns them (structured-merge-diff's
    ToFieldSet): leaves, map keys, list items; structs only through their fields."""
    if isinstance(value, dict):
        if not value or node.atomic_map():
            mark(tree, path)
            return
        for name, child_value in value.items():
            child, declared = node.child(name)
            child_path = (*path, "f:" + name)
            if not declared or child_value is None or child_value == {}:
                mark(tree, child_path)
            collect(child_value, child, child_path, tree)
    elif isinstance(value, list):
        list_type, keys = node.list_type()
        if list_type == ATOMIC or not value:
            mark(tree, path)
        elif list_type == SET:
            for item in value:
                mark(tree, (*path, value_element(item)))
        else:
            item_node = node.item()
            for item in value:
                if not isinstance(item, dict):
                    mark(tree, path)
                    return
                item_path = (*path, key_element(item, keys))
                mark(tree, item_path)
                collect(item, item_node, item_path, tree)
    elif path:
        mark(tree, path)


def collect_added(value: Any, node: Node, path: Path, tree: Tree) -> None:
    """What an Update owns of a value it added: the value itself and what it holds (a struct that is
    always present owns only its contents)."""
    if isinstance(value, dict) and value and not node.atomic_map():
        if not node.always_present():
            mark(tree, path)
        for name, child_value in value.items():
            child, _ = node.child(name)
            collect_added(child_value, child, (*path, "f:" + name), tree)
    elif isinstance(value, list) and value and node.list_type()[0] != ATOMIC:
        collect(value, node, path, tree)
    else:
        mark(tree, path)


def object_fields(obj: dict[str, Any], node: Node, added: bool, ignore: frozenset[str] = frozenset()) -> Tree:
    """The field set of a whole object, without what the server owns."""
    tree: Tree = {}
    for name, value in obj.items():
        if name in _ROOT_IGNORED or name in ignore:
            continue
        child, _ = node.child(name)
        if name == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in SERVER_METADATA}
            if not value:
                continue
        if added:
            collect_added(value, child, ("f:" + name,), tree)
        else:
            if value is None or value == {}:
                mark(tree, ("f:" + name,))
            collect(value, child, ("f:" + name,), tree)
    return tree


# -- what changed between two versions of an object

Change = tuple[str, Path, Any, Node]  # ("add" | "mod" | "del", path, new value, type)


def compare_objects(
    old: dict[str, Any], new: dict[str, Any], node: Node, ignore: frozenset[str] = frozenset()
) -> list[Change]:
    changes: list[Change] = []
    skip = _ROOT_IGNORED | ignore
    for name in old.keys() | new.keys():
        if name in skip:
            continue
        before, after = old.get(name, _MISSING), new.get(name, _MISSING)
        if before == after:
            continue
        child, _ = node.child(name)
        path = ("f:" + name,)
        if name == "metadata" and isinstance(before, dict) and isinstance(after, dict):
            for key in before.keys() | after.keys():
                if key in SERVER_METADATA:
                    continue
                meta_child, _ = child.child(key)
                _compare(
                    before.get(key, _MISSING),
                    after.get(key, _MISSING),
                    meta_child,
                    (*path, "f:" + key),
                    changes,
                )
        else:
            _compare(before, after, child, path, changes)
    return changes


class _Missing:
    pass


_MISSING: Any = _Missing()


def _compare(before: Any, after: Any, node: Node, path: Path, changes: list[Change]) -> None:
    if before is _MISSING:
        if after is not _MISSING:
            changes.append(("add", path, after, node))
        return
    if after is _MISSING:
        changes.append(("del", path, None, node))
        return
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict) and not node.atomic_map():
        for name in before.keys() | after.keys():
            child, _ = node.child(name)
            _compare(
                before.get(name, _MISSING), after.get(name, _MISSING), child, (*path, "f:" + name), changes
            )
        return
    if isinstance(before, list) and isinstance(after, list):
        list_type, keys = node.list_type()
        if list_type == SET:
            old_set = {value_element(v) for v in before}
            new_set = {value_element(v): v for v in after}
            for element in old_set - new_set.keys():
                changes.append(("del", (*path, element), None, node))
            for element, value in new_set.items():
                if element not in old_set:
                    changes.append(("add", (*path, element), value, node))
            return
        if (
            list_type == MAP
            and all(isinstance(i, dict) for i in before)
            and all(isinstance(i, dict) for i in after)
        ):
            item_node = node.item()
            old_items = {key_element(i, keys): i for i in before}
            new_items = {key_element(i, keys): i for i in after}
            for element, item in old_items.items():
                _compare(item, new_items.get(element, _MISSING), item_node, (*path, element), changes)
            for element, item in new_items.items():
                if element not in old_items:
                    changes.append(("add", (*path, element), item, item_node))
            return
    changes.append(("mod", path, after, node))


def _owned_by_change(change: Change, tree: Tree) -> None:
    kind, path, value, node = change
    if kind == "del":
        unmark_subtree(tree, path)
        return
    if isinstance(value, dict | list) and kind == "add":
        unmark_subtree(tree, path)
        collect_added(value, node, path, tree)
    else:
        unmark_subtree(tree, path)
        mark(tree, path)
        if isinstance(value, dict) and not node.atomic_map():
            collect(value, node, path, tree)


# -- managedFields entries


def entry_tree(entry: dict[str, Any]) -> Tree:
    tree = entry.get("fieldsV1")
    return tree if isinstance(tree, dict) else {}


def new_entry(manager: ManagerInfo, api_version: str, now: str, tree: Tree) -> dict[str, Any]:
    entry = {
        "manager": manager.name,
        "operation": manager.operation,
        "apiVersion": api_version,
        "time": now,
        "fieldsType": FIELDS_V1,
        "fieldsV1": tree,
    }
    if manager.subresource:
        entry["subresource"] = manager.subresource
    return entry


def same_manager(
    entry: dict[str, Any], name: str, operation: str, api_version: str, subresource: str | None
) -> bool:
    """Entries are one manager's when name, operation and subresource match (and, for updates, the
    API version: structured-merge-diff's manager identifier)."""
    return (
        entry.get("manager") == name
        and entry.get("operation") == operation
        and entry.get("subresource") == subresource
        and (operation == APPLY or entry.get("apiVersion") == api_version)
    )


def valid_entries(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(e, dict)
        and isinstance(e.get("manager", ""), str)
        and e.get("operation") in (APPLY, UPDATE)
        and e.get("fieldsType", FIELDS_V1) == FIELDS_V1
        and isinstance(e.get("fieldsV1", {}), dict)
        for e in value
    )


def manager_label(entry: dict[str, Any]) -> str:
    """How a conflict names a manager: with the subresource it wrote through, and updaters with the API
    version they wrote with."""
    name = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        name += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == UPDATE:
        return f"{name} using {entry.get('apiVersion', '')}"
    return name


def ignored_roots(resource: ResourceType, subresource: str | None) -> frozenset[str]:
    """Top-level fields a write cannot own: status through the main resource when status is a
    subresource (the server resets it), everything but status through /status."""
    if subresource == "status":
        return frozenset({"metadata", "spec"})
    if resource.status_subresource:
        return frozenset({"status"})
    return frozenset()


# -- the hooks the Cluster calls on every write


def on_create(resource: ResourceType, obj: dict[str, Any], manager: ManagerInfo, now: str) -> None:
    meta = obj["metadata"]
    if manager.operation == APPLY and manager.applied is not None:
        meta["managedFields"] = [dict(e, time=now) for e in manager.applied]
        return
    tree = object_fields(obj, root_node(resource), added=True, ignore=ignored_roots(resource, None))
    meta["managedFields"] = [new_entry(manager, resource.api_version, now, tree)] if tree else []
    if not meta["managedFields"]:
        del meta["managedFields"]


def on_update(
    resource: ResourceType,
    old: dict[str, Any],
    new: dict[str, Any],
    subresource: str | None,
    manager: ManagerInfo,
    now: str,
) -> None:
    """Set `new`'s managedFields: the old ones (or those the request sent) with this write's changes."""
    meta = new["metadata"]
    old_entries = old["metadata"].get("managedFields") or []
    if manager.operation == APPLY and manager.applied is not None:
        entries = manager.applied
    else:
        sent = meta.get("managedFields")
        if sent == [{}]:
            entries = []  # the documented way to reset ownership
        elif sent and valid_entries(sent) and sent != old_entries:
            entries = sent
        else:
            # The stored entries themselves, never changed in place: _record copies those it changes,
            # so versions of an object share the others, in the store and in the watch history.
            entries = old_entries
        label = manager.subresource or subresource
        changes = compare_objects(old, new, root_node(resource), ignored_roots(resource, subresource))
        if changes:
            entries = _record(entries, changes, manager, label, resource.api_version, now)
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def _own(entry: dict[str, Any]) -> dict[str, Any]:
    """A private deep copy of an entry, to change."""
    copied: dict[str, Any] = json.loads(json.dumps(entry))
    return copied


def _record(
    entries: list[dict[str, Any]],
    changes: list[Change],
    manager: ManagerInfo,
    subresource: str | None,
    api_version: str,
    now: str,
) -> list[dict[str, Any]]:
    """The entries after an Update's changes; those it changes are copies, the rest are `entries`'."""
    mine = None
    recorded = []
    paths = [path for _, path, _, _ in changes]
    for entry in entries:
        if same_manager(entry, manager.name, UPDATE, api_version, subresource):
            mine = _own(entry)
            recorded.append(mine)
            continue
        tree = entry_tree(entry)
        if any(subtree(tree, path) is not None for path in paths):
            entry = _own(entry)
            tree = entry_tree(entry)
            for path in paths:
                unmark_subtree(tree, path)
            entry["fieldsV1"] = tree
        recorded.append(entry)
    if mine is None:
        mine = new_entry(ManagerInfo(manager.name, UPDATE, subresource), api_version, now, {})
        recorded.append(mine)
    tree = entry_tree(mine)
    for change in changes:
        _owned_by_change(change, tree)
    mine["fieldsV1"] = tree
    mine["time"] = now
    return _capped([e for e in recorded if entry_tree(e)])


MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"


def _capped(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most ten Update entries: the oldest are merged into one `ancient-changes` entry, as upstream
    keeps an object with many updaters from growing without end."""
    updates = [e for e in entries if e.get("operation") == UPDATE]
    if len(updates) <= MAX_UPDATE_MANAGERS:
        return entries
    found = next((e for e in updates if e.get("manager") == ANCIENT_CHANGES), None)
    oldest = sorted((e for e in updates if e is not found), key=lambda e: str(e.get("time", "")))
    excess = len(updates) - MAX_UPDATE_MANAGERS + (0 if found is not None else 1)
    merged = oldest[:excess]
    if found is None:
        bucket = new_entry(ManagerInfo(ANCIENT_CHANGES), merged[0].get("apiVersion", ""), "", {})
        entries = [*entries, bucket]
    else:
        bucket = _own(found)
        entries = [bucket if e is found else e for e in entries]
    tree = entry_tree(bucket)
    for entry in merged:
        for path in members(entry_tree(entry)):
            mark(tree, path)
        bucket["time"] = max(str(bucket.get("time") or ""), str(entry.get("time", "")))
    bucket["fieldsV1"] = tree
    return [e for e in entries if all(e is not m for m in merged)]


_OPTIONS_KIND = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}


def write_manager(method: str, query: Any, user_agent: str, applying: bool) -> ManagerInfo:
    """The manager of a write request (checked as a real server checks `fieldManager` and `force`)."""
    options_kind = _OPTIONS_KIND.get(method)
    if options_kind is None:
        return ManagerInfo()
    if method == "PATCH" and not applying and "force" in query:
        raise invalid(
            options_kind,
            "meta.k8s.io",
            "",
            [
                field_cause(
                    "force", "Forbidden: may not be specified for non-apply patch", "FieldValueForbidden"
                )
            ],
        )
    return ManagerInfo(manager_from_request(query.get("fieldManager"), user_agent, options_kind, applying))

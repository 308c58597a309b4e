"""How server-side apply sees the shape of an object: which maps are structs and which free-form,
which lists merge by key, as a set or atomically.

Built-in kinds follow the list and map markers of Kubernetes' Go types (`+listType=map`,
`+listMapKey=...`, `+structType=atomic`) for the fields the dev cluster serves; custom resources follow
their CRD schema (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`).
Where nothing is known (`x-kubernetes-preserve-unknown-fields`, or no schema), maps are granular and
lists atomic, as structured-merge-diff "deduces" them.
"""

from __future__ import annotations

from typing import Any, Protocol

from slipway_dev.apiserver.resources import ResourceType

ATOMIC, SET, MAP = "atomic", "set", "map"

# Maps of free-form keys in built-in kinds (each key is a field of its own).
_FREE_MAPS = frozenset(
    {
        "labels",
        "annotations",
        "data",
        "binaryData",
        "stringData",
        "nodeSelector",
        "limits",
        "requests",
        "capacity",
        "allocatable",
        "parameters",
        "matchLabels",
    }
)
# Structs replaced as a whole (LabelSelector is `+structType=atomic`).
_ATOMIC_STRUCTS = frozenset({"selector", "labelSelector", "namespaceSelector"})
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# (parent field, list field) or (list field,) -> map keys; the longer match wins.
_LIST_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {
    **{(c,): ("name",) for c in _CONTAINER_LISTS},
    **{(c, "ports"): ("containerPort", "protocol") for c in _CONTAINER_LISTS},
    ("spec", "ports"): ("port", "protocol"),
    ("env",): ("name",),
    ("volumes",): ("name",),
    ("volumeMounts",): ("mountPath",),
    ("volumeDevices",): ("devicePath",),
    ("imagePullSecrets",): ("name",),
    ("hostAliases",): ("ip",),
    ("topologySpreadConstraints",): ("topologyKey", "whenUnsatisfiable"),
    ("resourceClaims",): ("name",),
    ("ownerReferences",): ("uid",),
    ("conditions",): ("type",),
    ("podIPs",): ("ip",),
    ("hostIPs",): ("ip",),
}
_SET_LISTS = frozenset({("metadata", "finalizers")})
# Key fields a real server defaults before it compares list items.
KEY_DEFAULTS = {"protocol": "TCP"}
# Non-pointer structs of built-in kinds: present even in an empty object, so an Update that fills them
# does not own the struct itself, only what it sets inside.
_ALWAYS_PRESENT = frozenset({"metadata", "spec", "status", "template", "strategy"})


class Node(Protocol):
    """The type of one value in an object."""

    def child(self, name: str) -> tuple[Node, bool]:
        """The type of a field of this map, and whether it is a declared struct field."""
        ...

    def item(self) -> Node: ...

    def atomic_map(self) -> bool: ...

    def list_type(self) -> tuple[str, tuple[str, ...]]: ...

    def always_present(self) -> bool: ...


class BuiltinNode:
    __slots__ = ("_children", "kind", "names")

    def __init__(self, kind: str, names: tuple[str, ...]) -> None:
        self.kind = kind
        self.names = names
        self._children: dict[str, tuple[Node, bool]] = {}

    def _free_map(self) -> bool:
        if not self.names:
            return False
        last = self.names[-1]
        if self.kind == "Service" and self.names == ("spec", "selector"):
            return True
        return last in _FREE_MAPS

    def child(self, name: str) -> tuple[Node, bool]:
        found = self._children.get(name)
        if found is None:
            found = (BuiltinNode(self.kind, (*self.names, name)), not self._free_map())
            self._children[name] = found
        return found

    def item(self) -> Node:
        return self

    def atomic_map(self) -> bool:
        if self.kind == "Service" and self.names == ("spec", "selector"):
            return False
        return bool(self.names) and self.names[-1] in _ATOMIC_STRUCTS

    def list_type(self) -> tuple[str, tuple[str, ...]]:
        for length in (2, 1):
            suffix = self.names[-length:]
            if len(suffix) == length:
                if suffix in _LIST_KEYS:
                    return MAP, _LIST_KEYS[suffix]
                if suffix in _SET_LISTS:
                    return SET, ()
        return ATOMIC, ()

    def always_present(self) -> bool:
        return len(self.names) <= 3 and bool(self.names) and self.names[-1] in _ALWAYS_PRESENT


class SchemaNode:
    """A CRD's openAPIV3Schema node; None for a value whose type is unknown ("deduced")."""

    __slots__ = ("_children", "_item", "kind", "schema", "top")

    def __init__(self, schema: dict[str, Any] | None, kind: str, top: bool = False) -> None:
        self.schema = schema or {}
        self.kind = kind
        self.top = top
        self._children: dict[str, tuple[Node, bool]] = {}
        self._item: Node | None = None

    def child(self, name: str) -> tuple[Node, bool]:
        found = self._children.get(name)
        if found is None:
            properties = self.schema.get("properties") or {}
            node: Node
            if self.top and name == "metadata":
                found = (BuiltinNode(self.kind, ("metadata",)), True)
            elif name in properties:
                found = (SchemaNode(properties[name], self.kind), True)
            elif isinstance(self.schema.get("additionalProperties"), dict):
                node = SchemaNode(self.schema["additionalProperties"], self.kind)
                found = (node, False)
            else:
                found = (SchemaNode(None, self.kind), False)
            self._children[name] = found
        return found

    def item(self) -> Node:
        if self._item is None:
            items = self.schema.get("items")
            self._item = SchemaNode(items if isinstance(items, dict) else None, self.kind)
        return self._item

    def atomic_map(self) -> bool:
        return self.schema.get("x-kubernetes-map-type") == "atomic"

    def list_type(self) -> tuple[str, tuple[str, ...]]:
        kind = self.schema.get("x-kubernetes-list-type", ATOMIC)
        if kind == MAP:
            return MAP, tuple(self.schema.get("x-kubernetes-list-map-keys") or ())
        return (SET, ()) if kind == SET else (ATOMIC, ())

    def always_present(self) -> bool:
        return False


_ROOTS: dict[tuple[str, str, int], tuple[Any, Node]] = {}


def root_node(resource: ResourceType) -> Node:
    """The type of a whole object of this resource (cached; a changed CRD schema gets a new one)."""
    key = (resource.storage_key, resource.version, id(resource.schema))
    cached = _ROOTS.get(key)
    if cached is None or cached[0] is not resource.schema:
        node: Node = (
            SchemaNode(resource.schema, resource.kind, top=True)
            if resource.custom
            else BuiltinNode(resource.kind, ())
        )
        cached = (resource.schema, node)
        _ROOTS[key] = cached
    return cached[1]

"""What the server serves: resource types, keyed by group, version and plural, as discovery lists them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ScaleSpec:
    """Where the /scale subresource reads and writes replicas (JSONPaths as a CRD declares them)."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None


@dataclass(frozen=True)
class ColumnSpec:
    """A printer column given by a JSONPath (CRD additionalPrinterColumns)."""

    name: str
    type: str
    json_path: str
    format: str = ""
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    scale: ScaleSpec | None = None
    custom: bool = False
    printer_columns: tuple[ColumnSpec, ...] = ()
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    verbs: tuple[str, ...] = ALL_VERBS
    # Discovery entries of subresources served outside the generic handlers (serviceaccounts/token):
    # (name, group, version, kind, verbs).
    extra_subresources: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> str:
        """Objects are stored once per group and plural, whichever version wrote them."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


class Registry:
    """The resource types currently served; CRDs add and remove theirs at run time."""

    def __init__(self, types: list[ResourceType]) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        # (apiVersion, kind) -> type: how the garbage collector resolves an ownerReference, at every
        # write of an object that has one.
        self._kinds: dict[tuple[str, str], ResourceType] = {}
        for resource in types:
            self.add(resource)

    def add(self, resource: ResourceType) -> None:
        self._types[(resource.group, resource.version, resource.plural)] = resource
        self._kinds[(resource.api_version, resource.kind)] = resource

    def remove(self, group: str, plural: str) -> None:
        for key in [k for k in self._types if k[0] == group and k[2] == plural]:
            removed = self._types.pop(key)
            self._kinds.pop((removed.api_version, removed.kind), None)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._kinds.get((api_version, kind))

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    def group_versions(self) -> dict[str, list[str]]:
        """Each served group with its versions, in registration order (the first is preferred)."""
        groups: dict[str, list[str]] = {}
        for group, version, _ in self._types:
            versions = groups.setdefault(group, [])
            if version not in versions:
                versions.append(version)
        return groups

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for (g, v, _), r in self._types.items() if g == group and v == version]

    def by_storage_key(self, storage_key: str) -> ResourceType | None:
        return next((r for r in self._types.values() if r.storage_key == storage_key), None)

"""Finding plug-ins: every module of a package that declares a `PLUGIN`, by name, so that adding one
is adding a file. Modules whose name starts with `_`, and the package's own helpers, are skipped."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import TypeVar

P = TypeVar("P")


def discover(package: ModuleType, kind: type[P], helpers: frozenset[str]) -> dict[str, P]:
    """Each plug-in module of `package` (by module name, sorted) to its `PLUGIN`, which must be a `kind`."""
    found: dict[str, P] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda module: module.name):
        if info.name.startswith("_") or info.name in helpers:
            continue
        name = f"{package.__name__}.{info.name}"
        plugin = getattr(importlib.import_module(name), "PLUGIN", None)
        if not isinstance(plugin, kind):
            raise TypeError(f"{name}.PLUGIN is not a {kind.__name__}")
        found[info.name] = plugin
    return found

"""Request paths of the Kubernetes REST API, parsed into what they address."""

from __future__ import annotations

from dataclasses import dataclass

from slipway_dev.apiserver.errors import ApiError
from slipway_dev.apiserver.resources import Registry, ResourceType

SUBRESOURCES = ("status", "scale")


@dataclass(frozen=True)
class Target:
    """A resource path: collection (name None) or object, maybe a subresource; namespace None = all."""

    resource: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def _unknown(path: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f"the server could not find the requested resource ({path})",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]},
    )


def resolve(registry: Registry, path: str) -> Target | None:
    """The resource a path names, or None when it is not a resource path (discovery, openapi, ...)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not registry.in_group_version(group, version):
        raise _unknown(path)
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and registry.lookup(group, version, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]
    resource = registry.lookup(group, version, rest[0])
    if resource is None or len(rest) > 3:
        raise _unknown(path)
    name = rest[1] if len(rest) >= 2 else None
    subresource = rest[2] if len(rest) == 3 else None
    if subresource is not None and not (
        (subresource == "status" and resource.status_subresource)
        or (subresource == "scale" and resource.scale is not None)
        or (subresource == "log" and (resource.group, resource.plural) == ("", "pods"))
    ):
        raise _unknown(path)
    if resource.namespaced and namespace is None and name is not None:
        raise _unknown(path)
    if not resource.namespaced and namespace is not None:
        raise _unknown(path)
    return Target(resource, namespace if resource.namespaced else "", name, subresource)

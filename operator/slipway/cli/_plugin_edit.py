"""The spec changes `kubectl slipway set image` and `restart` make (pure): JSON patches that first test
metadata.resourceVersion, so that a Release changed since the plugin read it is left alone.

Both change spec.template, so the operator rolls out a new revision (its hash covers the template):
`set image` of a new image, `restart` of the same version with new pods, like `kubectl rollout restart`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

Obj = Mapping[str, Any]
Patch = list[dict[str, Any]]

# A pod template annotation whose new value makes a new revision of the same version.
RESTARTED_AT: Final = "slipway.dev/restartedAt"

_CONTAINER_LISTS: Final = ("containers", "initContainers")


class EditError(Exception):
    """The change cannot be made to this Release, in a user's words."""


def _guarded(release: Obj) -> Patch:
    meta = release.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
    return [{"op": "test", "path": "/metadata/resourceVersion", "value": version}]


def _template(release: Obj) -> Obj:
    spec = release.get("spec")
    template = spec.get("template") if isinstance(spec, Mapping) else None
    return template if isinstance(template, Mapping) else {}


def parse_assignment(text: str) -> tuple[str, str]:
    """CONTAINER=IMAGE, both non-empty."""
    container, sep, image = text.partition("=")
    if not sep or not container or not image:
        raise EditError(f"{text!r}: expected CONTAINER=IMAGE")
    return container, image


def set_image_patch(release: Obj, container: str, image: str) -> tuple[Patch, str]:
    """The patch setting `container`'s image (a container or an init container), and its image before."""
    pod = _template(release).get("spec")
    pod = pod if isinstance(pod, Mapping) else {}
    names: list[str] = []
    for key in _CONTAINER_LISTS:
        for index, entry in enumerate(pod.get(key) or []):
            if not isinstance(entry, Mapping):
                continue
            names.append(str(entry.get("name")))
            if entry.get("name") == container:
                before = str(entry.get("image") or "-")
                change = {"op": "replace", "path": f"/spec/template/spec/{key}/{index}/image", "value": image}
                return [*_guarded(release), change], before
    known = ", ".join(names) or "none"
    raise EditError(f"no container {container!r} in spec.template (containers: {known})")


def restart_patch(release: Obj, at: str) -> Patch:
    """The patch stamping the pod template with RESTARTED_AT=`at` (adding the maps it lacks)."""
    metadata = _template(release).get("metadata")
    patch = _guarded(release)
    if not isinstance(metadata, Mapping):
        patch.append({"op": "add", "path": "/spec/template/metadata", "value": {"annotations": {}}})
    elif not isinstance(metadata.get("annotations"), Mapping):
        patch.append({"op": "add", "path": "/spec/template/metadata/annotations", "value": {}})
    key = RESTARTED_AT.replace("~", "~0").replace("/", "~1")
    patch.append({"op": "add", "path": f"/spec/template/metadata/annotations/{key}", "value": at})
    return patch

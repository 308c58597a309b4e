"""The Releases at the operator's start, as paths: what its watch is to show before the first pass
(controller/first_look.py). One paged LIST per namespace; only the paths are kept. (The objects they
own are listed by their own watch: controller/owned_watch.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slipway.kube.client import KubeApi
from slipway.manifests import GROUP, VERSION

PAGE = 500
"""Items per page of a LIST that may be long (here, and the Events after a restart)."""


@dataclass(frozen=True)
class Listed:
    paths: frozenset[str]
    release_namespaces: frozenset[str] = frozenset()
    """The namespaces holding Releases."""


def listed_at_start(api: KubeApi, namespaces: Sequence[str]) -> Listed:
    """The Releases in `namespaces` (none: every namespace)."""
    paths: set[str] = set()
    release_namespaces: set[str] = set()
    base = f"/apis/{GROUP}/{VERSION}"
    collections = [f"{base}/namespaces/{namespace}/releases" for namespace in namespaces]
    for collection in collections or [f"{base}/releases"]:
        for page in api.pages(collection, PAGE):
            for item in page:
                namespace, name = item["metadata"]["namespace"], item["metadata"]["name"]
                paths.add(f"{base}/namespaces/{namespace}/releases/{name}")
                release_namespaces.add(namespace)
    return Listed(frozenset(paths), frozenset(release_namespaces))

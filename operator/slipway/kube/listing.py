"""What the cluster holds at the operator's start, as paths: what its watch is to show before the first
pass (controller/first_look.py). One paged LIST per kind and namespace; only the paths are kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slipway.kube.client import ApiError, KubeApi
from slipway.manifests import GROUP, LABEL_RELEASE, VERSION

# (the API group's path, the plural, the label selector): the Releases, and what is labelled as theirs.
_KINDS: tuple[tuple[str, str, str | None], ...] = (
    (f"/apis/{GROUP}/{VERSION}", "releases", None),
    ("/api/v1", "services", LABEL_RELEASE),
    ("/apis/monitoring.coreos.com/v1", "prometheusrules", LABEL_RELEASE),
    ("/apis/apps/v1", "deployments", LABEL_RELEASE),
)
PAGE = 500
"""Items per page of a LIST that may be long (here, and the Events after a restart)."""


@dataclass(frozen=True)
class Listed:
    paths: frozenset[str]
    whole: bool
    """Every kind listed to its end, or not served at all (no PrometheusRule CRD: nothing to show).
    False after any other error, even partway: then some object of the cluster is not in `paths`."""
    release_namespaces: frozenset[str] = frozenset()
    """The namespaces holding Releases."""


def listed_at_start(api: KubeApi, namespaces: Sequence[str]) -> Listed:
    """The Releases, and the Services, PrometheusRules and Deployments labelled as some Release's, in
    `namespaces` (none: every namespace)."""
    paths: set[str] = set()
    release_namespaces: set[str] = set()
    whole = True
    for base, plural, selector in _KINDS:
        collections = [f"{base}/namespaces/{namespace}/{plural}" for namespace in namespaces]
        for collection in collections or [f"{base}/{plural}"]:
            try:
                for page in api.pages(collection, PAGE, label_selector=selector):
                    for item in page:
                        namespace, name = item["metadata"]["namespace"], item["metadata"]["name"]
                        paths.add(f"{base}/namespaces/{namespace}/{plural}/{name}")
                        if plural == "releases":
                            release_namespaces.add(namespace)
            except ApiError as error:
                whole = whole and error.not_found
    return Listed(frozenset(paths), whole, frozenset(release_namespaces))

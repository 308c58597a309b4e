"""The operator's own writes as the watch will show them back: an event that only echoes one wakes nothing.

A pass that writes a Release's status, or creates or scales one of its Deployments, decided on
everything the object then holds (the status write is guarded by the resourceVersion it read; a
Deployment is the snapshot the pass applied). The watch event of that write brings the pass nothing
new, yet it woke a second pass per write: after a gate opens, one for the status and one for the new
Deployment, each re-reading the Release and its Deployments. What does change afterwards (a Deployment
the cluster scaled, pods becoming ready) comes with its own resourceVersion and wakes the Release.
"""

from __future__ import annotations

import threading


class OwnWrites:
    """Per object (its API path), the resourceVersion the operator's last write to it produced, until
    the watch shows it. Written from the passes' worker threads, read on the event loop."""

    def __init__(self) -> None:
        self._versions: dict[str, str] = {}
        self._lock = threading.Lock()

    def wrote(self, path: str, resource_version: str) -> None:
        with self._lock:
            self._versions[path] = resource_version

    def echo(self, path: str, resource_version: str) -> bool:
        """Whether a watch event shows the object exactly as our last write left it (used up once)."""
        with self._lock:
            if self._versions.get(path) != resource_version:
                return False
            del self._versions[path]
            return True

    def forget(self, path: str) -> None:
        """The object is gone."""
        with self._lock:
            self._versions.pop(path, None)

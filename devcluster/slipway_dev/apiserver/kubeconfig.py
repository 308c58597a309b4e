"""A kubeconfig that points kubectl and the clients at a dev API server."""

from __future__ import annotations

from pathlib import Path

import yaml

CONTEXT = "slipway-dev"


class KubeconfigInUse(FileExistsError):
    """The path holds a kubeconfig that a dev cluster did not write (a user's own, say)."""


def _written_by_dev_cluster(text: str) -> bool:
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    if not isinstance(config, dict):
        return False
    clusters = config.get("clusters") or []
    return all(isinstance(c, dict) and c.get("name") == CONTEXT for c in clusters)


def write_kubeconfig(path: str | Path, url: str, namespace: str = "default") -> Path:
    """Write a kubeconfig whose current context is the server at `url` (no credentials: it is local).

    An existing file is replaced only when a dev cluster wrote it: pointing `--kubeconfig` at
    ~/.kube/config by mistake must not wipe a user's real clusters.
    """
    target = Path(path)
    if target.exists() and target.stat().st_size and not _written_by_dev_cluster(target.read_text()):
        raise KubeconfigInUse(
            f"{target} holds a kubeconfig a dev cluster did not write; refusing to overwrite it "
            "(choose another --kubeconfig path)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target

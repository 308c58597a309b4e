"""A kubeconfig that points kubectl and the clients at a dev API server."""

from __future__ import annotations

from pathlib import Path

import yaml

CONTEXT = "slipway-dev"


def write_kubeconfig(path: str | Path, url: str, namespace: str = "default") -> Path:
    """Write a kubeconfig whose current context is the server at `url` (no credentials: it is local)."""
    target = Path(path)
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

"""A kubeconfig that points kubectl and the clients at a dev API server."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from slipway_dev.apiserver.credentials import Credentials

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


def write_kubeconfig(path: str | Path, credentials: Credentials, namespace: str = "default") -> Path:
    """Write a kubeconfig whose current context is the server of `credentials`: its HTTPS URL, the CA
    that signed its certificate (certificate-authority-data) and the user's bearer token.

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
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {
                    "server": credentials.url,
                    "certificate-authority-data": base64.b64encode(credentials.ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": CONTEXT, "user": {"token": credentials.token} if credentials.token else {}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }
    # The token is the admin's: readable by its owner only, like kubeadm's admin.conf.
    target.touch(mode=0o600, exist_ok=True)
    target.chmod(0o600)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def read_credentials(path: str | Path) -> Credentials:
    """The credentials of a kubeconfig a dev cluster wrote (for scripts and tests that skip kubectl)."""
    config = yaml.safe_load(Path(path).read_text())
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == CONTEXT)
    user = next(u["user"] for u in config["users"] if u["name"] == CONTEXT)
    return Credentials(
        cluster["server"], base64.b64decode(cluster["certificate-authority-data"]), user.get("token")
    )

"""What tests of the bare dev API server share: the real kubectl pointed at one server through a private
kubeconfig and discovery cache, raw HTTPS requests for what kubectl never sends, and polling with a
deadline. A module of its own (not conftest) so tests import it by one unambiguous name."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway_dev.apiserver import ApiServer, Credentials, write_kubeconfig

REPO = Path(__file__).resolve().parents[2]
RELEASE_CRD = REPO / "crds" / "releases.slipway.dev.yaml"
# The ConfigMap the root-CA publisher keeps in every namespace, as on a real cluster: a namespace's
# ConfigMaps always include it.
ROOT_CA = "kube-root-ca.crt"


def names(items: list[dict[str, Any]]) -> list[str]:
    """The names of listed objects."""
    return [item["metadata"]["name"] for item in items]


class KubectlError(AssertionError):
    pass


@dataclass
class Kubectl:
    """Runs the real kubectl against one dev API server."""

    env: dict[str, str]
    kubeconfig: Path

    def __call__(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60) -> str:
        result = self.run(*args, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout

    def run(
        self, *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", *args], env=self.env, input=input, capture_output=True, text=True, timeout=timeout
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["kubectl", *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


@dataclass
class Response:
    status: int
    body: Any
    content_type: str


@dataclass
class Http:
    """Raw requests to the server, for what kubectl never sends (bad bodies, stale writes, ...): over
    HTTPS verified against the server's CA, with the credentials' token (the admin's by default)."""

    credentials: Credentials

    @property
    def url(self) -> str:
        return self.credentials.url

    def as_token(self, token: str | None) -> Http:
        """The same server with another bearer token (None: no Authorization header at all)."""
        return Http(self.credentials.with_token(token))

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        for key, value in self.credentials.headers().items():
            request.add_header(key, value)
        if data is not None:
            request.add_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(
                request, timeout=30, context=self.credentials.ssl_context()
            ) as answer:
                return Response(answer.status, _decode(answer.read()), answer.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as error:
            return Response(error.code, _decode(error.read()), error.headers.get("Content-Type", ""))


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def wait_for(condition: Callable[[], Any], timeout: float = 15, interval: float = 0.05) -> Any:
    """Poll until `condition()` is truthy; its value is returned. Fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def kubectl_for(server: ApiServer, directory: Path) -> Kubectl:
    kubeconfig = write_kubeconfig(directory / "kubeconfig", server.credentials())
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory),
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(directory / "cache"),
    }
    return Kubectl(env, kubeconfig)


def plain_deployment(name: str = "web", replicas: int = 1) -> dict[str, Any]:
    """A Deployment of one container selecting its pods by `app: <name>`: what tests of the server's own
    semantics create when the content of the pods does not matter."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "demo/web"}]},
            },
        },
    }

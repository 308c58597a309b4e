"""A small kopf operator against the server: it lists and watches, patches status, adds and removes its
finalizer and posts Events, all through the same REST calls as against a real cluster."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apiserver_support import Http, Kubectl, kubectl_for, wait_for

from slipway_dev.apiserver import ApiServer

WIDGETS = "/apis/test.slipway.dev/v1/namespaces/default/widgets"

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.slipway.dev"},
    "spec": {
        "group": "test.slipway.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}

OPERATOR = textwrap.dedent("""
    import kopf

    @kopf.on.startup()
    def configure(settings, **_):
        settings.persistence.finalizer = "test.slipway.dev/cleanup"
        settings.watching.server_timeout = 20

    @kopf.on.create("test.slipway.dev", "v1", "widgets")
    def created(spec, body, patch, **_):
        kopf.info(body, reason="Sized", message=f"size {spec['size']}")
        patch.status["observedSize"] = spec["size"]

    @kopf.on.update("test.slipway.dev", "v1", "widgets", field="spec.size")
    def resized(new, patch, **_):
        patch.status["observedSize"] = new

    @kopf.on.delete("test.slipway.dev", "v1", "widgets")
    def deleted(body, **_):
        kopf.info(body, reason="Goodbye", message="cleaning up")
""")


@pytest.fixture
def operator(apiserver: ApiServer, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    kubectl = kubectl_for(apiserver, tmp_path)
    kubectl("apply", "-f", "-", input=json.dumps(CRD))
    script = tmp_path / "operator.py"
    script.write_text(OPERATOR)
    log = (tmp_path / "kopf.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", "default", str(script)],
        env={**kubectl.env, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _events(http: Http, reason: str) -> list[Any]:
    return [
        e for e in http("GET", "/api/v1/namespaces/default/events").body["items"] if e.get("reason") == reason
    ]


def test_kopf_handles_create_update_and_delete(
    operator: subprocess.Popen[str], http: Http, kubectl: Kubectl, tmp_path: Path
) -> None:
    kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "test.slipway.dev/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"size": 3},
            }
        ),
    )

    def widget() -> Any:
        return http("GET", f"{WIDGETS}/w").body

    def diagnostics() -> str:
        return (tmp_path / "kopf.log").read_text()[-3000:]

    try:
        wait_for(lambda: widget().get("status", {}).get("observedSize") == 3, timeout=60)
        assert widget()["metadata"]["finalizers"] == ["test.slipway.dev/cleanup"]
        sized = wait_for(lambda: _events(http, "Sized"), timeout=30)
        assert sized[0]["message"] == "size 3"
        assert sized[0]["involvedObject"]["name"] == "w"
        kubectl("patch", "widget", "w", "--type=merge", "-p", '{"spec": {"size": 5}}')
        wait_for(lambda: widget().get("status", {}).get("observedSize") == 5, timeout=30)
        kubectl("delete", "widget", "w", "--timeout=60s", timeout=90)
        assert http("GET", f"{WIDGETS}/w").status == 404
        assert _events(http, "Goodbye")
        assert operator.poll() is None
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- kopf log ---\n{diagnostics()}") from failure

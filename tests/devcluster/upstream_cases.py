"""Shared helpers for the tests adapted from kubernetes/kubernetes test/cmd/*.sh (test_upstream_*.py).

Upstream asserts with `kube::test::get_object_assert WHAT TEMPLATE EXPECTED` (a go-template over
`kubectl get WHAT`) and `kube::test::if_has_string OUTPUT TEXT`; these are the same checks here."""

from __future__ import annotations

import subprocess
import time
from typing import Any, Protocol


class Runs(Protocol):
    def run(
        self, *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...


def get(kubectl: Any, what: str, template: str) -> str:
    """`kube::test::get_object_assert`'s left-hand side: `kubectl get WHAT -o go-template=TEMPLATE`."""
    return str(kubectl("get", *what.split(), "-o", f"go-template={template}"))


def names(kubectl: Any, what: str) -> str:
    """Upstream's `{{range.items}}{{.metadata.name}}:{{end}}` over a list."""
    return get(kubectl, what, "{{range.items}}{{.metadata.name}}:{{end}}")


def fails(kubectl: Any, *args: str, input: str | None = None) -> str:
    """`output_message=$(! kubectl ... 2>&1)`: the command must fail; its stdout+stderr."""
    result = kubectl.run(*args, input=input)
    assert result.returncode != 0, f"kubectl {' '.join(args)} succeeded:\n{result.stdout}"
    return str(result.stdout + result.stderr)


def both(kubectl: Any, *args: str, input: str | None = None) -> str:
    """`output_message=$(kubectl ... 2>&1)` for a command that must succeed."""
    result = kubectl.run(*args, input=input)
    assert result.returncode == 0, f"kubectl {' '.join(args)} failed:\n{result.stderr}"
    return str(result.stdout + result.stderr)


def eventually(check: Any, expected: str, timeout: float = 20) -> None:
    """`kube::test::wait_object_assert`: poll until the output equals `expected`."""
    deadline = time.monotonic() + timeout
    while (value := check()) != expected:
        assert time.monotonic() < deadline, f"still {value!r}, wanted {expected!r}"
        time.sleep(0.1)


class ClusterKubectl:
    """A whole dev cluster's kubectl (`DevCluster.kubectl`) with the bare server's `Kubectl` interface."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        return str(self.cluster.kubectl(*args, input=input, timeout=timeout).stdout)

    def run(
        self, *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = self.cluster.kubectl(
            *args, input=input, check=False, timeout=timeout
        )
        return result

"""Project-wide fixtures: a fresh dev cluster per test, and the real kubectl bound to it.

    def test_something(dev_cluster, kubectl):
        kubectl("apply", "-f", "manifest.yaml")

Options come from a marker: `@pytest.mark.dev_cluster(prometheus="auto", rps=50, operator=True,
faults=FaultConfig(...))`. Without it the cluster runs without Prometheus (start-up matters in a
suite of hundreds of tests) at the default 20 requests per second.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slipway import plugins
from slipway_dev.cluster import DevCluster

plugins.load()  # before any test module reads a Release: the plug-ins complete the models

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def dev_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevCluster]:
    marker = request.node.get_closest_marker("dev_cluster")
    options = {"prometheus": "off", **(marker.kwargs if marker else {})}
    with DevCluster(state_dir=tmp_path / "dev-cluster", **options) as cluster:
        yield cluster


@pytest.fixture
def kubectl(dev_cluster: DevCluster) -> Kubectl:
    """`kubectl(*args, input=None, check=True, timeout=60)` -> CompletedProcess with text stdout/stderr."""
    return dev_cluster.kubectl

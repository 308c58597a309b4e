"""End-to-end fixtures: the Release CRD on a fresh dev cluster, and the operator as a process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import CRDS, Cluster, Operator, write_operator_config

from slipway_dev.cluster import DevCluster
from slipway_dev.prometheus import PrometheusProcess


@pytest.fixture(autouse=True)
def _needs_prometheus() -> None:
    if not PrometheusProcess.available():
        pytest.skip("the prometheus binary is not installed (Debian package prometheus)")


@pytest.fixture
def cluster(dev_cluster: DevCluster) -> Cluster:
    cluster = Cluster(dev_cluster)
    cluster.write("apply", "-f", str(CRDS))
    return cluster


@pytest.fixture
def operator_factory(cluster: Cluster, tmp_path: Path) -> Iterator[Callable[..., Operator]]:
    started: list[Operator] = []

    def start(**overrides: Any) -> Operator:
        config = write_operator_config(cluster.dev, tmp_path / f"operator-{len(started)}.yaml", **overrides)
        operator = Operator(cluster.dev, config, tmp_path / f"operator-{len(started)}.log")
        operator.start()
        started.append(operator)
        return operator

    yield start
    for operator in started:
        operator.stop()


@pytest.fixture
def operator(operator_factory: Callable[..., Operator]) -> Operator:
    return operator_factory()

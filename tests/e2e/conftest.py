"""End-to-end fixtures: the Release CRD on a fresh dev cluster, and the operator as a process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import (
    CRDS,
    Cluster,
    Operator,
    chart_rbac,
    chart_values,
    forbidden_lines,
    operator_identity,
    write_operator_config,
)

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
    """Start `slipway run` with config `overrides`, as the chart's ServiceAccount bound to the RBAC the
    chart renders for the same namespaces (cluster mode, or namespaced with `namespaces=[...]`).
    At teardown, no operator log may hold a 403: the chart must grant all the code calls."""
    started: list[Operator] = []
    identities: dict[str, Path] = {}

    def start(**overrides: Any) -> Operator:
        if overrides.get("namespaces"):
            overrides.setdefault("allNamespaces", False)
        values = chart_values(overrides)
        key = repr(sorted(values.items()))
        if key not in identities:
            identities[key] = operator_identity(
                cluster.dev, tmp_path / f"operator-{len(identities)}.kubeconfig", chart_rbac(values)
            )
        config = write_operator_config(cluster.dev, tmp_path / f"operator-{len(started)}.yaml", **overrides)
        operator = Operator(cluster.dev, config, tmp_path / f"operator-{len(started)}.log", identities[key])
        operator.start()
        started.append(operator)
        return operator

    yield start
    for operator in started:
        operator.stop()
    forbidden = {str(operator.log): forbidden_lines(operator.log.read_text()) for operator in started}
    assert not any(forbidden.values()), f"the chart's RBAC lacks a grant the operator used: {forbidden}"


@pytest.fixture
def operator(operator_factory: Callable[..., Operator]) -> Operator:
    return operator_factory()

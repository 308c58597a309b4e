"""Fixtures for the dev cluster: one fresh API server per test on a free port, the real kubectl pointed
at it through a private kubeconfig and discovery cache, and a raw HTTP helper for API-level checks.

In this folder `kubectl` is the bare API server's (a `Kubectl`, returning stdout); it shadows the
project-wide fixture of tests/conftest.py. Tests of the whole simulated cluster use
`dev_cluster.kubectl` instead."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from apiserver_support import Http, Kubectl, kubectl_for

from slipway_dev.apiserver import ApiServer, FaultConfig, running_apiserver


@pytest.fixture
def apiserver() -> Iterator[ApiServer]:
    with running_apiserver() as server:
        yield server


@pytest.fixture
def make_apiserver() -> Iterator[Callable[..., ApiServer]]:
    """Start servers with options (faults, bookmark interval); all are stopped after the test."""
    stack: list[Any] = []

    def start(faults: FaultConfig | None = None, bookmark_seconds: float = 30.0) -> ApiServer:
        context = running_apiserver(faults=faults, bookmark_seconds=bookmark_seconds)
        server = context.__enter__()
        stack.append(context)
        return server

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def kubectl(apiserver: ApiServer, tmp_path: Path) -> Kubectl:
    return kubectl_for(apiserver, tmp_path)


@pytest.fixture
def http(apiserver: ApiServer) -> Http:
    return Http(apiserver.credentials())

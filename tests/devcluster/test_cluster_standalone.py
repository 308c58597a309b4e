"""A DevCluster started by a script that loaded nothing else (a benchmark, a user's notebook) serves the
Release CRD (and the PrometheusRule CRD): the cluster loads the operator's plug-ins itself, which
complete the CRD. Run in a fresh interpreter, since this test session's conftest has loaded them
already."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import sys
from pathlib import Path
from slipway_dev.cluster import DevCluster
with DevCluster(state_dir=Path(sys.argv[1]), prometheus="off") as cluster:
    print(cluster.kubectl("get", "crd", "-o", "name").stdout.strip())
"""


def test_a_dev_cluster_started_alone_serves_the_release_crd(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "customresourcedefinition.apiextensions.k8s.io/prometheusrules.monitoring.coreos.com",
        "customresourcedefinition.apiextensions.k8s.io/releases.slipway.dev",
    ]

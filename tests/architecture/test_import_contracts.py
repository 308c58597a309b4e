"""The import contracts of pyproject.toml hold, and they are not a check that cannot fail: the same
`lint-imports` run on a copy of the package with one forbidden import added reports that contract broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    # --no-cache: a cached graph of the real tree must not answer for the copy.
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=package_parent,
    )


def test_the_contracts_hold() -> None:
    result = _lint_imports(ROOT / "operator")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " broken" in result.stdout and "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden_import", "contract"),
    [
        ("core/machine.py", "import slipway.kube.cluster", "The core is pure"),
        ("core/judge.py", "import kopf", "The core is pure"),
        ("api/models.py", "import kopf", "The API models import neither kopf"),
        ("kube/cluster.py", "import slipway.core.machine", "The Kubernetes adapters carry out decisions"),
        ("controller/reconciler.py", "import slipway_dev.cluster", "Nothing in the operator imports the dev"),
        ("routers/istio.py", "import slipway.routers.nginx", "Routers never import one another"),
        ("providers/web.py", "import slipway.providers.job", "Metric providers never import one another"),
        ("routers/nginx.py", "import slipway.providers.web", "Routers and metric providers never import"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, forbidden_import: str, contract: str
) -> None:
    copy = tmp_path / "slipway"
    shutil.copytree(ROOT / "operator" / "slipway", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{forbidden_import}  # added by the test\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert [line for line in broken if line.startswith(contract)], result.stdout

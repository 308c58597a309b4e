"""The operator's wheel, built as the Dockerfile builds it: the operator only, none of the dev cluster.

The dev cluster is its own distribution (slipway-dev, in devcluster/); a user's `pip install slipway` and
the image must carry neither its code nor the dependencies only it needs.
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY_REQUIREMENTS = {"cel-python", "jsonpatch", "jsonschema", "slipway-dev"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # A copy of what the Dockerfile copies, so the build leaves no build/ or egg-info in the work tree.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "operator", source / "operator", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, source],
        check=True,
        timeout=120,
    )
    (built,) = out.glob("slipway-*.whl")
    return zipfile.ZipFile(built)


def _dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if re.fullmatch(rf"slipway-[^/]+\.dist-info/{name}", n)]
    return wheel.read(path).decode()


def test_the_wheel_holds_every_operator_module_and_nothing_of_the_dev_cluster(wheel: zipfile.ZipFile) -> None:
    files = set(wheel.namelist())
    assert not [f for f in files if f.startswith("slipway_dev/") or "devcluster" in f]
    sources = {
        path.relative_to(ROOT / "operator").as_posix() for path in (ROOT / "operator/slipway").rglob("*.py")
    }
    assert sources <= files
    for package in ("api", "core", "controller", "kube", "routers", "providers", "cli"):
        assert f"slipway/{package}/__init__.py" in files
    assert "slipway/py.typed" in files
    assert "slipway/cli/_plugin_dashboard/static/index.html" in files  # package data, not a module


def test_the_wheel_requires_none_of_the_dev_clusters_dependencies(wheel: zipfile.ZipFile) -> None:
    metadata = email.message_from_string(_dist_info(wheel, "METADATA"))
    runtime = {
        re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower()
        for requirement in metadata.get_all("Requires-Dist", [])
        if "extra ==" not in requirement
    }
    assert {"kopf", "kubernetes", "pydantic"} <= runtime
    assert not runtime & DEV_ONLY_REQUIREMENTS


def test_the_wheel_declares_no_dev_commands(wheel: zipfile.ZipFile) -> None:
    entry_points = _dist_info(wheel, "entry_points.txt")
    assert "slipway = slipway.cli:main" in entry_points
    assert "slipway.commands" not in entry_points
    assert "slipway_dev" not in entry_points

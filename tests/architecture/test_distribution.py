"""The operator's wheel, built from what the Dockerfile's build stage copies: the operator only, none of
the dev cluster, under a distribution name that is free on PyPI.

The dev cluster is its own distribution (slipway-dev, in devcluster/); a user's
`pip install slipway-operator` and the image must carry neither its code nor the dependencies only it
needs. (`slipway` on PyPI is an unrelated project: the commands and the import name stay `slipway`.)
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from dockerfile import parse_dockerfile

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY_REQUIREMENTS = {"cel-python", "jsonpatch", "jsonschema", "slipway-dev"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # A copy of what the Dockerfile's build stage copies, so the build leaves no build/ or egg-info in
    # the work tree and a file the image would lack fails here.
    source = tmp_path_factory.mktemp("source")
    for name in copied_by_the_image():
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, source],
        check=True,
        timeout=120,
    )
    (built,) = out.glob("slipway_operator-*.whl")
    return zipfile.ZipFile(built)


def copied_by_the_image() -> list[str]:
    """The build-context paths the stage that builds the wheel COPYs (`COPY SRC... DEST`)."""
    (builder,) = [s for s in parse_dockerfile(ROOT / "Dockerfile") if s.name == "build"]
    return [name.rstrip("/") for arguments in builder.arguments("COPY") for name in arguments.split()[:-1]]


def _dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if re.fullmatch(rf"slipway_operator-[^/]+\.dist-info/{name}", n)]
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


def test_the_distribution_is_named_apart_from_its_commands(wheel: zipfile.ZipFile) -> None:
    metadata = email.message_from_string(_dist_info(wheel, "METADATA"))
    assert metadata["Name"] == "slipway-operator"
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == metadata["Name"]
    entry_points = _dist_info(wheel, "entry_points.txt")
    assert "kubectl-slipway = slipway.cli.plugin:main" in entry_points
    devcluster = tomllib.loads((ROOT / "devcluster" / "pyproject.toml").read_text())["project"]
    assert any(r.startswith(f"{metadata['Name']}>=") for r in devcluster["dependencies"])


def test_every_install_instruction_names_the_distribution() -> None:
    """A bare `pip install slipway` would install the unrelated PyPI project."""
    texts = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "charts").rglob("*.txt")]
    wrong = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in texts
        for line in path.read_text().splitlines()
        if re.search(r"pip install slipway(?![-\w])", line)
    ]
    assert not wrong

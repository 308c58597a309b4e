"""The krew plugin manifest (plugins/krew/slipway.yaml): krew's required fields, and an archive that a
fresh reproducible build matches byte for byte, whose launcher runs this plugin."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

import slipway

KREW = Path(__file__).resolve().parents[2] / "plugins" / "krew"
MANIFEST: dict[str, Any] = yaml.safe_load((KREW / "slipway.yaml").read_text())


def archive_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("krew_archive", KREW / "archive.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_manifest_has_every_field_krew_requires() -> None:
    assert MANIFEST["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert MANIFEST["kind"] == "Plugin"
    assert MANIFEST["metadata"]["name"] == "slipway"  # the file's name, and `kubectl slipway`
    spec = MANIFEST["spec"]
    assert spec["version"] == f"v{slipway.__version__}"  # semver with the v krew requires
    assert re.fullmatch(r"v\d+\.\d+\.\d+", spec["version"])
    assert spec["homepage"].startswith("https://")
    assert 0 < len(spec["shortDescription"]) <= 50 and spec["description"].strip()
    assert spec["platforms"]
    for platform in spec["platforms"]:
        assert platform["selector"]["matchExpressions"] or platform["selector"]["matchLabels"]
        assert platform["uri"].startswith("https://") and platform["uri"].endswith(".tar.gz")
        assert re.fullmatch(r"[0-9a-f]{64}", platform["sha256"])
        assert platform["bin"] == "kubectl-slipway"
        assert all(entry["from"] and entry["to"] for entry in platform["files"])


def test_the_sha256_is_that_of_a_fresh_reproducible_build() -> None:
    build = archive_module().build
    data = build()
    assert data == build()  # byte for byte, every time
    for platform in MANIFEST["spec"]["platforms"]:
        assert platform["sha256"] == hashlib.sha256(data).hexdigest(), "run `make krew` and update it"
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            assert {entry["from"] for entry in platform["files"]} <= set(tar.getnames())


def test_the_launcher_in_the_archive_runs_this_plugin(tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive_module().build())) as tar:
        tar.extractall(tmp_path, filter="data")
    launcher = tmp_path / "kubectl-slipway"
    ran = subprocess.run(
        [str(launcher), "version"],
        env={"SLIPWAY_PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"kubectl-slipway {slipway.__version__}\n"
    missing = subprocess.run(
        [str(launcher), "version"],
        env={"SLIPWAY_PYTHON": str(tmp_path / "no-python"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "the Slipway distribution is not installed" in missing.stderr

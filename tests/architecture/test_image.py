"""The Dockerfile's rules, checked on its text (no Docker here to build it): a build stage makes the wheels,
a slim final stage on an exact base version installs them with no compiler and no pip cache, carries the
OCI labels and runs as the numeric non-root user the Helm chart also runs as."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from dockerfile import Stage, parse_dockerfile

ROOT = Path(__file__).resolve().parents[2]
STAGES = parse_dockerfile(ROOT / "Dockerfile")
FINAL = STAGES[-1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CHART = yaml.safe_load((ROOT / "charts" / "slipway" / "Chart.yaml").read_text())
# An exact release of the base (3.11.13-slim-bookworm), never a moving tag such as 3.11-slim or latest.
EXACT_PYTHON = re.compile(r"python:3\.11\.\d+-slim-[a-z]+")
BUILD_TOOLS = ("gcc", "g++", "clang", "build-essential", "make", "python3-dev", "libc6-dev")
OCI = "org.opencontainers.image."


def _runs(stage: Stage) -> list[list[str]]:
    return [shlex.split(arguments) for arguments in stage.arguments("RUN")]


def _builder() -> Stage:
    (mount,) = [w for run in _runs(FINAL) for w in run if w.startswith("--mount=")]
    options = dict(option.partition("=")[::2] for option in mount.removeprefix("--mount=").split(","))
    (builder,) = [s for s in STAGES[:-1] if s.name == options["from"]]
    return builder


def _deployment_pod() -> Any:
    with helm.Chart.load(str(ROOT / "charts" / "slipway")) as chart:
        rendered = chart.render({}, name="slipway", namespace="slipway-system")
    (pod,) = [
        doc["spec"]["template"]["spec"]
        for path, text in rendered.items()
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc and doc["kind"] == "Deployment"
    ]
    return pod


def test_a_build_stage_builds_the_wheels_and_the_final_stage_installs_only_those() -> None:
    assert len(STAGES) >= 2
    builder = _builder()
    assert any(run[:2] == ["pip", "wheel"] for run in _runs(builder))
    (install,) = [run for run in _runs(FINAL) if "pip" in run]
    assert "--no-index" in install and PROJECT["name"] in install
    # The wheels are bind-mounted for the install step only; nothing of the build context is copied.
    assert not FINAL.arguments("COPY") and not FINAL.arguments("ADD")


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.name or "final")
def test_every_base_is_an_exact_version_of_the_python_the_project_targets(stage: Stage) -> None:
    assert EXACT_PYTHON.fullmatch(stage.base), stage.base
    assert stage.base == FINAL.base  # the wheels are built where they are installed
    assert PROJECT["requires-python"].startswith(">=3.11")


def test_the_final_stage_has_the_oci_labels() -> None:
    labels = FINAL.pairs("LABEL")
    assert {f"{OCI}{key}" for key in ("title", "description", "version", "licenses", "base.name")} <= set(
        labels
    )
    assert labels[f"{OCI}version"] == PROJECT["version"] == CHART["appVersion"]
    assert labels[f"{OCI}licenses"] == PROJECT["license"]
    assert labels[f"{OCI}base.name"] == f"docker.io/library/{FINAL.base}"
    assert all(value.strip() for key, value in labels.items() if key.startswith(OCI))


def test_no_compiler_and_no_pip_cache_in_the_final_stage() -> None:
    words = [w for run in _runs(FINAL) for w in run]
    assert not [tool for tool in BUILD_TOOLS if tool in words]
    assert "apt-get" not in words and "apk" not in words  # the slim base has no compiler; none is added
    assert FINAL.pairs("ENV").get("PIP_NO_CACHE_DIR") == "1"
    assert all("--no-cache-dir" in run for run in _runs(FINAL) if run[:2] == ["pip", "install"])


def test_the_image_holds_the_operator_distribution_only() -> None:
    copied = [w for s in STAGES for arguments in s.arguments("COPY") for w in arguments.split()[:-1]]
    assert not [path for path in copied if "devcluster" in path or path in (".", "./")]
    assert "devcluster" in (ROOT / ".dockerignore").read_text().split()
    assert FINAL.arguments("ENTRYPOINT") == ['["slipway"]'] and "slipway" in PROJECT["scripts"]


def test_it_runs_as_the_numeric_non_root_user_the_chart_runs_as() -> None:
    user = FINAL.arguments("USER")[-1]
    matched = re.fullmatch(r"(\d+):(\d+)", user)
    assert matched, f"USER {user}: numeric uid:gid, so Kubernetes can check runAsNonRoot"
    uid, gid = (int(n) for n in matched.groups())
    assert uid != 0 and gid != 0
    pod = _deployment_pod()
    context = pod["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["runAsNonRoot"]) == (uid, gid, True)
    (container,) = pod["containers"]
    assert container["image"] == f"slipway/slipway:{CHART['appVersion']}"
    assert container["args"][0] == FINAL.arguments("CMD")[-1].strip('[]"')

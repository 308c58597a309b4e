"""The generated CRD on a dev cluster, through the real kubectl: what a user sees on apply and explain."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml
from invalid_releases import WRONG_RELEASES

REPO = Path(__file__).resolve().parents[2]
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def test_kubectl_applies_examples_refuses_wrong_releases_and_explains_fields(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "crd/releases.slipway.dev", "--timeout=30s")
    kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")

    for example in sorted((REPO / "examples").glob("*.yaml")):
        assert "created" in kubectl("apply", "-f", str(example)).stdout
    listed = kubectl("get", "rel", "-A").stdout.splitlines()
    assert listed[0].split()[:5] == ["NAMESPACE", "NAME", "VERSION", "PHASE", "WEIGHT"]

    wrong = next(case for case in WRONG_RELEASES if case.case == "weight-over-100")
    refused = kubectl("apply", "-f", "-", input=yaml.safe_dump(wrong.manifest()), check=False)
    assert refused.returncode != 0
    assert f"{wrong.field}: Invalid value: 150" in refused.stderr

    explained = " ".join(kubectl("explain", "release.spec.strategy").stdout.split())  # unwrapped
    assert "exactly one of canary, blueGreen, rolling" in explained
    assert "blueGreen" in explained and "rolling" in explained

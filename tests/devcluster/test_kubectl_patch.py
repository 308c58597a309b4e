"""`kubectl patch` (merge, json, strategic, --subresource=status), annotate, label, scale, set image and
explain against a fresh server."""

from __future__ import annotations

import json

from apiserver_support import RELEASE_CRD, REPO, Kubectl

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "app", "image": "example/app:1", "env": [{"name": "A", "value": "1"}]},
                    {"name": "proxy", "image": "example/proxy:1"},
                ]
            },
        },
    },
}


def _deploy(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=json.dumps(DEPLOYMENT))


def _release(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(RELEASE_CRD))
    kubectl("apply", "-f", str(REPO / "examples" / "canary.yaml"))


def test_patch_merge_json_and_strategic(kubectl: Kubectl) -> None:
    _deploy(kubectl)
    kubectl("patch", "deployment", "web", "--type=merge", "-p", '{"spec": {"replicas": 4}}')
    kubectl(
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        '[{"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "example/proxy:2"}]',
    )
    kubectl(
        "patch",
        "deployment",
        "web",
        "--type=strategic",
        "-p",
        json.dumps(
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}
                    }
                }
            }
        ),
    )
    live = kubectl.json("get", "deployment", "web")
    app, proxy = live["spec"]["template"]["spec"]["containers"]
    assert live["spec"]["replicas"] == 4
    assert proxy["image"] == "example/proxy:2"
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert app["image"] == "example/app:1"
    assert live["metadata"]["generation"] == 4


def test_a_failed_json_patch_test_changes_nothing(kubectl: Kubectl) -> None:
    _deploy(kubectl)
    result = kubectl.run(
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        '[{"op": "replace", "path": "/spec/replicas", "value": 9},'
        ' {"op": "test", "path": "/spec/replicas", "value": 1}]',
    )
    assert result.returncode != 0
    assert kubectl.json("get", "deployment", "web")["spec"]["replicas"] == 2


def test_strategic_merge_on_a_custom_resource_is_refused_as_by_a_real_server(kubectl: Kubectl) -> None:
    _release(kubectl)
    result = kubectl.run("patch", "release", "web", "--type=strategic", "-p", '{"spec": {"replicas": 5}}')
    assert result.returncode != 0
    assert "application/strategic-merge-patch+json is not supported" in result.stderr


def test_status_subresource_patch_changes_only_status(kubectl: Kubectl) -> None:
    _release(kubectl)
    before = kubectl.json("get", "release", "web")
    kubectl(
        "patch",
        "release",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"spec": {"replicas": 9}, "status": {"phase": "Healthy"}}',
    )
    after = kubectl.json("get", "release", "web")
    assert after["status"]["phase"] == "Healthy"
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    # A main-resource write never touches status.
    kubectl(
        "patch", "release", "web", "--type=merge", "-p", '{"spec": {"replicas": 5}, "status": {"phase": "X"}}'
    )
    final = kubectl.json("get", "release", "web")
    assert final["status"]["phase"] == "Healthy"
    assert final["spec"]["replicas"] == 5
    assert final["metadata"]["generation"] == before["metadata"]["generation"] + 1


def test_annotate_and_label_bump_the_resource_version_but_not_the_generation(kubectl: Kubectl) -> None:
    _release(kubectl)
    before = kubectl.json("get", "release", "web")["metadata"]
    kubectl("annotate", "release", "web", "slipway.dev/promote=1")
    kubectl("label", "release", "web", "team=shop")
    meta = kubectl.json("get", "release", "web")["metadata"]
    assert meta["annotations"]["slipway.dev/promote"] == "1"
    assert meta["labels"] == {"team": "shop"}
    assert meta["generation"] == before["generation"]
    assert int(meta["resourceVersion"]) > int(before["resourceVersion"])
    refused = kubectl.run("label", "release", "web", "team=other")
    assert "already has a value (shop)" in refused.stderr
    kubectl("annotate", "release", "web", "slipway.dev/promote-")
    kubectl("label", "release", "web", "team-")
    meta = kubectl.json("get", "release", "web")["metadata"]
    assert "slipway.dev/promote" not in meta.get("annotations", {})
    assert "labels" not in meta or meta["labels"] == {}


def test_scale_uses_the_scale_subresource_and_set_image_patches_one_container(kubectl: Kubectl) -> None:
    _deploy(kubectl)
    assert "deployment.apps/web scaled" in kubectl("scale", "deployment", "web", "--replicas=5")
    assert kubectl.json("get", "deployment", "web")["spec"]["replicas"] == 5
    refused = kubectl.run("scale", "deployment", "web", "--replicas=1", "--current-replicas=3")
    assert refused.returncode != 0
    kubectl("set", "image", "deployment/web", "proxy=example/proxy:9")
    app, proxy = kubectl.json("get", "deployment", "web")["spec"]["template"]["spec"]["containers"]
    assert proxy["image"] == "example/proxy:9"
    assert app["image"] == "example/app:1"


def test_explain_reads_the_release_schema(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(RELEASE_CRD))
    top = kubectl("explain", "release")
    assert "KIND:       Release" in top
    assert "A Release: one workload" in top
    strategy = kubectl("explain", "release.spec.strategy")
    assert "How a new version replaces the old one" in strategy
    assert "canary" in strategy
    assert "metadata" in kubectl("explain", "release.metadata")

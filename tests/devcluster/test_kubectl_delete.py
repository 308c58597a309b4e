"""`kubectl delete` where it can lose data: server-side dry runs and the namespaces a server protects."""

from __future__ import annotations

from apiserver_support import Http, Kubectl


def _names(kubectl: Kubectl, *what: str) -> set[str]:
    return {item["metadata"]["name"] for item in kubectl.json("get", *what)["items"]}


def test_delete_dry_run_server_deletes_nothing(kubectl: Kubectl) -> None:
    # Follows test/cmd/core.sh run_pod_tests ("kubectl delete pod valid-pod --dry-run=server") and
    # run_namespace_tests; kubectl sends `dryRun: ["All"]` in the DELETE body.
    kubectl("create", "namespace", "shop")
    kubectl("create", "configmap", "settings", "-n", "shop", "--from-literal=colour=blue")
    out = kubectl("delete", "configmap", "settings", "-n", "shop", "--dry-run=server")
    assert 'configmap "settings" deleted (server dry run)' in out
    out = kubectl("delete", "namespace", "shop", "--dry-run=server")
    assert 'namespace "shop" deleted (server dry run)' in out
    kubectl("delete", "configmaps", "--all", "-n", "shop", "--dry-run=server")
    assert _names(kubectl, "configmaps", "-n", "shop") >= {"settings"}
    namespace = kubectl.json("get", "namespace", "shop")
    assert "deletionTimestamp" not in namespace["metadata"]
    assert namespace["status"]["phase"] == "Active"


def test_dry_run_in_the_body_or_the_query_of_a_raw_delete(kubectl: Kubectl, http: Http) -> None:
    kubectl("create", "configmap", "a")
    body = {"propagationPolicy": "Background", "dryRun": ["All"]}
    assert http("DELETE", "/api/v1/namespaces/default/configmaps/a", body).status == 200
    assert http("DELETE", "/api/v1/namespaces/default/configmaps/a?dryRun=All").status == 200
    assert http("DELETE", "/api/v1/namespaces/default/configmaps", body).status == 200
    assert http("DELETE", "/api/v1/namespaces/default/configmaps?dryRun=All").status == 200
    assert "a" in _names(kubectl, "configmaps")
    bad = http("DELETE", "/api/v1/namespaces/default/configmaps/a", {"dryRun": ["Some"]})
    assert bad.status == 400
    assert "a" in _names(kubectl, "configmaps")
    assert http("DELETE", "/api/v1/namespaces/default/configmaps/a").status == 200
    assert "a" not in _names(kubectl, "configmaps")


def test_default_kube_system_and_kube_public_may_not_be_deleted(kubectl: Kubectl, http: Http) -> None:
    # Follows test/cmd/core.sh run_namespace_tests and delete.sh (kubectl delete --all); the message is
    # the NamespaceLifecycle admission plugin's.
    kubectl("create", "namespace", "shop")
    result = kubectl.run("delete", "namespace", "default")
    assert result.returncode != 0
    assert 'namespaces "default" is forbidden: this namespace may not be deleted' in result.stderr
    result = kubectl.run("delete", "namespace", "default", "--dry-run=server")
    assert "this namespace may not be deleted" in result.stderr
    answer = http("DELETE", "/api/v1/namespaces/kube-system")
    assert (answer.status, answer.body["reason"]) == (403, "Forbidden")
    result = kubectl.run("delete", "namespace", "--all", "--wait=false")
    for name in ("default", "kube-system", "kube-public"):
        assert f'namespaces "{name}" is forbidden: this namespace may not be deleted' in result.stderr
    assert 'namespace "shop" deleted' in result.stdout
    remaining = _names(kubectl, "namespaces")
    assert {"default", "kube-system", "kube-public"} <= remaining


def test_a_fresh_cluster_has_the_kubernetes_service(kubectl: Kubectl) -> None:
    service = kubectl.json("get", "service", "kubernetes", "-n", "default")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["clusterIP"] == "10.96.0.1"
    assert [p["port"] for p in service["spec"]["ports"]] == [443]

"""What a real cluster keeps in every namespace and how a pod gets its ServiceAccount: the `default`
ServiceAccount (kube-controller-manager's serviceaccount controller), the `kube-root-ca.crt`
ConfigMap (its root-CA publisher, pkg/controller/certificates/rootcacertpublisher) and the
ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount), all through real kubectl."""

from __future__ import annotations

import json
from typing import Any

from apiserver_support import ROOT_CA, Kubectl

from slipway_dev.apiserver import ApiServer

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "c", "image": "x"}]},
}


def _create(kubectl: Kubectl, pod: dict[str, Any]) -> Any:
    return json.loads(kubectl("create", "-f", "-", "-o", "json", input=json.dumps(pod)))


def _uid(kubectl: Kubectl, *args: str) -> str:
    return str(kubectl.json("get", *args)["metadata"]["uid"])


def test_every_namespace_has_its_default_service_account_and_the_cluster_ca(
    kubectl: Kubectl, apiserver: ApiServer
) -> None:
    kubectl("create", "namespace", "shop")
    ca = apiserver.credentials().ca_pem.decode()
    for namespace in ("default", "kube-system", "kube-public", "kube-node-lease", "shop"):
        assert kubectl("get", "serviceaccounts", "-n", namespace, "-o", "name").split() == [
            "serviceaccount/default"
        ]
        published = kubectl.json("get", "configmap", ROOT_CA, "-n", namespace)
        assert published["data"] == {"ca.crt": ca}
        assert "kube-apiserver" in published["metadata"]["annotations"]["kubernetes.io/description"]
    # The default ServiceAccount is an ordinary one: a token can be made for it.
    assert kubectl("create", "token", "default", "-n", "shop").count(".") == 2


def test_the_controllers_put_back_what_is_deleted_or_changed(kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "shop")
    account, published = (
        _uid(kubectl, "sa", "default", "-n", "shop"),
        _uid(kubectl, "cm", ROOT_CA, "-n", "shop"),
    )
    kubectl("delete", "serviceaccount", "default", "-n", "shop")
    kubectl("delete", "configmap", ROOT_CA, "-n", "shop")
    assert _uid(kubectl, "sa", "default", "-n", "shop") != account
    assert _uid(kubectl, "cm", ROOT_CA, "-n", "shop") != published
    ca = kubectl.json("get", "cm", ROOT_CA, "-n", "shop")["data"]["ca.crt"]
    kubectl("patch", "configmap", ROOT_CA, "-n", "shop", "-p", '{"data":{"ca.crt":"forged","extra":"x"}}')
    assert kubectl.json("get", "cm", ROOT_CA, "-n", "shop")["data"] == {"ca.crt": ca}
    # A namespace being deleted is left to empty: nothing is put back and it goes away.
    kubectl("delete", "namespace", "shop", "--wait=true", "--timeout=30s")
    assert kubectl.run("get", "namespace", "shop").returncode != 0


def test_a_namespace_made_by_a_service_account_gets_them_too(kubectl: Kubectl) -> None:
    kubectl("create", "serviceaccount", "maker")
    kubectl("create", "clusterrole", "ns-maker", "--verb=create", "--resource=namespaces")
    kubectl(
        "create", "clusterrolebinding", "maker", "--clusterrole=ns-maker", "--serviceaccount=default:maker"
    )
    kubectl("create", "namespace", "made", "--as=system:serviceaccount:default:maker")
    assert kubectl("get", "sa,cm", "-n", "made", "-o", "name").split() == [
        "serviceaccount/default",
        f"configmap/{ROOT_CA}",
    ]


def test_a_pod_runs_as_default_unless_it_names_an_existing_service_account(kubectl: Kubectl) -> None:
    created = _create(kubectl, POD)
    assert (created["spec"]["serviceAccountName"], created["spec"]["serviceAccount"]) == (
        "default",
        "default",
    )
    named = {**POD, "metadata": {"name": "q"}, "spec": {**POD["spec"], "serviceAccountName": "runner"}}
    for dry_run in ("--dry-run=server", None):
        result = kubectl.run("create", "-f", "-", *([dry_run] if dry_run else []), input=json.dumps(named))
        assert result.returncode != 0
        assert (
            'pods "q" is forbidden: error looking up service account default/runner: '
            'serviceaccount "runner" not found'
        ) in result.stderr
    kubectl("create", "serviceaccount", "runner")
    created = _create(kubectl, named)
    assert (created["spec"]["serviceAccountName"], created["spec"]["serviceAccount"]) == ("runner", "runner")
    # The deprecated field alone names the account too.
    legacy = {**POD, "metadata": {"name": "r"}, "spec": {**POD["spec"], "serviceAccount": "runner"}}
    assert _create(kubectl, legacy)["spec"]["serviceAccountName"] == "runner"

"""RBAC privilege-escalation prevention as kube-apiserver's RBAC storage enforces it
(pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/policybased and
pkg/registry/rbac/validation): real kubectl, impersonating a ServiceAccount that may write RBAC
objects but holds only some permissions."""

from __future__ import annotations

from apiserver_support import Http, Kubectl

SA = "system:serviceaccount:default:bot"
GROUPS = '(groups=["system:serviceaccounts" "system:serviceaccounts:default" "system:authenticated"])'
NOT_HELD = f'user "{SA}" {GROUPS} is attempting to grant RBAC permissions not currently held:\n'


def _bot_manages_rbac(kubectl: Kubectl, *extra: str) -> None:
    """`bot` may write Roles and RoleBindings in `default` and read pods there, nothing more."""
    kubectl("create", "serviceaccount", "bot")
    kubectl(
        "create",
        "role",
        "rbac-writer",
        "--verb=get,list,create,update,patch",
        "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io",
    )
    kubectl("create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods")
    for role in ("rbac-writer", "pod-reader", *extra):
        kubectl("create", "rolebinding", f"bot-{role}", f"--role={role}", "--serviceaccount=default:bot")


def _as_bot(kubectl: Kubectl, *args: str) -> tuple[int, str]:
    result = kubectl.run(*args, f"--as={SA}")
    return result.returncode, result.stderr


def test_a_role_may_only_grant_what_its_writer_holds(kubectl: Kubectl) -> None:
    _bot_manages_rbac(kubectl)
    assert _as_bot(kubectl, "create", "role", "held", "--verb=get,list", "--resource=pods")[0] == 0
    code, stderr = _as_bot(
        kubectl, "create", "role", "wider", "--verb=get,delete,patch", "--resource=pods,secrets"
    )
    assert code != 0
    assert (
        f'roles.rbac.authorization.k8s.io "wider" is forbidden: {NOT_HELD}'
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete" "patch"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete" "patch"]}'
    ) in stderr
    assert kubectl.run("get", "role", "wider").returncode != 0
    # An update is judged by the same rule; a change of owner references or finalizers alone is not.
    code, stderr = _as_bot(
        kubectl,
        "patch",
        "role",
        "held",
        "--type=json",
        "-p",
        '[{"op":"add","path":"/rules/0/verbs/-","value":"delete"}]',
    )
    assert code != 0 and f'roles.rbac.authorization.k8s.io "held" is forbidden: {NOT_HELD}' in stderr
    assert '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}' in stderr
    assert (
        _as_bot(kubectl, "patch", "role", "held", "-p", '{"metadata":{"finalizers":["example.com/keep"]}}')[0]
        == 0
    )


def test_the_escalate_verb_lets_a_writer_grant_more_than_they_hold(kubectl: Kubectl) -> None:
    kubectl("create", "role", "escalator", "--verb=escalate", "--resource=roles.rbac.authorization.k8s.io")
    _bot_manages_rbac(kubectl, "escalator")
    assert _as_bot(kubectl, "create", "role", "wider", "--verb=*", "--resource=secrets")[0] == 0


def test_a_binding_needs_the_bound_roles_permissions_or_the_bind_verb(kubectl: Kubectl) -> None:
    _bot_manages_rbac(kubectl)
    kubectl("create", "serviceaccount", "other")
    # Binding a role whose rules the writer holds is allowed.
    assert (
        _as_bot(
            kubectl, "create", "rolebinding", "ok", "--role=pod-reader", "--serviceaccount=default:other"
        )[0]
        == 0
    )
    code, stderr = _as_bot(
        kubectl, "create", "rolebinding", "too-much", "--clusterrole=edit", "--serviceaccount=default:other"
    )
    assert code != 0
    assert f'rolebindings.rbac.authorization.k8s.io "too-much" is forbidden: {NOT_HELD}' in stderr
    assert (
        '{APIGroups:["apps"], Resources:["deployments"], Verbs:["create" "delete" "deletecollection"'
        in stderr
    )
    # `bind` on that very ClusterRole waives the check, in the binding's namespace only.
    kubectl(
        "create",
        "role",
        "binder",
        "--verb=bind",
        "--resource=clusterroles.rbac.authorization.k8s.io",
        "--resource-name=edit",
    )
    kubectl("create", "rolebinding", "bot-binder", "--role=binder", "--serviceaccount=default:bot")
    assert (
        _as_bot(
            kubectl,
            "create",
            "rolebinding",
            "too-much",
            "--clusterrole=edit",
            "--serviceaccount=default:other",
        )[0]
        == 0
    )
    code, stderr = _as_bot(
        kubectl, "create", "rolebinding", "admin", "--clusterrole=admin", "--serviceaccount=default:other"
    )
    assert code != 0 and "is attempting to grant RBAC permissions not currently held" in stderr


def test_a_binding_to_a_missing_role_is_refused_with_the_lookup_error(kubectl: Kubectl) -> None:
    _bot_manages_rbac(kubectl)
    code, stderr = _as_bot(
        kubectl, "create", "rolebinding", "b", "--role=nope", "--serviceaccount=default:bot"
    )
    assert code != 0
    assert (
        'rolebindings.rbac.authorization.k8s.io "b" is forbidden: '
        'roles.rbac.authorization.k8s.io "nope" not found' in stderr
    )


def test_cluster_roles_and_bindings_are_judged_on_cluster_wide_rules(kubectl: Kubectl, http: Http) -> None:
    kubectl("create", "serviceaccount", "bot")
    kubectl(
        "create",
        "clusterrole",
        "cluster-rbac-writer",
        "--verb=create,get",
        "--resource=clusterroles.rbac.authorization.k8s.io,clusterrolebindings.rbac.authorization.k8s.io",
    )
    kubectl(
        "create",
        "clusterrolebinding",
        "bot-writer",
        "--clusterrole=cluster-rbac-writer",
        "--serviceaccount=default:bot",
    )
    # A RoleBinding in `default` grants nothing cluster-wide.
    kubectl("create", "role", "pod-reader", "--verb=get", "--resource=pods")
    kubectl("create", "rolebinding", "bot-pods", "--role=pod-reader", "--serviceaccount=default:bot")
    code, stderr = _as_bot(kubectl, "create", "clusterrole", "pods", "--verb=get", "--resource=pods")
    assert code != 0
    assert f'clusterroles.rbac.authorization.k8s.io "pods" is forbidden: {NOT_HELD}' in stderr
    assert '{APIGroups:[""], Resources:["pods"], Verbs:["get"]}' in stderr
    code, stderr = _as_bot(
        kubectl, "create", "clusterrolebinding", "b", "--clusterrole=view", "--serviceaccount=default:bot"
    )
    assert code != 0 and 'clusterrolebindings.rbac.authorization.k8s.io "b" is forbidden' in stderr
    # Non-resource URLs are broken down per path and verb too.
    code, stderr = _as_bot(
        kubectl, "create", "clusterrole", "metrics", "--verb=get", "--non-resource-url=/metrics"
    )
    assert code != 0 and '{NonResourceURLs:["/metrics"], Verbs:["get"]}' in stderr
    assert (
        _as_bot(kubectl, "create", "clusterrole", "readers", "--verb=get", "--resource=clusterroles")[0] == 0
    )
    # An aggregationRule can gather anything, so it needs everything.
    bot = http.as_token(kubectl("create", "token", "bot").strip())
    aggregated = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "gathers"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"gather": "true"}}]},
        "rules": [],
    }
    answer = bot("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", aggregated)
    assert answer.status == 403
    assert answer.body["message"] == (
        'clusterroles.rbac.authorization.k8s.io "gathers" is forbidden: '
        "must have cluster-admin privileges to use the aggregationRule"
    )
    assert answer.body["details"] == {
        "name": "gathers",
        "group": "rbac.authorization.k8s.io",
        "kind": "clusterroles",
    }
    # system:masters bypasses every check.
    assert http("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", aggregated).status == 201

"""RBAC as kube-apiserver evaluates it, the real 403 messages, `kubectl auth can-i` and the access
reviews, and owner-reference permission (OwnerReferencesPermissionEnforcement)."""

from __future__ import annotations

from typing import Any

from apiserver_support import Http, Kubectl

SA = "system:serviceaccount:default:bot"
DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "w", "image": "x"}]},
        },
    },
}


def _bot(kubectl: Kubectl, http: Http) -> Http:
    kubectl("create", "serviceaccount", "bot")
    return http.as_token(kubectl("create", "token", "bot").strip())


def _can(kubectl: Kubectl, *args: str) -> bool:
    result = kubectl.run("auth", "can-i", *args, f"--as={SA}")
    assert result.stdout.strip() in ("yes", "no"), result.stderr
    return result.stdout.strip() == "yes"


def test_denials_carry_the_real_message_for_each_kind_of_request(kubectl: Kubectl, http: Http) -> None:
    bot = _bot(kubectl, http)
    assert http("POST", "/apis/apps/v1/namespaces/default/deployments", DEPLOY).status == 201
    cases: list[tuple[str, str, Any, str, dict[str, Any]]] = [
        (
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web",
            {"spec": {"replicas": 2}},
            f'deployments.apps "web" is forbidden: User "{SA}" cannot patch resource "deployments" '
            'in API group "apps" in the namespace "default"',
            {"name": "web", "group": "apps", "kind": "deployments"},
        ),
        (
            "GET",
            "/apis/apps/v1/namespaces/default/deployments",
            None,
            f'deployments.apps is forbidden: User "{SA}" cannot list resource "deployments" '
            'in API group "apps" in the namespace "default"',
            {"group": "apps", "kind": "deployments"},
        ),
        (
            "GET",
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
            None,
            f'deployments.apps "web" is forbidden: User "{SA}" cannot get resource "deployments/scale" '
            'in API group "apps" in the namespace "default"',
            {"name": "web", "group": "apps", "kind": "deployments"},
        ),
        (
            "GET",
            "/api/v1/namespaces",
            None,
            f'namespaces is forbidden: User "{SA}" cannot list resource "namespaces" in API group "" at the '
            "cluster scope",
            {"kind": "namespaces"},
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/configmaps",
            None,
            f'configmaps is forbidden: User "{SA}" cannot deletecollection resource "configmaps" '
            'in API group "" in the namespace "default"',
            {"kind": "configmaps"},
        ),
        (
            "GET",
            "/metrics",
            None,
            f'forbidden: User "{SA}" cannot get path "/metrics"',
            {},
        ),
    ]
    for method, path, body, message, details in cases:
        answer = bot(method, path, body, content_type="application/merge-patch+json")
        assert answer.status == 403, (path, answer.body)
        assert answer.body["message"] == message
        assert (answer.body["reason"], answer.body["code"], answer.body["details"]) == (
            "Forbidden",
            403,
            details,
        )
    watch = bot("GET", "/api/v1/namespaces/default/pods?watch=true")
    assert "cannot watch resource" in watch.body["message"]


def test_role_rules_match_groups_resources_subresources_names_and_verbs(kubectl: Kubectl, http: Http) -> None:
    bot = _bot(kubectl, http)
    http("POST", "/apis/apps/v1/namespaces/default/deployments", DEPLOY)
    kubectl(
        "create",
        "role",
        "scaler",
        "--verb=get,update,patch",
        "--resource=deployments/scale",
        "--resource-name=web",
    )
    kubectl("create", "rolebinding", "bot-scaler", "--role=scaler", "--serviceaccount=default:bot")
    assert _can(kubectl, "patch", "deployments/web", "--subresource=scale")
    assert not _can(kubectl, "patch", "deployments/other", "--subresource=scale")
    assert not _can(kubectl, "patch", "deployments/web")  # the subresource grants nothing on the object
    assert not _can(kubectl, "get", "deployments/web", "--subresource=scale", "-n", "kube-system")
    scaled = bot(
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        {"spec": {"replicas": 3}},
        content_type="application/merge-patch+json",
    )
    assert scaled.status == 200 and scaled.body["spec"]["replicas"] == 3
    # `*` verbs and resources; */status matches every status subresource.
    status_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "status-reader"},
        "rules": [{"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]}],
    }
    assert (
        http("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", status_role).status == 201
    )
    kubectl("create", "rolebinding", "bot-status", "--role=status-reader", "--serviceaccount=default:bot")
    assert _can(kubectl, "update", "deployments", "--subresource=status")
    assert _can(kubectl, "delete", "pods", "--subresource=status")
    assert not _can(kubectl, "update", "deployments", "--subresource=finalizers")
    # A ClusterRole bound by a RoleBinding applies in that namespace only; by a ClusterRoleBinding everywhere.
    kubectl("create", "clusterrole", "cm-reader", "--verb=get,list,watch", "--resource=configmaps")
    kubectl("create", "rolebinding", "bot-cm", "--clusterrole=cm-reader", "--serviceaccount=default:bot")
    assert _can(kubectl, "list", "configmaps") and not _can(
        kubectl, "list", "configmaps", "-n", "kube-system"
    )
    assert not _can(kubectl, "list", "configmaps", "-A")
    kubectl(
        "create", "clusterrolebinding", "bot-cm", "--clusterrole=cm-reader", "--serviceaccount=default:bot"
    )
    assert _can(kubectl, "list", "configmaps", "-A")
    assert bot("GET", "/api/v1/configmaps").status == 200
    # Deleting the binding takes the permission away at once.
    kubectl("delete", "clusterrolebinding", "bot-cm")
    assert bot("GET", "/api/v1/configmaps").status == 403


def test_groups_users_and_non_resource_urls(kubectl: Kubectl) -> None:
    kubectl(
        "create",
        "clusterrole",
        "metrics",
        "--verb=get",
        "--non-resource-url=/metrics",
        "--non-resource-url=/logs/*",
    )
    kubectl("create", "clusterrolebinding", "devs-metrics", "--clusterrole=metrics", "--group=devs")
    assert (
        kubectl.run("auth", "can-i", "get", "/metrics", "--as=alice", "--as-group=devs").stdout.strip()
        == "yes"
    )
    assert (
        kubectl.run("auth", "can-i", "get", "/logs/x/y", "--as=alice", "--as-group=devs").stdout.strip()
        == "yes"
    )
    assert kubectl.run("auth", "can-i", "get", "/metrics", "--as=alice").stdout.strip() == "no"
    assert (
        kubectl.run("auth", "can-i", "post", "/metrics", "--as=alice", "--as-group=devs").stdout.strip()
        == "no"
    )
    kubectl("create", "clusterrolebinding", "alice-view", "--clusterrole=view", "--user=alice")
    assert kubectl.run("get", "pods", "-A", "--as=alice").returncode == 0
    # Discovery and /version are open to every authenticated user (system:discovery).
    assert kubectl.run("get", "--raw", "/apis", "--as=nobody").returncode == 0
    assert kubectl.run("api-resources", "--as=nobody").returncode == 0


def test_clusterrole_aggregation_and_the_default_roles(kubectl: Kubectl, http: Http) -> None:
    bot = _bot(kubectl, http)
    kubectl("create", "rolebinding", "bot-edit", "--clusterrole=edit", "--serviceaccount=default:bot")
    assert _can(kubectl, "create", "deployments") and _can(kubectl, "get", "secrets")
    assert not _can(kubectl, "create", "endpointslices.discovery.k8s.io")
    assert not _can(kubectl, "create", "roles")  # admin has it, edit does not
    # A ClusterRole labelled to aggregate into edit extends it, as for a CRD's own roles.
    aggregated = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": "endpointslices-edit",
            "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
        },
        "rules": [{"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["*"]}],
    }
    assert http("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", aggregated).status == 201
    assert _can(kubectl, "create", "endpointslices.discovery.k8s.io")
    assert not _can(kubectl, "create", "endpointslices.discovery.k8s.io", "-n", "kube-system")
    assert bot("GET", "/apis/apps/v1/namespaces/default/deployments").status == 200
    defaults = kubectl("get", "clusterroles", "-o", "name").split()
    for name in ("cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user"):
        assert f"clusterrole.rbac.authorization.k8s.io/{name}" in defaults


def test_roles_take_any_verb_string_as_a_real_server_does(kubectl: Kubectl, http: Http) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "odd"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["frobnicate", "get"]}],
    }
    created = http("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", role)
    assert created.status == 201 and created.body["rules"][0]["verbs"] == ["frobnicate", "get"]
    kubectl("create", "serviceaccount", "bot")
    kubectl("create", "rolebinding", "bot-odd", "--role=odd", "--serviceaccount=default:bot")
    assert _can(kubectl, "get", "pods") and not _can(kubectl, "list", "pods")
    assert http("GET", "/api/v1/namespaces").status == 200  # and the server keeps serving


def test_subject_access_reviews_for_another_user(http: Http, kubectl: Kubectl) -> None:
    kubectl("create", "clusterrolebinding", "alice-view", "--clusterrole=view", "--user=alice")
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "alice",
            "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "x"},
        },
    }
    answer = http("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    assert answer.status == 201 and answer.body["status"]["allowed"] is True
    assert 'ClusterRoleBinding "alice-view"' in answer.body["status"]["reason"]
    review["spec"]["resourceAttributes"]["verb"] = "delete"
    assert http("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review).body["status"] == {
        "allowed": False
    }
    masters = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "x",
            "groups": ["system:masters"],
            "nonResourceAttributes": {"verb": "get", "path": "/anything"},
        },
    }
    assert http("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", masters).body["status"][
        "allowed"
    ]
    assert http("GET", "/apis/authorization.k8s.io/v1/subjectaccessreviews").status == 405
    # A ServiceAccount may review itself (system:basic-user), not others.
    bot = _bot(kubectl, http)
    assert bot("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review).status == 403
    own = {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "default"}},
    }
    assert bot("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", own).body["status"] == {
        "allowed": False
    }


OWNED = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "owned", "ownerReferences": []},
}


def test_block_owner_deletion_needs_update_on_the_owners_finalizers(kubectl: Kubectl, http: Http) -> None:
    owner = http("POST", "/apis/apps/v1/namespaces/default/deployments", DEPLOY).body
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner["metadata"]["uid"]}
    bot = _bot(kubectl, http)
    kubectl("create", "role", "cm", "--verb=*", "--resource=configmaps")
    kubectl("create", "rolebinding", "bot-cm", "--role=cm", "--serviceaccount=default:bot")
    blocking = {
        **OWNED,
        "metadata": {"name": "owned", "ownerReferences": [{**ref, "blockOwnerDeletion": True}]},
    }
    refused = bot("POST", "/api/v1/namespaces/default/configmaps", blocking)
    assert refused.status == 403
    assert refused.body["message"] == (
        'configmaps "owned" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a '
        "resource you can't set finalizers on: , <nil>"
    )
    # So does a dry run; an owner reference that does not block is fine.
    assert bot("POST", "/api/v1/namespaces/default/configmaps?dryRun=All", blocking).status == 403
    plain = {**OWNED, "metadata": {"name": "owned", "ownerReferences": [ref]}}
    assert bot("POST", "/api/v1/namespaces/default/configmaps", plain).status == 201
    # Turning blockOwnerDeletion on later is the same check (here through a merge patch).
    patch = {"metadata": {"ownerReferences": [{**ref, "blockOwnerDeletion": True}]}}
    answer = bot(
        "PATCH", "/api/v1/namespaces/default/configmaps/owned", patch, "application/merge-patch+json"
    )
    assert answer.status == 403 and "can't set finalizers on" in answer.body["message"]
    kubectl(
        "create", "role", "fin", "--verb=update", "--resource=deployments/finalizers", "--resource-name=web"
    )
    kubectl("create", "rolebinding", "bot-fin", "--role=fin", "--serviceaccount=default:bot")
    answer = bot(
        "PATCH", "/api/v1/namespaces/default/configmaps/owned", patch, "application/merge-patch+json"
    )
    assert (
        answer.status == 200 and answer.body["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] is True
    )
    # The admin (system:masters) is never asked.
    assert (
        http(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            {**blocking, "metadata": {**blocking["metadata"], "name": "by-admin"}},
        ).status
        == 201
    )


def test_changing_owner_references_needs_delete_on_the_object(kubectl: Kubectl, http: Http) -> None:
    owner = http("POST", "/apis/apps/v1/namespaces/default/deployments", DEPLOY).body
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner["metadata"]["uid"]}
    bot = _bot(kubectl, http)
    kubectl("create", "role", "cm", "--verb=create,get,patch,update", "--resource=configmaps")
    kubectl("create", "rolebinding", "bot-cm", "--role=cm", "--serviceaccount=default:bot")
    assert bot("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}}).status == 201
    answer = bot(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/c",
        {"metadata": {"ownerReferences": [ref]}},
        "application/merge-patch+json",
    )
    assert answer.status == 403
    assert answer.body["message"] == (
        'configmaps "c" is forbidden: cannot set an ownerRef on a resource you can\'t delete: , <nil>'
    )
    # Other changes need no delete permission.
    labelled = bot(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/c",
        {"data": {"a": "b"}},
        "application/merge-patch+json",
    )
    assert labelled.status == 200


def test_cached_decisions_follow_every_rbac_change_at_once(kubectl: Kubectl, http: Http) -> None:
    """Decisions are cached per user and namespace; each kind of RBAC change must reach the very next
    request: a revoked or re-made binding, a Role's rules, a ClusterRole's aggregation labels."""
    bot = _bot(kubectl, http)
    cms = "/api/v1/namespaces/default/configmaps"
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    kubectl("create", "role", "cm", "--verb=get,list", "--resource=configmaps")
    kubectl("create", "rolebinding", "bot-cm", "--role=cm", "--serviceaccount=default:bot")
    for _ in range(3):  # decided once, then answered from the cache
        assert bot("GET", cms).status == 200
    kubectl("delete", "rolebinding", "bot-cm")
    assert bot("GET", cms).status == 403
    kubectl("create", "rolebinding", "bot-cm", "--role=cm", "--serviceaccount=default:bot")
    assert bot("GET", cms).status == 200
    # The Role loses the verb: denied; the binding names another subject: denied.
    role = http("GET", f"{rbac}/namespaces/default/roles/cm").body
    role["rules"][0]["verbs"] = ["get"]
    assert http("PUT", f"{rbac}/namespaces/default/roles/cm", role).status == 200
    assert bot("GET", cms).status == 403
    role["rules"][0]["verbs"] = ["list"]
    role["metadata"].pop("resourceVersion")
    assert http("PUT", f"{rbac}/namespaces/default/roles/cm", role).status == 200
    assert bot("GET", cms).status == 200
    binding = http("GET", f"{rbac}/namespaces/default/rolebindings/bot-cm").body
    binding["subjects"] = [{"kind": "ServiceAccount", "name": "other", "namespace": "default"}]
    assert http("PUT", f"{rbac}/namespaces/default/rolebindings/bot-cm", binding).status == 200
    assert bot("GET", cms).status == 403
    # Aggregation: a ClusterRole's rules reach a binding of the aggregating role through its labels.
    kubectl("create", "clusterrolebinding", "bot-view", "--clusterrole=view", "--serviceaccount=default:bot")
    assert bot("GET", "/api/v1/namespaces/default/secrets").status == 403
    kubectl("create", "clusterrole", "secrets-view", "--verb=list", "--resource=secrets")
    kubectl("label", "clusterrole", "secrets-view", "rbac.authorization.k8s.io/aggregate-to-view=true")
    assert bot("GET", "/api/v1/namespaces/default/secrets").status == 200
    kubectl("label", "clusterrole", "secrets-view", "rbac.authorization.k8s.io/aggregate-to-view-")
    assert bot("GET", "/api/v1/namespaces/default/secrets").status == 403


def test_cached_decisions_tell_resource_names_apart(kubectl: Kubectl, http: Http) -> None:
    """With a rule that names resources, the decision for one name is not reused for another."""
    bot = _bot(kubectl, http)
    for name in ("a", "b"):
        assert (
            http("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": name}}).status == 201
        )
    kubectl("create", "role", "only-a", "--verb=get", "--resource=configmaps", "--resource-name=a")
    kubectl("create", "rolebinding", "bot-a", "--role=only-a", "--serviceaccount=default:bot")
    for _ in range(2):
        assert bot("GET", "/api/v1/namespaces/default/configmaps/a").status == 200
        assert bot("GET", "/api/v1/namespaces/default/configmaps/b").status == 403
    # Without names in any rule, one decision serves every name; adding a named rule changes that.
    kubectl("delete", "rolebinding", "bot-a")
    kubectl("create", "role", "all", "--verb=get", "--resource=configmaps")
    kubectl("create", "rolebinding", "bot-all", "--role=all", "--serviceaccount=default:bot")
    assert bot("GET", "/api/v1/namespaces/default/configmaps/b").status == 200
    kubectl("delete", "rolebinding", "bot-all")
    kubectl("create", "rolebinding", "bot-a", "--role=only-a", "--serviceaccount=default:bot")
    assert bot("GET", "/api/v1/namespaces/default/configmaps/a").status == 200
    assert bot("GET", "/api/v1/namespaces/default/configmaps/b").status == 403


def test_a_server_side_apply_that_creates_needs_create_as_well_as_patch(kubectl: Kubectl, http: Http) -> None:
    # A PATCH is authorized as `patch`; when an apply creates its object, kube-apiserver also
    # authorizes it as `create` (api-concepts, "Patch and apply"), so `patch` alone cannot create.
    bot = _bot(kubectl, http)
    kubectl("create", "role", "cm-patch", "--verb=get,patch", "--resource=configmaps")
    kubectl("create", "rolebinding", "bot-cm-patch", "--role=cm-patch", "--serviceaccount=default:bot")
    path = "/api/v1/namespaces/default/configmaps/applied?fieldManager=bot"
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}}
    refused = bot("PATCH", path, config, "application/apply-patch+yaml")
    assert refused.status == 403
    assert refused.body["message"] == (
        f'configmaps "applied" is forbidden: User "{SA}" cannot create resource "configmaps" '
        'in API group "" in the namespace "default"'
    )
    assert kubectl.run("get", "configmap", "applied").returncode != 0
    # An object that exists is changed by the same apply with `patch` alone.
    kubectl("create", "configmap", "applied", "--from-literal=b=0")
    assert bot("PATCH", path, config, "application/apply-patch+yaml").status == 200
    kubectl("create", "role", "cm-create", "--verb=create", "--resource=configmaps")
    kubectl("create", "rolebinding", "bot-cm-create", "--role=cm-create", "--serviceaccount=default:bot")
    created = bot(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/second?fieldManager=bot",
        {**config, "metadata": {"name": "second"}},
        "application/apply-patch+yaml",
    )
    assert created.status == 201

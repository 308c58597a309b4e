"""RBAC authorization as kube-apiserver evaluates it: Roles and ClusterRoles granted by RoleBindings and
ClusterRoleBindings to users, groups and ServiceAccounts; rules match on verbs, API groups, resources
(with subresources: `deployments/scale`, `*/status`), resourceNames and nonResourceURLs; ClusterRoles
with an aggregationRule take the rules of the ClusterRoles their selectors pick (at evaluation time:
the stored object keeps its own rules). Members of `system:masters` are allowed everything before any
rule is read. Any verb string is accepted in a rule, as a real server does; one that no request uses
simply never matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slipway_dev.apiserver.authn import UserInfo, service_account_user
from slipway_dev.apiserver.errors import ApiError, qualified
from slipway_dev.apiserver.storage import Event, Store

GROUP = "rbac.authorization.k8s.io"
ROLES = f"roles.{GROUP}"
CLUSTER_ROLES = f"clusterroles.{GROUP}"
ROLE_BINDINGS = f"rolebindings.{GROUP}"
CLUSTER_ROLE_BINDINGS = f"clusterrolebindings.{GROUP}"
_STORAGE_KEYS = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a request asks to do (kube-apiserver's authorizer.Attributes)."""

    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Grant:
    """A rule together with the binding that grants it (for the reason an allowed review gives)."""

    rule: dict[str, Any]
    source: str


def _has(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def rule_allows(rule: dict[str, Any], attributes: Attributes) -> bool:
    if not _has(rule.get("verbs"), attributes.verb):
        return False
    if not attributes.resource_request:
        return any(
            url == "*"
            or url == attributes.path
            or (url.endswith("*") and attributes.path.startswith(url[:-1]))
            for url in rule.get("nonResourceURLs") or ()
            if isinstance(url, str)
        )
    if not _has(rule.get("apiGroups"), attributes.group):
        return False
    combined = attributes.resource
    if attributes.subresource:
        combined += "/" + attributes.subresource
    resources = rule.get("resources") or ()
    if not any(
        r == "*" or r == combined or (attributes.subresource and r == f"*/{attributes.subresource}")
        for r in resources
    ):
        return False
    names = rule.get("resourceNames") or ()
    return not names or attributes.name in names


def _selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or ():
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or ()
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _subject_matches(subject: dict[str, Any], user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(name) and user.name == service_account_user(str(namespace), str(name))
    return False


def _subject_text(subject: dict[str, Any], binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("namespace") or binding_namespace}/{subject.get("name")}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


class _Invalidator:
    """Subscribed to the RBAC collections: any change (a Role's rules, a binding's subjects, a
    ClusterRole's labels that aggregation selects on) drops every cached rule set and decision, in the
    same step as the write, so the next request is judged by the new rules."""

    def __init__(self, rbac: Rbac) -> None:
        self._rbac = rbac

    def offer(self, event: Event) -> None:
        self._rbac.clear()

    def close(self) -> None:
        self._rbac.clear()


# A decision as cached: the request's verb, group, resource, subresource, and its name only when some
# rule of the user's names resources (else every name is judged alike); or, for a non-resource URL,
# the verb and the path.
_DecisionKey = tuple[str, ...]
_DECISIONS_LIMIT = 1024


class Rbac:
    def __init__(self, store: Store) -> None:
        self.store = store
        # Per (user, namespace): the rules that apply, and the decisions made from them.
        self.cache: dict[tuple[UserInfo, str], list[Grant]] = {}
        self.decisions: dict[tuple[UserInfo, str], dict[_DecisionKey, tuple[bool, str]]] = {}
        self._names: dict[tuple[UserInfo, str], bool] = {}
        invalidator = _Invalidator(self)
        for key in _STORAGE_KEYS:
            store.subscribe(key, invalidator)

    def _cluster_role_rules(self, name: str, seen: set[str] | None = None) -> list[dict[str, Any]]:
        stored = self.store.get(CLUSTER_ROLES, "", name)
        if stored is None:
            return []
        role = stored.obj
        rules = [r for r in role.get("rules") or () if isinstance(r, dict)]
        aggregation = role.get("aggregationRule")
        if isinstance(aggregation, dict):
            seen = (seen or set()) | {name}
            for other in self.store.items(CLUSTER_ROLES, ""):
                labels = other.obj["metadata"].get("labels") or {}
                if other.name in seen:
                    continue
                if any(
                    isinstance(selector, dict) and _selector_matches(selector, labels)
                    for selector in aggregation.get("clusterRoleSelectors") or ()
                ):
                    rules += self._cluster_role_rules(other.name, seen)
        return rules

    def referenced_rules(self, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]] | None:
        """The rules of the role a binding in `namespace` refers to; None when there is no such role."""
        name = str(ref.get("name"))
        if ref.get("kind") == "ClusterRole":
            if self.store.get(CLUSTER_ROLES, "", name) is None:
                return None
            return self._cluster_role_rules(name)
        if ref.get("kind") == "Role" and namespace:
            stored = self.store.get(ROLES, namespace, name)
            return [r for r in (stored.obj.get("rules") or ()) if isinstance(r, dict)] if stored else None
        return None

    def _role_rules(self, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
        return self.referenced_rules(ref, namespace) or []

    def grants(self, user: UserInfo, namespace: str) -> list[Grant]:
        """Every rule that applies to `user` in `namespace` ("" = cluster-wide rules only)."""
        key = (user, namespace)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        grants: list[Grant] = []
        for stored in self.store.items(CLUSTER_ROLE_BINDINGS, ""):
            binding = stored.obj
            for subject in binding.get("subjects") or ():
                if isinstance(subject, dict) and _subject_matches(subject, user, ""):
                    ref = binding.get("roleRef") or {}
                    source = (
                        f'ClusterRoleBinding "{stored.name}" of ClusterRole "{ref.get("name")}" '
                        f"to {_subject_text(subject, '')}"
                    )
                    grants += [Grant(rule, source) for rule in self._role_rules(ref, "")]
                    break
        if namespace:
            for stored in self.store.items(ROLE_BINDINGS, namespace):
                binding = stored.obj
                for subject in binding.get("subjects") or ():
                    if isinstance(subject, dict) and _subject_matches(subject, user, namespace):
                        ref = binding.get("roleRef") or {}
                        source = (
                            f'RoleBinding "{stored.name}/{namespace}" of {ref.get("kind")} '
                            f'"{ref.get("name")}" to {_subject_text(subject, namespace)}'
                        )
                        grants += [Grant(rule, source) for rule in self._role_rules(ref, namespace)]
                        break
        if len(self.cache) > 4096:
            self.cache.clear()
        self.cache[key] = grants
        return grants

    def clear(self) -> None:
        self.cache.clear()
        self.decisions.clear()
        self._names.clear()

    def authorize(self, attributes: Attributes) -> tuple[bool, str]:
        """(allowed, reason); the reason names the binding that allowed it, empty on a denial.

        Decisions are cached per (user, namespace) until any RBAC object changes: a request then costs
        two dict lookups instead of a walk through every rule the user has."""
        user = attributes.user
        if user.is_master:
            return True, ""
        namespace = attributes.namespace if attributes.resource_request else ""
        scope = (user, namespace)
        decisions = self.decisions.get(scope)
        if decisions is None:
            grants = self.grants(user, namespace)
            self._names[scope] = any(grant.rule.get("resourceNames") for grant in grants)
            if len(self.decisions) > 4096:
                self.decisions.clear()
                self._names.clear()
            decisions = self.decisions[scope] = {}
        if attributes.resource_request:
            key: _DecisionKey = (
                attributes.verb,
                attributes.group,
                attributes.resource,
                attributes.subresource,
            )
            if self._names.get(scope, True):
                key = (*key, attributes.name)
        else:
            key = (attributes.verb, attributes.path)
        decision = decisions.get(key)
        if decision is None:
            decision = self._decide(attributes, namespace)
            if len(decisions) >= _DECISIONS_LIMIT:
                decisions.clear()
            decisions[key] = decision
        return decision

    def _decide(self, attributes: Attributes, namespace: str) -> tuple[bool, str]:
        for grant in self.grants(attributes.user, namespace):
            if rule_allows(grant.rule, attributes):
                return True, f"RBAC: allowed by {grant.source}"
        return False, ""


def forbidden_message(attributes: Attributes) -> str:
    """kube-apiserver's wording of what the user may not do."""
    user = attributes.user.name
    if not attributes.resource_request:
        return f'User "{user}" cannot {attributes.verb} path "{attributes.path}"'
    resource = attributes.resource
    if attributes.subresource:
        resource += "/" + attributes.subresource
    where = f'in the namespace "{attributes.namespace}"' if attributes.namespace else "at the cluster scope"
    group = attributes.group
    return f'User "{user}" cannot {attributes.verb} resource "{resource}" in API group "{group}" {where}'


def forbidden(attributes: Attributes, message: str) -> ApiError:
    """403 Forbidden as apierrors.NewForbidden words it: `deployments.apps "web" is forbidden: ...`."""
    if not attributes.resource_request or not attributes.resource:
        return ApiError(403, "Forbidden", f"forbidden: {message}", {})
    what = qualified(attributes.resource, attributes.group)
    details: dict[str, Any] = {}
    if attributes.name:
        details["name"] = attributes.name
    if attributes.group:
        details["group"] = attributes.group
    details["kind"] = attributes.resource
    subject = f'{what} "{attributes.name}"' if attributes.name else what
    return ApiError(403, "Forbidden", f"{subject} is forbidden: {message}", details)


def denied(attributes: Attributes, reason: str = "") -> ApiError:
    message = forbidden_message(attributes)
    return forbidden(attributes, f"{message}: {reason}" if reason else message)


# -- the default roles and bindings of a fresh cluster (a subset of kube-apiserver's bootstrap policy)

_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_AUTO = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
_BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}


def _cluster_role(
    name: str,
    rules: list[dict[str, Any]],
    labels: dict[str, str] | None = None,
    aggregate_from: list[str] | None = None,
) -> dict[str, Any]:
    role: dict[str, Any] = {
        "metadata": {"name": name, "labels": {**_BOOTSTRAP, **(labels or {})}, "annotations": dict(_AUTO)},
        "rules": rules,
    }
    if aggregate_from:
        role["aggregationRule"] = {
            "clusterRoleSelectors": [
                {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{target}": "true"}}
                for target in aggregate_from
            ]
        }
    return role


def _binding(name: str, role: str, groups: list[str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": dict(_BOOTSTRAP), "annotations": dict(_AUTO)},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": group} for group in groups],
    }


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> dict[str, Any]:
    return {"verbs": verbs, "apiGroups": groups, "resources": resources}


_CORE_WORKLOADS = [
    "pods",
    "services",
    "endpoints",
    "configmaps",
    "serviceaccounts",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "replicationcontrollers/scale",
]
_APPS = [
    "deployments",
    "deployments/scale",
    "deployments/rollback",
    "replicasets",
    "replicasets/scale",
    "statefulsets",
    "statefulsets/scale",
    "daemonsets",
]
_STATUS = [
    "pods/status",
    "pods/log",
    "services/status",
    "namespaces",
    "namespaces/status",
    "events",
    "limitranges",
    "resourcequotas",
    "replicationcontrollers/status",
]

CLUSTER_ROLES_AT_START = [
    _cluster_role(
        "cluster-admin",
        [_rule(["*"], ["*"], ["*"]), {"verbs": ["*"], "nonResourceURLs": ["*"]}],
    ),
    _cluster_role(
        "system:discovery",
        [
            {
                "verbs": ["get"],
                "nonResourceURLs": [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            }
        ],
    ),
    _cluster_role(
        "system:public-info-viewer",
        [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]}],
    ),
    _cluster_role(
        "system:basic-user",
        [
            _rule(
                ["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]
            ),
            _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
        ],
    ),
    _cluster_role("admin", [], aggregate_from=["admin"]),
    _cluster_role("edit", [], {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}, ["edit"]),
    _cluster_role(
        "view",
        [],
        {
            "rbac.authorization.k8s.io/aggregate-to-admin": "true",
            "rbac.authorization.k8s.io/aggregate-to-edit": "true",
        },
        ["view"],
    ),
    _cluster_role(
        "system:aggregate-to-admin",
        [
            _rule(["*"], [GROUP], ["roles", "rolebindings"]),
            _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
        ],
        {"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
    ),
    _cluster_role(
        "system:aggregate-to-edit",
        [
            _rule(_WRITE, [""], [*_CORE_WORKLOADS, "secrets"]),
            _rule(_READ, [""], ["secrets"]),
            _rule(["create"], [""], ["serviceaccounts/token"]),
            _rule(["impersonate"], [""], ["serviceaccounts"]),
            _rule(_WRITE, ["apps"], _APPS),
            _rule(_WRITE, ["batch"], ["jobs", "cronjobs"]),
            _rule(_WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
            _rule(_WRITE, ["coordination.k8s.io"], ["leases"]),
        ],
        {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
    ),
    _cluster_role(
        "system:aggregate-to-view",
        [
            _rule(_READ, [""], [*_CORE_WORKLOADS, *_STATUS]),
            _rule(_READ, ["apps"], [*_APPS, "deployments/status", "replicasets/status"]),
            _rule(_READ, ["batch"], ["jobs", "jobs/status", "cronjobs"]),
            _rule(_READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
            _rule(_READ, ["discovery.k8s.io"], ["endpointslices"]),
            _rule(_READ, ["events.k8s.io"], ["events"]),
        ],
        {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
    ),
]

CLUSTER_ROLE_BINDINGS_AT_START = [
    _binding("cluster-admin", "cluster-admin", ["system:masters"]),
    _binding("system:discovery", "system:discovery", ["system:authenticated"]),
    _binding("system:basic-user", "system:basic-user", ["system:authenticated"]),
    # The one default role anonymous requests (group system:unauthenticated) get: /version, health.
    _binding(
        "system:public-info-viewer",
        "system:public-info-viewer",
        ["system:authenticated", "system:unauthenticated"],
    ),
]

"""Who may do what: the checks kube-apiserver's filter chain makes before a request reaches storage.

For every request, in the real server's order: authentication (a bad token: 401; none: anonymous),
impersonation (`Impersonate-User` / `Impersonate-Group`, itself authorized with the verb `impersonate`), RBAC
authorization (403 with the real message), then the handlers. The authorization and authentication
APIs live here too: TokenRequest (`serviceaccounts/token`, `kubectl create token`), SelfSubjectAccessReview
(`kubectl auth can-i`), SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview
(`kubectl auth can-i --list`), SelfSubjectReview (`kubectl auth whoami`) and TokenReview.
Owner-reference permission (OwnerReferencesPermissionEnforcement) and RBAC's privilege-escalation
prevention run as admission inside writes.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any

from aiohttp import web

from slipway_dev.apiserver import escalation, rbac
from slipway_dev.apiserver.authn import (
    AUTHENTICATED,
    DEFAULT_TOKEN_SECONDS,
    MAX_TOKEN_SECONDS,
    MIN_TOKEN_SECONDS,
    Authenticator,
    UserInfo,
    service_account_groups,
    split_service_account,
    timestamp,
)
from slipway_dev.apiserver.cluster import Cluster
from slipway_dev.apiserver.errors import (
    ApiError,
    bad_request,
    field_cause,
    invalid,
    method_not_allowed,
    not_found,
)
from slipway_dev.apiserver.nesting import check_depth
from slipway_dev.apiserver.protobuf import decode_object
from slipway_dev.apiserver.rbac import Attributes
from slipway_dev.apiserver.resources import ResourceType
from slipway_dev.apiserver.storage import encode

# The user of the request being handled; None for the server's own in-process writes (set-up).
CURRENT_USER: contextvars.ContextVar[UserInfo | None] = contextvars.ContextVar("slipway_user", default=None)

UNAUTHORIZED = ApiError(401, "Unauthorized", "Unauthorized")
_AUTHZ = "authorization.k8s.io"
_AUTHN = "authentication.k8s.io"
_CREATE = ("create",)
REVIEW_TYPES = [
    ResourceType(_AUTHN, "v1", "tokenreviews", "tokenreview", "TokenReview", False, verbs=_CREATE),
    ResourceType(
        _AUTHN, "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", False, verbs=_CREATE
    ),
    ResourceType(
        _AUTHZ,
        "v1",
        "localsubjectaccessreviews",
        "localsubjectaccessreview",
        "LocalSubjectAccessReview",
        True,
        verbs=_CREATE,
    ),
    ResourceType(
        _AUTHZ,
        "v1",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        False,
        verbs=_CREATE,
    ),
    ResourceType(
        _AUTHZ,
        "v1",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        "SelfSubjectRulesReview",
        False,
        verbs=_CREATE,
    ),
    ResourceType(
        _AUTHZ,
        "v1",
        "subjectaccessreviews",
        "subjectaccessreview",
        "SubjectAccessReview",
        False,
        verbs=_CREATE,
    ),
]
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
PROTOBUF = "application/vnd.kubernetes.protobuf"


def request_attributes(user: UserInfo, method: str, path: str, query: Any) -> Attributes:
    """The authorizer's view of a request, parsed as kube-apiserver's RequestInfoFactory does."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        verb = {"GET": "get", "HEAD": "get"}.get(method, method.lower())
        return Attributes(user, verb, False, path=path)
    watch = False
    if rest[0] == "watch":  # the deprecated /watch/ paths
        watch, rest = True, rest[1:] or [""]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if method in ("GET", "HEAD"):
        if query.get("watch", "").lower() in ("true", "1") or watch:
            verb = "watch"
        else:
            verb = "get" if name else "list"
        if not name and verb in ("list", "watch"):
            # A list or watch of one object by name is authorized for that name, as a real server does.
            for term in query.get("fieldSelector", "").split(","):
                key, _, value = term.partition("=")
                if key.strip() == "metadata.name" and value and not value.startswith("="):
                    name = value.strip()
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return Attributes(user, verb, True, path, group, version, resource, subresource, namespace, name)


def _is_special(path: str) -> bool:
    return path.startswith(("/apis/authorization.k8s.io/", "/apis/authentication.k8s.io/")) or (
        "/serviceaccounts/" in path and path.endswith("/token")
    )


class Access:
    """Authentication, impersonation, authorization and owner-reference admission for one server."""

    def __init__(self, cluster: Cluster, authn: Authenticator) -> None:
        self.cluster = cluster
        self.authn = authn
        self.rbac = rbac.Rbac(cluster.store)
        for review in REVIEW_TYPES:
            cluster.registry.add(review)
        serviceaccounts = cluster.registry.lookup("", "v1", "serviceaccounts")
        if serviceaccounts is not None:
            cluster.registry.add(
                _with_token_subresource(serviceaccounts),
            )
        roles = cluster.registry.lookup(rbac.GROUP, "v1", "clusterroles")
        bindings = cluster.registry.lookup(rbac.GROUP, "v1", "clusterrolebindings")
        assert roles is not None and bindings is not None
        for role in rbac.CLUSTER_ROLES_AT_START:
            cluster.create(roles, "", role)
        for binding in rbac.CLUSTER_ROLE_BINDINGS_AT_START:
            cluster.create(bindings, "", binding)
        cluster.admission = self.admit

    # -- authentication and impersonation

    def service_account_uid(self, namespace: str, name: str) -> str | None:
        stored = self.cluster.store.get("serviceaccounts", namespace, name)
        return str(stored.obj["metadata"]["uid"]) if stored is not None else None

    def authenticate(self, request: web.Request) -> UserInfo:
        user = self.authn.authenticate(request.headers.get("Authorization"), self.service_account_uid)
        if user is None:
            raise UNAUTHORIZED
        if "Impersonate-User" in request.headers or "Impersonate-Group" in request.headers:
            user = self._impersonate(request, user)
        return user

    def _impersonate(self, request: web.Request, actor: UserInfo) -> UserInfo:
        username = request.headers.get("Impersonate-User", "")
        groups = request.headers.getall("Impersonate-Group", [])
        uid = request.headers.get("Impersonate-Uid", "")
        if not username:
            raise ApiError(
                500,
                "InternalError",
                f"Internal error occurred: requested {groups} without impersonating a user",
            )
        checks: list[Attributes] = []
        service_account = split_service_account(username)
        if service_account is not None:
            namespace, name = service_account
            checks.append(
                Attributes(actor, "impersonate", True, "", "", "v1", "serviceaccounts", "", namespace, name)
            )
        else:
            checks.append(Attributes(actor, "impersonate", True, "", "", "v1", "users", "", "", username))
        checks += [
            Attributes(actor, "impersonate", True, "", "", "v1", "groups", "", "", group) for group in groups
        ]
        if uid:
            checks.append(Attributes(actor, "impersonate", True, "", _AUTHN, "v1", "uids", "", "", uid))
        for check in checks:
            allowed, reason = self.rbac.authorize(check)
            if not allowed:
                raise rbac.denied(check, reason)
        impersonated = list(groups)
        if service_account is not None and not groups:
            impersonated += service_account_groups(service_account[0])
        if AUTHENTICATED not in impersonated:
            impersonated.append(AUTHENTICATED)
        return UserInfo(username, tuple(impersonated), uid)

    # -- authorization

    def authorize(self, request: web.Request, user: UserInfo) -> None:
        if user.is_master:
            return
        attributes = request_attributes(user, request.method, request.path, request.query)
        allowed, reason = self.rbac.authorize(attributes)
        if not allowed:
            raise rbac.denied(attributes, reason)

    # -- the APIs served here

    async def serve(self, request: web.Request, user: UserInfo) -> web.Response | None:
        """The answer to a TokenRequest or a review, or None for everything else."""
        path = request.path.rstrip("/")
        if not _is_special(path):
            return None
        attributes = request_attributes(user, request.method, path, request.query)
        if attributes.resource == "serviceaccounts" and attributes.subresource == "token":
            if request.method != "POST":
                raise method_not_allowed(request.method)
            return await self._token_request(request, attributes)
        review = next(
            (r for r in REVIEW_TYPES if r.group == attributes.group and r.plural == attributes.resource), None
        )
        if review is None or not attributes.resource_request or attributes.name:
            return None
        if request.method != "POST":
            raise method_not_allowed(request.method)
        body = await _json_body(request)
        if attributes.resource == "selfsubjectreviews":
            status = {"userInfo": user.as_dict()}
        elif attributes.resource == "tokenreviews":
            status = self._token_review(body)
        elif attributes.resource == "selfsubjectrulesreviews":
            status = self._rules_review(user, str((body.get("spec") or {}).get("namespace") or ""))
        else:
            status = self._access_review(review, attributes, user, body)
        answer = {**body, "kind": review.kind, "apiVersion": review.api_version, "status": status}
        answer.setdefault("metadata", {})
        answer["metadata"].setdefault("creationTimestamp", None)
        return web.Response(body=encode(answer), status=201, content_type="application/json")

    async def _token_request(self, request: web.Request, attributes: Attributes) -> web.Response:
        namespace, name = attributes.namespace, attributes.name
        body = await _json_body(request)
        uid = self.service_account_uid(namespace, name)
        if uid is None:
            raise not_found("serviceaccounts", "", name)
        spec = body.get("spec") or {}
        seconds = spec.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS
        if not isinstance(seconds, int) or seconds < MIN_TOKEN_SECONDS or seconds > MAX_TOKEN_SECONDS:
            why = (
                "may not specify a duration less than 10 minutes"
                if isinstance(seconds, int) and seconds < MIN_TOKEN_SECONDS
                else "may not specify a duration larger than 2^32 seconds"
            )
            raise invalid(
                "TokenRequest",
                "authentication.k8s.io",
                name,
                [field_cause("spec.expirationSeconds", f"Invalid value: {seconds}: {why}")],
            )
        audiences = spec.get("audiences") or None
        issued = self.authn.issue(namespace, name, uid, audiences, seconds)
        answer = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": {
                "audiences": audiences or [self.authn_audience()],
                "expirationSeconds": seconds,
                "boundObjectRef": spec.get("boundObjectRef"),
            },
            "status": {"token": issued.token, "expirationTimestamp": timestamp(issued.expires)},
        }
        return web.Response(body=encode(answer), status=201, content_type="application/json")

    @staticmethod
    def authn_audience() -> str:
        from slipway_dev.apiserver.authn import API_AUDIENCE

        return API_AUDIENCE

    def _token_review(self, body: dict[str, Any]) -> dict[str, Any]:
        token = str((body.get("spec") or {}).get("token") or "").strip()
        user = self.authn.authenticate(f"Bearer {token}", self.service_account_uid) if token else None
        if user is None:
            return {"authenticated": False, "user": {}, "error": "invalid bearer token"}
        return {"authenticated": True, "user": user.as_dict(), "audiences": [self.authn_audience()]}

    def _rules_review(self, user: UserInfo, namespace: str) -> dict[str, Any]:
        if not namespace:
            raise invalid(
                "SelfSubjectRulesReview",
                _AUTHZ,
                "",
                [
                    field_cause(
                        "spec.namespace", "Required value: namespace is required", "FieldValueRequired"
                    )
                ],
            )
        resource_rules, non_resource_rules = [], []
        for grant in self.rbac.grants(user, namespace):
            rule = grant.rule
            if rule.get("nonResourceURLs"):
                non_resource_rules.append(
                    {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
                )
            else:
                entry = {
                    k: rule[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if rule.get(k)
                }
                resource_rules.append(entry)
        return {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": False}

    def _access_review(
        self, review: ResourceType, attributes: Attributes, user: UserInfo, body: dict[str, Any]
    ) -> dict[str, Any]:
        spec = body.get("spec")
        if not isinstance(spec, dict):
            spec = {}
        if review.plural != "selfsubjectaccessreviews":
            extra = spec.get("extra") or {}
            user = UserInfo(
                str(spec.get("user") or ""),
                tuple(spec.get("groups") or ()),
                str(spec.get("uid") or ""),
                tuple((k, tuple(v)) for k, v in extra.items()) if isinstance(extra, dict) else (),
            )
            if not user.name and not user.groups:
                raise invalid(
                    review.kind,
                    review.group,
                    "",
                    [
                        field_cause(
                            "spec.user", 'Invalid value: "": at least one of user or group must be specified'
                        )
                    ],
                )
        resource = spec.get("resourceAttributes")
        non_resource = spec.get("nonResourceAttributes")
        if isinstance(resource, dict) and not isinstance(non_resource, dict):
            namespace = str(resource.get("namespace") or "")
            if review.plural == "localsubjectaccessreviews":
                if namespace and namespace != attributes.namespace:
                    raise bad_request(
                        f"spec.resourceAttributes.namespace must match namespace: {attributes.namespace}"
                    )
                namespace = attributes.namespace
            asked = Attributes(
                user,
                str(resource.get("verb") or ""),
                True,
                "",
                str(resource.get("group") or ""),
                str(resource.get("version") or ""),
                str(resource.get("resource") or ""),
                str(resource.get("subresource") or ""),
                namespace,
                str(resource.get("name") or ""),
            )
        elif isinstance(non_resource, dict) and not isinstance(resource, dict):
            asked = Attributes(
                user, str(non_resource.get("verb") or ""), False, str(non_resource.get("path") or "")
            )
        else:
            raise invalid(
                review.kind,
                review.group,
                "",
                [
                    field_cause(
                        "spec.resourceAttributes",
                        "Invalid value: exactly one of nonResourceAttributes or resourceAttributes "
                        "must be specified",
                    )
                ],
            )
        if user.is_master:
            return {"allowed": True}
        allowed, reason = self.rbac.authorize(asked)
        return {"allowed": True, "reason": reason} if allowed else {"allowed": False}

    # -- admission: owner-reference permission

    def _admit_create(self, user: UserInfo, resource: ResourceType, new: dict[str, Any]) -> None:
        """Whatever the request's verb, storing a new object needs `create`: a server-side apply (a
        PATCH, authorized as `patch`) that creates its object is authorized as `create` too, as
        kube-apiserver does. For a POST the check was already made and passes again."""
        meta = new["metadata"]
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        asked = _on_object(user, "create", resource, namespace, name)
        allowed, reason = self.rbac.authorize(asked)
        if not allowed:
            raise rbac.denied(asked, reason)

    def _confirm_no_escalation(
        self, user: UserInfo, resource: ResourceType, old: dict[str, Any] | None, new: dict[str, Any]
    ) -> None:
        """RBAC's own storage rules (see slipway_dev.apiserver.escalation): a role's rules, or the rules
        of the role a binding refers to, must all be held by the writer unless they may `escalate` that
        role or `bind` the referenced one. The escalate check names the object only when the request
        does (an update): a create is asked about the collection, as the real server asks it."""
        meta = new["metadata"]
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        target = _on_object(user, "update" if old else "create", resource, namespace, name)
        if resource.plural in ("roles", "clusterroles"):
            asked = _on_object(user, "escalate", resource, namespace, name if old else "")
            if self.rbac.authorize(asked)[0]:
                return
            self._confirm_held(target, namespace, new.get("rules"))
            aggregated = any(escalation.has_aggregation_rule(role) for role in (old, new) if role)
            if resource.plural == "clusterroles" and aggregated:
                owned = [grant.rule for grant in self.rbac.grants(user, namespace)]
                if escalation.missing_rules(owned, escalation.FULL_AUTHORITY):
                    raise rbac.forbidden(target, escalation.AGGREGATION_REFUSED)
            return
        ref = new.get("roleRef")
        ref = ref if isinstance(ref, dict) else {}
        kind, role_name = ref.get("kind"), str(ref.get("name") or "")
        role_plural = {"ClusterRole": "clusterroles", "Role": "roles"}.get(str(kind))
        if role_plural is not None:
            bind = Attributes(
                user,
                "bind",
                True,
                "",
                str(ref.get("apiGroup") or ""),
                "",
                role_plural,
                "",
                namespace,
                role_name,
            )
            if self.rbac.authorize(bind)[0]:
                return
        rules = self.rbac.referenced_rules(ref, namespace)
        if rules is None:
            missing = (
                not_found(role_plural, rbac.GROUP, role_name).message
                if role_plural
                else f"unsupported role reference kind: {json.dumps(str(kind or ''))}"
            )
            raise rbac.forbidden(target, missing)
        self._confirm_held(target, namespace, rules)

    def _confirm_held(self, target: Attributes, namespace: str, rules: Any) -> None:
        owned = [grant.rule for grant in self.rbac.grants(target.user, namespace)]
        missing = escalation.missing_rules(owned, rules if isinstance(rules, list) else [])
        if missing:
            raise rbac.forbidden(target, escalation.escalation_message(target.user, missing))

    def admit(self, resource: ResourceType, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        """A new object needs `create` (see _admit_create); RBAC writes must not escalate (see
        _confirm_no_escalation). OwnerReferencesPermissionEnforcement:
        changing ownerReferences needs `delete` on the object; a new `blockOwnerDeletion: true` needs
        `update` on the owner's `finalizers` subresource."""
        user = CURRENT_USER.get()
        if user is None or user.is_master:
            return
        if old is None:
            self._admit_create(user, resource, new)
        if resource.group == rbac.GROUP and (old is None or not escalation.only_gc_fields_differ(old, new)):
            self._confirm_no_escalation(user, resource, old, new)
        refs = new["metadata"].get("ownerReferences") or []
        old_refs = (old or {}).get("metadata", {}).get("ownerReferences") or []
        if refs == old_refs or (old is None and not refs):
            return
        meta = new["metadata"]
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        target = _on_object(user, "update" if old else "create", resource, namespace, name)
        if old is not None:
            check = _on_object(user, "delete", resource, namespace, name)
            allowed, reason = self.rbac.authorize(check)
            if not allowed:
                raise rbac.forbidden(
                    target, f"cannot set an ownerRef on a resource you can't delete: {reason}, <nil>"
                )
        blocking_before = {
            r.get("uid") for r in old_refs if isinstance(r, dict) and r.get("blockOwnerDeletion") is True
        }
        for ref in refs:
            if not isinstance(ref, dict) or ref.get("blockOwnerDeletion") is not True:
                continue
            if ref.get("uid") in blocking_before:
                continue
            api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
            group, _, version = api_version.rpartition("/")
            owners = [
                r
                for r in self.cluster.registry
                if r.group == group and r.version == version and r.kind == kind
            ]
            if not owners:
                raise rbac.forbidden(
                    target,
                    "cannot set blockOwnerDeletion in this case because cannot find RESTMapping for "
                    f"APIVersion {api_version} Kind {kind}: "
                    f'no matches for kind "{kind}" in version "{api_version}"',
                )
            for owner in owners:
                owner_namespace = namespace if owner.namespaced else ""
                owner_name = str(ref.get("name") or "")
                check = _on_object(user, "update", owner, owner_namespace, owner_name, "finalizers")
                allowed, reason = self.rbac.authorize(check)
                if not allowed:
                    raise rbac.forbidden(
                        target,
                        "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't "
                        f"set finalizers on: {reason}, <nil>",
                    )


def _on_object(
    user: UserInfo, verb: str, resource: ResourceType, namespace: str, name: str, subresource: str = ""
) -> Attributes:
    """What a request does to one object of `resource` (or to its `subresource`)."""
    return Attributes(
        user, verb, True, "", resource.group, resource.version, resource.plural, subresource, namespace, name
    )


def _with_token_subresource(serviceaccounts: ResourceType) -> ResourceType:
    from dataclasses import replace

    token = ("token", _AUTHN, "v1", "TokenRequest", ("create",))
    return replace(serviceaccounts, extra_subresources=(token,))


async def _json_body(request: web.Request) -> dict[str, Any]:
    """A JSON body, or the protobuf one typed kubectl clients send (`create token`, `auth can-i`)."""
    raw = await request.read()
    if not raw:
        return {}
    if request.headers.get("Content-Type", "").startswith(PROTOBUF):
        return decode_object(raw)
    try:
        body = check_depth(json.loads(raw))
    except ValueError as error:
        raise bad_request(f"the request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body

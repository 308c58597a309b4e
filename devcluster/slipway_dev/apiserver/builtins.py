"""The built-in resource types a fresh server serves, with the names and subresources of a real cluster."""

from __future__ import annotations

from slipway_dev.apiserver.resources import ResourceType, ScaleSpec

_DEPLOYMENT_SCALE = ScaleSpec(label_selector_path=".status.selector")

BUILTIN_TYPES: list[ResourceType] = [
    ResourceType("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), (), True),
    ResourceType("", "v1", "pods", "pod", "Pod", True, ("po",), ("all",), True),
    ResourceType("", "v1", "services", "service", "Service", True, ("svc",), ("all",), True),
    ResourceType("", "v1", "endpoints", "endpoints", "Endpoints", True, ("ep",)),
    ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    ResourceType("", "v1", "secrets", "secret", "Secret", True),
    ResourceType("", "v1", "events", "event", "Event", True, ("ev",)),
    ResourceType("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        True,
        ("deploy",),
        ("all",),
        True,
        _DEPLOYMENT_SCALE,
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        True,
        ("rs",),
        ("all",),
        True,
        _DEPLOYMENT_SCALE,
    ),
    ResourceType("batch", "v1", "jobs", "job", "Job", True, (), ("all",), True),
    ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", True),
    ResourceType("events.k8s.io", "v1", "events", "event", "Event", True, ("ev",)),
    ResourceType("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", True, ("ing",), (), True),
    # Stored so that charts and manifests apply; the dev cluster authorizes every request.
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        False,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        (),
        True,
    ),
]

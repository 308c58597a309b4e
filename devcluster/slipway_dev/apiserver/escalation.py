"""RBAC privilege-escalation prevention, as kube-apiserver's RBAC storage enforces it.

A user may only write a Role or ClusterRole whose rules they already hold (in the role's namespace;
cluster-wide for a ClusterRole), and a RoleBinding or ClusterRoleBinding only to a role whose rules
they hold: a rule is broken down into single (group, resource, verb, name) or (URL, verb) tuples,
each of which one of the user's rules must cover. The `escalate` verb on the role and the `bind` verb
on the referenced role waive the check; `system:masters` never meets it. The refusal names every
missing permission the way the real server does, simple ones compacted per resource.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from slipway_dev.apiserver.authn import UserInfo

Rule = dict[str, Any]

# What may gather any rule, so what setting an aggregationRule demands.
FULL_AUTHORITY: list[Rule] = [
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
]
AGGREGATION_REFUSED = "must have cluster-admin privileges to use the aggregationRule"


def _strings(rule: Rule, key: str) -> list[str]:
    values = rule.get(key)
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def _breakdown(rule: Rule) -> list[Rule]:
    """The rule as single-verb, single-resource, single-name (or single-URL) rules."""
    verbs = _strings(rule, "verbs")
    names = _strings(rule, "resourceNames")
    parts: list[Rule] = []
    for group in _strings(rule, "apiGroups"):
        for resource in _strings(rule, "resources"):
            for verb in verbs:
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                parts += [{**base, "resourceNames": [name]} for name in names] if names else [base]
    parts += [
        {"nonResourceURLs": [url], "verbs": [verb]}
        for url in _strings(rule, "nonResourceURLs")
        for verb in verbs
    ]
    return parts


def _holds(owned: list[str], wanted: list[str]) -> bool:
    return "*" in owned or set(wanted) <= set(owned)


def _url_covered(owned: list[str], url: str) -> bool:
    return any(o == url or (o.endswith("*") and url.startswith(o.rstrip("*"))) for o in owned)


def _covers(owner: Rule, part: Rule) -> bool:
    owner_names, part_names = _strings(owner, "resourceNames"), _strings(part, "resourceNames")
    names = not owner_names or (bool(part_names) and set(part_names) <= set(owner_names))
    return (
        _holds(_strings(owner, "verbs"), part["verbs"])
        and _holds(_strings(owner, "apiGroups"), _strings(part, "apiGroups"))
        and _holds(_strings(owner, "resources"), _strings(part, "resources"))
        and names
        and all(
            _url_covered(_strings(owner, "nonResourceURLs"), url) for url in _strings(part, "nonResourceURLs")
        )
    )


def missing_rules(owner_rules: Sequence[Rule], rules: Iterable[Rule]) -> list[Rule]:
    """The parts of `rules` that none of `owner_rules` covers."""
    return [
        part
        for rule in rules
        if isinstance(rule, dict)
        for part in _breakdown(rule)
        if not any(_covers(owner, part) for owner in owner_rules)
    ]


def _compacted(rules: list[Rule]) -> list[Rule]:
    """Rules of one group and one resource with nothing but verbs merged into one per resource."""
    merged: dict[tuple[str, str], Rule] = {}
    others: list[Rule] = []
    for rule in rules:
        if set(rule) == {"apiGroups", "resources", "verbs"}:
            key = (rule["apiGroups"][0], rule["resources"][0])
            if key in merged:
                merged[key]["verbs"] = merged[key]["verbs"] + rule["verbs"]
            else:
                merged[key] = dict(rule)
        else:
            others.append(rule)
    return others + list(merged.values())


def _go_quoted(values: Iterable[str]) -> str:
    """A list of strings as Go's %q prints it: ["a" "b"]."""
    return "[" + " ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def compact_string(rule: Rule) -> str:
    fields = (
        ("APIGroups", "apiGroups"),
        ("Resources", "resources"),
        ("NonResourceURLs", "nonResourceURLs"),
        ("ResourceNames", "resourceNames"),
        ("Verbs", "verbs"),
    )
    return "{" + ", ".join(f"{label}:{_go_quoted(rule[key])}" for label, key in fields if rule.get(key)) + "}"


def escalation_message(user: UserInfo, missing: list[Rule]) -> str:
    lines = sorted({compact_string(rule) for rule in _compacted(missing)})
    return (
        f"user {json.dumps(user.name, ensure_ascii=False)} (groups={_go_quoted(user.groups)}) is attempting "
        "to grant RBAC permissions not currently held:\n" + "\n".join(lines)
    )


def has_aggregation_rule(role: dict[str, Any]) -> bool:
    rule = role.get("aggregationRule")
    return isinstance(rule, dict) and bool(rule.get("clusterRoleSelectors"))


def only_gc_fields_differ(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a write changes nothing but what garbage collection needs (owner references, finalizers):
    such writes are never judged for escalation."""

    def rest(obj: dict[str, Any]) -> dict[str, Any]:
        meta = {
            k: v
            for k, v in obj.get("metadata", {}).items()
            if k not in ("ownerReferences", "finalizers", "managedFields", "resourceVersion", "generation")
        }
        return {**obj, "metadata": meta}

    return rest(old) == rest(new)

"""What the watch of a Release's Services and PrometheusRule may spare a pass, and how an edit that takes
away the operator's labels is still found: the owner named by ownerReference, and the labels compared."""

from __future__ import annotations

from slipway.kube.watched import WatchedObjects
from slipway.manifests import (
    LABEL_BUCKET,
    LABEL_MANAGED_BY,
    LABEL_RELEASE,
    LABEL_SERVICE_ROLE,
    Obj,
    ReleaseRef,
    only_behind,
    owning_release,
    routing_differs,
    service,
    service_differs,
    stamped,
)

WEB = ReleaseRef("shop", "web", "uid-web")
PATH = "/api/v1/namespaces/shop/services/web"


def web_service() -> Obj:
    return service(WEB, "stable", {"slipway.dev/pod-of": "web"}, 80, 8080)


def as_stored(obj: Obj, resource_version: str) -> Obj:
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": resource_version}}


def without_labels(obj: Obj) -> Obj:
    ours = (LABEL_MANAGED_BY, LABEL_RELEASE)
    labels = {k: v for k, v in obj["metadata"]["labels"].items() if k not in ours}
    return {**obj, "metadata": {**obj["metadata"], "labels": labels}}


def test_an_object_shown_as_last_left_is_trusted_until_another_version_is_shown() -> None:
    watched, wanted = WatchedObjects(), web_service()
    watched.shown(as_stored(wanted, "5"), PATH)
    watched.matched(PATH, as_stored(wanted, "5"), wanted)
    assert watched.unchanged(PATH, wanted, WEB)
    watched.shown(as_stored(wanted, "6"), PATH)
    assert not watched.unchanged(PATH, wanted, WEB)


def test_an_object_no_release_owns_any_more_is_still_marked_changed_if_a_pass_met_it() -> None:
    watched, wanted = WatchedObjects(), web_service()
    watched.shown(as_stored(wanted, "5"), PATH)
    watched.matched(PATH, as_stored(wanted, "5"), wanted)
    watched.shown(as_stored(without_labels(wanted), "6"), PATH, owned=False)
    assert not watched.unchanged(PATH, wanted, WEB)


def test_what_the_watch_shows_of_someone_elses_objects_is_not_kept() -> None:
    watched, wanted = WatchedObjects(), web_service()
    watched.shown(as_stored(wanted, "7"), PATH, owned=False)
    watched.matched(PATH, as_stored(wanted, "7"), wanted)
    assert not watched.unchanged(PATH, wanted, WEB)  # nothing shown was kept: read until the watch shows it


def test_after_a_start_what_the_watch_showed_is_compared_instead_of_read() -> None:
    """No pass of this process has met the object yet (a restart): the first compares with what the
    watch showed; matching, it counts as left there (its next event at that version is an echo)."""
    watched, wanted = WatchedObjects(), web_service()
    watched.shown(as_stored(wanted, "5"), PATH)
    assert watched.unchanged(PATH, wanted, WEB)
    assert watched.as_left(PATH, "5") and not watched.as_left(PATH, "6")
    assert watched.unchanged(PATH, wanted, WEB)  # and stays trusted, as one a pass wrote


def test_after_a_start_a_prometheus_rule_is_compared_with_what_slipway_applied() -> None:
    """A PrometheusRule's comparison reads what slipway last applied (its managedFields entry): kept
    from the watch's object with the rest, another manager's entry left out."""
    rule: Obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {**web_service()["metadata"], "namespace": "shop"},
        "spec": {"groups": [{"name": "web", "rules": []}]},
    }
    applied = stamped(rule)
    entry = {"manager": "slipway", "operation": "Apply", "fieldsV1": {"f:spec": {}}}
    other = {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:metadata": {}}}
    shown = as_stored(applied, "5")
    shown["metadata"]["managedFields"] = [entry, other]
    path = "/apis/monitoring.coreos.com/v1/namespaces/shop/prometheusrules/web"
    watched = WatchedObjects()
    watched.shown(shown, path)
    assert watched.unchanged(path, rule, WEB)
    dropped = stamped({**rule, "metadata": {**rule["metadata"], "annotations": {"team": "a"}}})
    watched = WatchedObjects()
    watched.shown(
        as_stored(dropped, "6")
        | {
            "metadata": {
                **dropped["metadata"],
                "resourceVersion": "6",
                "managedFields": [
                    {
                        "manager": "slipway",
                        "operation": "Apply",
                        "fieldsV1": {"f:metadata": {"f:annotations": {"f:team": {}}}},
                    }
                ],
            }
        },
        path,
    )
    assert not watched.unchanged(path, rule, WEB)  # an annotation slipway applied and no longer wants


def test_after_a_start_a_difference_or_anyone_elses_object_is_read() -> None:
    wanted = web_service()
    moved = {**wanted, "spec": {**wanted["spec"], "selector": {"slipway.dev/revision": "zzz"}}}
    watched = WatchedObjects()
    watched.shown(as_stored(moved, "5"), PATH)
    assert not watched.unchanged(PATH, wanted, WEB)  # someone changed it meanwhile: read and repaired
    watched.shown(as_stored(wanted, "6"), PATH)
    assert not watched.unchanged(PATH, wanted, ReleaseRef("shop", "web", "uid-of-another-web"))
    watched.matched(PATH, as_stored(wanted, "6"), wanted)
    watched.shown(as_stored(wanted, "7"), PATH)  # a version no pass left: not kept once a pass met it
    assert not watched.unchanged(PATH, wanted, WEB)


def test_the_owner_is_found_by_ownerreference_or_by_labels() -> None:
    ours = web_service()
    assert owning_release(ours) == "web"
    assert owning_release(without_labels(ours)) == "web"
    assert owning_release({**ours, "metadata": {**ours["metadata"], "ownerReferences": []}}) == "web"
    assert owning_release({"metadata": {"labels": {LABEL_RELEASE: "web"}}}) is None  # not managed by us
    assert owning_release({"metadata": {}}) is None


def test_the_operators_labels_removed_are_a_difference_to_repair() -> None:
    wanted = web_service()
    assert not service_differs(wanted, wanted)
    assert service_differs(wanted, without_labels(wanted))
    # A Service an operator from before the role label made gets it at the next pass.
    labels = {k: v for k, v in wanted["metadata"]["labels"].items() if k != LABEL_SERVICE_ROLE}
    assert service_differs(wanted, {**wanted, "metadata": {**wanted["metadata"], "labels": labels}})
    rule: Obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": wanted["metadata"],
        "spec": {},
    }
    applied = stamped(rule)  # as slipway applies it: with the digest of its spec
    assert not routing_differs(rule, applied)
    assert routing_differs(rule, without_labels(applied))
    # A route an older operator applied before the bucket label: behind, not changed by anyone.
    route: Obj = {**rule, "kind": "HTTPRoute", "spec": {"hostnames": ["web.example.com"]}}
    unbucketed = {k: v for k, v in wanted["metadata"]["labels"].items() if k != LABEL_BUCKET}
    older = stamped({**route, "metadata": {**route["metadata"], "labels": unbucketed}})
    assert routing_differs(route, older) and only_behind(route, older)
    edited = {**older, "spec": {"hostnames": ["elsewhere.example.com"]}}
    assert routing_differs(route, edited) and not only_behind(route, edited)  # its spec changed too: drift


def test_the_release_a_pass_last_met_an_object_in_is_remembered() -> None:
    watched, wanted = WatchedObjects(), web_service()
    assert watched.owner(PATH) is None
    watched.matched(PATH, as_stored(wanted, "5"), wanted)
    assert watched.owner(PATH) == "web"  # so an event of it, both owner marks removed, still wakes web
    watched.gone(PATH)
    assert watched.owner(PATH) is None

"""What a pass over a Release in flight decides on instead of reading (controller/watch_view.py): never
less than a read would show of the operator's own writes, never an answer older than the watch showed."""

from __future__ import annotations

from typing import Any

from slipway.controller.first_look import FirstLook
from slipway.controller.operator import _gained
from slipway.controller.queue import ReleaseKey
from slipway.controller.watch_view import WatchView, comparable_version
from slipway.manifests import LABEL_RELEASE, Obj

WEB = ReleaseKey("shop", "web")


def release(version: int, phase: str = "Progressing") -> Obj:
    return {
        "kind": "Release",
        "metadata": {"namespace": "shop", "name": "web", "resourceVersion": str(version)},
        "status": {"phase": phase},
    }


def deployment(name: str, version: int, replicas: int = 1, owner: str = "web") -> Obj:
    labels = {LABEL_RELEASE: owner} if owner else {}
    return {
        "kind": "Deployment",
        "metadata": {"namespace": "shop", "name": name, "resourceVersion": str(version), "labels": labels},
        "spec": {"replicas": replicas},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def read_view(view: WatchView, body: Obj, *deployments: Obj) -> None:
    view.reading(WEB)
    view.read(WEB, body, deployments)


def shown(view: WatchView, obj: Obj, deleted: bool = False) -> None:
    labels = obj["metadata"].get("labels") or {}
    view.shown_deployment("shop", obj["metadata"]["name"], labels.get(LABEL_RELEASE), obj, deleted)


def taken(view: WatchView) -> tuple[Any, dict[str, int]]:
    found = view.take(WEB)
    assert found is not None
    phase = found.body["status"]["phase"]
    return phase, {d["metadata"]["name"]: d["spec"]["replicas"] for d in found.deployments}


def test_nothing_to_decide_on_until_a_pass_has_read_the_release() -> None:
    view = WatchView()
    view.shown_release(WEB, release(5))  # the watch alone is not enough: the Deployments are unknown
    assert view.take(WEB) is None
    view.reading(WEB)
    assert view.take(WEB) is None  # the read is in flight
    view.read(WEB, release(5), [deployment("web-a", 4)])
    assert taken(view) == ("Progressing", {"web-a": 1})


def test_an_own_write_is_decided_on_though_the_watch_still_shows_what_came_before() -> None:
    view = WatchView()
    read_view(view, release(5), deployment("web-a", 4))
    view.wrote(release(9, "Paused"))  # the status written
    view.wrote(deployment("web-a", 10, replicas=3))  # scaled
    view.shown_release(WEB, release(5))  # late events of the older objects change nothing
    shown(view, deployment("web-a", 4))
    assert taken(view) == ("Paused", {"web-a": 3})
    view.shown_release(WEB, release(12, "Healthy"))  # someone else's later change is taken
    shown(view, deployment("web-a", 11, replicas=2))
    assert taken(view) == ("Healthy", {"web-a": 2})


def test_events_shown_during_the_read_are_not_lost_to_its_older_answers() -> None:
    view = WatchView()
    view.reading(WEB)
    shown(view, deployment("web-a", 8, replicas=2))  # ready while the LIST was answered
    shown(view, deployment("web-b", 9))  # created after the LIST
    shown(view, deployment("web-c", 7), deleted=True)  # deleted after the LIST
    view.shown_release(WEB, release(6, "Paused"))
    view.read(WEB, release(5), [deployment("web-a", 4), deployment("web-c", 3)])
    assert taken(view) == ("Paused", {"web-a": 2, "web-b": 1})


def test_a_deployment_the_operator_deleted_is_hidden_until_shown_gone_or_made_again() -> None:
    view = WatchView()
    read_view(view, release(5), deployment("web-a", 4), deployment("web-b", 3))
    view.deleted(deployment("web-b", 3))
    shown(view, deployment("web-b", 6, replicas=0))  # an event from before the deletion
    assert taken(view)[1] == {"web-a": 1}
    shown(view, deployment("web-b", 7, replicas=0), deleted=True)
    assert taken(view)[1] == {"web-a": 1}
    view.wrote(deployment("web-b", 8, replicas=2))  # made again by the operator
    assert taken(view)[1] == {"web-a": 1, "web-b": 2}
    shown(view, deployment("web-b", 6, replicas=0))  # older than what it wrote: ignored
    assert taken(view)[1] == {"web-a": 1, "web-b": 2}


def test_a_deployment_relabelled_or_unlabelled_leaves_the_view() -> None:
    view = WatchView()
    read_view(view, release(5), deployment("web-a", 4), deployment("web-b", 3))
    shown(view, deployment("web-a", 6, owner="api"))  # now labelled as another Release's
    shown(view, deployment("web-b", 7, owner=""))  # label removed: the LIST would not find it
    assert taken(view)[1] == {}


def test_a_view_is_read_again_after_its_refresh_and_forgotten_at_the_next_read() -> None:
    clock = Clock()
    view = WatchView(refresh_seconds=30, clock=clock)
    read_view(view, release(5), deployment("web-a", 4))
    clock.now += 29
    assert view.take(WEB) is not None
    clock.now += 2
    assert view.take(WEB) is None  # a deletion missed across a watch re-list lasts no longer
    read_view(view, release(5), deployment("web-a", 4))
    clock.now += 31
    other = ReleaseKey("shop", "api")
    view.reading(other)  # forgets what expired: at rest, nothing is kept
    assert len(view) == 1


def test_a_deleted_release_or_a_dropped_view_is_read_again() -> None:
    view = WatchView()
    read_view(view, release(5))
    view.shown_release(WEB, None)
    assert view.take(WEB) is None and len(view) == 0
    view.read(WEB, release(5), [])  # a read that ends after the deletion keeps nothing
    assert view.take(WEB) is None
    read_view(view, release(5))
    view.drop(WEB)  # a write conflicted
    assert view.take(WEB) is None


def test_versions_that_are_not_numbers_turn_the_view_off() -> None:
    assert comparable_version({"metadata": {"resourceVersion": "123"}}) == 123
    for text in ("0", "0123", "12a", "", "\uff11\uff12"):
        assert comparable_version({"metadata": {"resourceVersion": text}}) is None
    view = WatchView()
    body = release(5)
    body["metadata"]["resourceVersion"] = "opaque-5"
    read_view(view, body)
    assert view.take(WEB) is None
    read_view(view, release(5))  # off for good: every pass reads
    assert view.take(WEB) is None


def test_a_late_deletion_event_of_an_older_object_does_not_hide_the_one_made_again() -> None:
    """A rollback to a revision whose Deployment was deleted makes it again under the same name."""
    view = WatchView()
    read_view(view, release(5), deployment("web-a", 4))
    view.wrote(deployment("web-b", 20, replicas=2))  # made again (the old one was deleted at 15)
    shown(view, deployment("web-b", 15), deleted=True)  # the old one's deletion, shown late
    assert taken(view)[1] == {"web-a": 1, "web-b": 2}


def test_a_label_removed_while_the_release_is_read_does_not_come_back_with_the_older_answer() -> None:
    view = WatchView()
    view.reading(WEB)
    shown(view, deployment("web-a", 9, owner=""))  # unlabelled after the LIST was answered
    shown(view, deployment("api-a", 8, owner="api"))  # another Release's: nothing kept of it
    view.read(WEB, release(5), [deployment("web-a", 4), deployment("web-b", 3)])
    assert taken(view)[1] == {"web-b": 1}
    shown(view, deployment("web-a", 10, owner="web"))  # labelled as the Release's again
    assert taken(view)[1] == {"web-a": 1, "web-b": 1}


def test_an_older_answer_does_not_take_a_deployment_from_the_release_shown_holding_it() -> None:
    api = ReleaseKey("shop", "api")
    api_release = release(6)
    api_release["metadata"]["name"] = "api"
    view = WatchView()
    read_view(view, release(5), deployment("web-a", 4))
    shown(view, deployment("web-a", 9, replicas=2))  # still the web Release's, newer
    view.reading(api)
    # Labelled as api's for a while, in an older answer.
    view.read(api, api_release, [deployment("web-a", 7, owner="api")])
    assert taken(view)[1] == {"web-a": 2}
    found = view.take(api)
    assert found is not None and found.deployments == []


def test_a_release_this_replica_gains_is_read_again_not_decided_on_as_kept() -> None:
    """Another replica wrote it last: what this one kept may be older than that (sharding)."""
    view = WatchView()
    read_view(view, release(5), deployment("web-a", 4))
    _gained(FirstLook(lambda key: True, all_along=True), view, WEB)
    assert view.take(WEB) is None

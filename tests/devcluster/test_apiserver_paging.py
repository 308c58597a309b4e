"""A paged LIST's snapshots: what a continue token resumes, and when it expires as after a compaction."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from apiserver_support import Http, wait_for

from slipway_dev.apiserver import ApiServer, paging, server
from slipway_dev.apiserver.errors import ApiError
from slipway_dev.apiserver.paging import (
    COMPACTION_SECONDS,
    INCONSISTENT,
    KEPT_LISTS,
    Collection,
    ListSnapshots,
)
from slipway_dev.apiserver.storage import Stored

COLLECTION = Collection("configmaps", "default", "", "")


def config_maps(*names: str) -> list[Stored]:
    return [Stored.of({"metadata": {"name": name, "namespace": "default"}}) for name in names]


def listed(page_items: list[Stored]) -> list[str]:
    return [stored.name for stored in page_items]


def nothing_now() -> tuple[list[Stored], int]:
    """What the collection holds now, for tokens that never ask (any but an expired list's offer)."""
    raise AssertionError("a snapshot's token read the current collection")


def test_pages_follow_one_another_to_the_end_at_the_first_pages_version() -> None:
    lists = ListSnapshots()
    page = lists.first(COLLECTION, config_maps("a", "b", "c", "d", "e"), 7, 2)
    seen = [listed(page.items)]
    while page.continue_token:
        page = lists.next(COLLECTION, page.continue_token, 2, nothing_now)
        assert page.rv == 7
        seen.append(listed(page.items))
    assert seen == [["a", "b"], ["c", "d"], ["e"]]


def test_a_list_that_fits_one_page_keeps_nothing() -> None:
    lists = ListSnapshots()
    for limit in (None, 3, 10):
        page = lists.first(COLLECTION, config_maps("a", "b", "c"), 7, limit)
        assert (listed(page.items), page.continue_token) == (["a", "b", "c"], None)
    assert len(lists) == 0


def test_a_token_may_be_sent_again_and_resumes_after_its_page() -> None:
    lists = ListSnapshots()
    token = lists.first(COLLECTION, config_maps("a", "b", "c"), 7, 1).continue_token
    assert token is not None
    for _ in range(2):
        assert listed(lists.next(COLLECTION, token, None, nothing_now).items) == ["b", "c"]


def expired(lists: ListSnapshots, token: str) -> bool:
    with pytest.raises(ApiError) as error:
        lists.next(COLLECTION, token, 1, nothing_now)
    answer = error.value
    return (answer.code, answer.reason, answer.message) == (410, "Expired", INCONSISTENT) and bool(
        answer.list_continue
    )


def test_an_expired_list_offers_to_go_on_from_the_same_place_at_the_current_version() -> None:
    """As a real server does after a compaction: the 410's own token resumes after the last object the
    client had, over what the collection holds now (created, changed or deleted since may show)."""
    lists = ListSnapshots()
    token = lists.first(COLLECTION, config_maps("a", "b", "c", "d"), 7, 1).continue_token
    assert token is not None
    for rv in range(KEPT_LISTS):  # newer lists push it out
        lists.first(COLLECTION, config_maps("a", "b"), rv, 1)
    with pytest.raises(ApiError) as error:
        lists.next(COLLECTION, token, 2, nothing_now)
    offered = error.value.list_continue
    assert offered is not None
    now = config_maps("a", "a2", "b2", "c", "d", "e")  # "a2" sorts after "a": shown; "b" was deleted

    def current() -> tuple[list[Stored], int]:
        return now, 9

    page = lists.next(COLLECTION, offered, 2, current)
    seen = [listed(page.items)]
    while page.continue_token:
        assert page.rv == 9
        page = lists.next(COLLECTION, page.continue_token, 2, nothing_now)
        seen.append(listed(page.items))
    assert (seen, page.rv) == ([["a2", "b2"], ["c", "d"], ["e"]], 9)
    # Only for the collection it was offered for (its selectors are the request's own); nor is an
    # expired token sent for another collection offered a way on over it.
    for other in (Collection("secrets", "default", "", ""), Collection("configmaps", "other", "", "")):
        for sent in (offered, token):
            with pytest.raises(ApiError) as refused:
                lists.next(other, sent, 2, current)
            assert (refused.value.code, refused.value.reason) == (400, "BadRequest")


def test_a_list_of_every_namespace_continues_over_every_namespace() -> None:
    every = Collection("configmaps", None, "", "")
    items = [
        Stored.of({"metadata": {"name": name, "namespace": ns}}) for ns, name in (("a", "x"), ("b", "x"))
    ]
    lists = ListSnapshots()
    token = lists.first(every, items, 7, 1).continue_token
    assert token is not None
    assert [s.namespace for s in lists.next(every, token, 1, nothing_now).items] == ["b"]
    with pytest.raises(ApiError) as refused:
        lists.next(COLLECTION, token, 1, nothing_now)
    assert refused.value.code == 400


def test_a_token_expires_with_the_compaction_interval() -> None:
    now = [0.0]
    lists = ListSnapshots(clock=lambda: now[0])
    token = lists.first(COLLECTION, config_maps("a", "b", "c"), 7, 1).continue_token
    assert token is not None
    now[0] = COMPACTION_SECONDS - 1
    assert listed(lists.next(COLLECTION, token, 1, nothing_now).items) == ["b"]
    now[0] = COMPACTION_SECONDS + 1
    assert expired(lists, token)
    assert len(lists) == 0


def test_expired_snapshots_are_dropped_without_another_list() -> None:
    """The server sweeps on a timer: a snapshot no list comes after must not hold old versions for good."""
    now = [0.0]
    lists = ListSnapshots(clock=lambda: now[0])
    lists.first(COLLECTION, config_maps("a", "b"), 7, 1)
    lists.expire()
    assert len(lists) == 1
    now[0] = COMPACTION_SECONDS + 1
    lists.expire()
    assert len(lists) == 0


def test_the_oldest_unfinished_list_is_dropped_first() -> None:
    lists = ListSnapshots()
    tokens = [
        lists.first(COLLECTION, config_maps("a", "b"), rv, 1).continue_token for rv in range(KEPT_LISTS + 1)
    ]
    assert all(tokens)
    assert len(lists) == KEPT_LISTS
    assert expired(lists, str(tokens[0]))
    assert listed(lists.next(COLLECTION, str(tokens[1]), 1, nothing_now).items) == ["b"]


def test_a_token_that_is_not_one_is_a_bad_request() -> None:
    lists = ListSnapshots()
    # Not base64, not JSON; not five fields, an id that is not a positive integer (or -1), names that
    # are not strings; nested too deep to decode.
    malformed: list[object] = [
        [1, "x", "", ""],
        [True, "", "", "configmaps", "default"],
        [0, "", "", "configmaps", "default"],
        [1, None, None, "configmaps", "default"],
        [1, "", "", "configmaps", ["default"]],
        {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5},
    ]
    encoded = [base64.urlsafe_b64encode(json.dumps(fields).encode()).decode() for fields in malformed]
    deep = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode()
    for token in ("not base64!", "bm90IGpzb24=", *encoded, deep):
        with pytest.raises(ApiError) as error:
            lists.next(COLLECTION, token, 1, nothing_now)
        assert (error.value.code, error.value.reason) == (400, "BadRequest")


def test_the_server_sweeps_expired_snapshots_with_no_request_coming(
    monkeypatch: pytest.MonkeyPatch, make_apiserver: Callable[..., ApiServer]
) -> None:
    """A snapshot holds the object versions it lists: the server's timer lets them go after the
    compaction interval even when no list or continuation arrives to notice."""
    monkeypatch.setattr(server, "SWEEP_SECONDS", 0.05)
    monkeypatch.setattr(paging, "COMPACTION_SECONDS", 3600.0)
    apiserver = make_apiserver()
    http = Http(apiserver.credentials())
    for name in ("a", "b"):
        http("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": name}})
    assert "continue" in http("GET", "/api/v1/namespaces/default/configmaps?limit=1").body["metadata"]
    lists = apiserver._lists  # read from the test's thread: a length only
    assert len(lists) == 1
    monkeypatch.setattr(paging, "COMPACTION_SECONDS", 0.0)  # from now on, every snapshot is too old
    wait_for(lambda: len(lists) == 0, timeout=10)

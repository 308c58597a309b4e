"""Fault injection: failed and conflicting writes, dropped watches, short history (410 Gone), latency."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from apiserver_support import ROOT_CA, Http, names

from slipway_dev.apiserver import ApiServer, FaultConfig

CMS = "/api/v1/namespaces/default/configmaps"


def _writes(http: Http, count: int) -> list[int]:
    return [http("POST", CMS, {"metadata": {"name": f"c{i}"}}).status for i in range(count)]


def test_write_errors_are_500_and_store_nothing(make_apiserver: Callable[..., ApiServer]) -> None:
    http = Http(make_apiserver(faults=FaultConfig(write_error_rate=1.0)).credentials())
    failed = http("POST", CMS, {"metadata": {"name": "c"}})
    assert (failed.status, failed.body["reason"]) == (500, "InternalError")
    assert names(http("GET", CMS).body["items"]) == [ROOT_CA]
    assert http("DELETE", "/api/v1/namespaces/default").status == 500
    assert http("GET", "/api/v1/namespaces/default").body["status"]["phase"] == "Active"


def test_faults_limited_to_some_resources_leave_the_others_alone(
    make_apiserver: Callable[..., ApiServer],
) -> None:
    http = Http(
        make_apiserver(faults=FaultConfig(write_conflict_rate=1.0, resources=("events",))).credentials()
    )
    assert http("POST", CMS, {"metadata": {"name": "c"}}).status == 201
    event = {"metadata": {"name": "e"}, "involvedObject": {"kind": "ConfigMap", "name": "c"}}
    assert http("POST", "/api/v1/namespaces/default/events", event).status == 409


def test_write_conflicts_are_409(make_apiserver: Callable[..., ApiServer]) -> None:
    http = Http(make_apiserver(faults=FaultConfig(write_conflict_rate=1.0)).credentials())
    failed = http("POST", CMS, {"metadata": {"name": "c"}})
    assert (failed.status, failed.body["reason"]) == (409, "Conflict")
    assert names(http("GET", CMS).body["items"]) == [ROOT_CA]


def test_fault_rates_are_shares_of_writes_reproducible_with_a_seed(
    make_apiserver: Callable[..., ApiServer],
) -> None:
    faults = FaultConfig(write_error_rate=0.2, write_conflict_rate=0.3, seed=7)
    first = _writes(Http(make_apiserver(faults=faults).credentials()), 200)
    second = _writes(Http(make_apiserver(faults=faults).credentials()), 200)
    assert first == second
    assert 20 <= first.count(500) <= 60
    assert 40 <= first.count(409) <= 80
    assert first.count(201) + first.count(500) + first.count(409) == 200


def test_watches_are_dropped_after_the_configured_time(make_apiserver: Callable[..., ApiServer]) -> None:
    server = make_apiserver(faults=FaultConfig(watch_drop_seconds=0.5))
    rv = Http(server.credentials())("GET", CMS).body["metadata"]["resourceVersion"]
    started = time.monotonic()
    with server.credentials().urlopen(f"{CMS}?watch=true&resourceVersion={rv}", timeout=30) as stream:
        assert stream.read() == b""
    assert 0.4 < time.monotonic() - started < 10


def test_a_short_history_answers_old_resource_versions_with_410(
    make_apiserver: Callable[..., ApiServer],
) -> None:
    server = make_apiserver(faults=FaultConfig(watch_history_size=2))
    http = Http(server.credentials())
    start = http("GET", CMS).body["metadata"]["resourceVersion"]
    _writes(http, 3)
    with server.credentials().urlopen(f"{CMS}?watch=true&resourceVersion={start}", timeout=30) as stream:
        lines = stream.read().splitlines()
    assert len(lines) == 1
    assert b'"type":"ERROR"' in lines[0]
    assert b'"code":410' in lines[0]
    recent = http("GET", CMS).body["metadata"]["resourceVersion"]
    with server.credentials().urlopen(
        f"{CMS}?watch=true&resourceVersion={int(recent) - 1}&timeoutSeconds=1", timeout=30
    ) as stream:
        assert b'"name":"c2"' in stream.readline()


def test_latency_is_added_to_every_request(make_apiserver: Callable[..., ApiServer]) -> None:
    http = Http(make_apiserver(faults=FaultConfig(latency_ms=150)).credentials())
    started = time.monotonic()
    assert http("GET", "/api/v1/namespaces").status == 200
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize(
    "options",
    [
        {"write_error_rate": 1.5},
        {"write_error_rate": 0.6, "write_conflict_rate": 0.6},
        {"watch_drop_seconds": 0},
        {"watch_history_size": 0},
        {"latency_ms": -1},
    ],
)
def test_nonsense_fault_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FaultConfig(**options)

"""The index that wakes downstream Releases when their upstream changes, and reading the upstream's
reference from a raw spec (as a watch event delivers it)."""

from __future__ import annotations

from typing import Any

from settled_release import bytes_kept_per_release

from slipway.controller.queue import ReleaseKey
from slipway.controller.upstreams import UpstreamIndex, gate_view, upstream_key
from slipway.runtime.metrics import OperatorMetrics

PROD, STAGING, DEV = ReleaseKey("prod", "web"), ReleaseKey("staging", "web"), ReleaseKey("dev", "web")


def test_the_name_defaults_to_the_releases_own() -> None:
    assert upstream_key(PROD, {"promotion": {"from": {"namespace": "staging"}}}) == STAGING
    named = {"promotion": {"from": {"namespace": "staging", "name": "api"}}}
    assert upstream_key(PROD, named) == ReleaseKey("staging", "api")
    assert upstream_key(PROD, {"version": "1"}) is None
    assert upstream_key(PROD, {"promotion": {"from": {}}}) is None


def test_the_index_follows_each_release_to_its_current_upstream() -> None:
    index = UpstreamIndex()
    index.record(PROD, STAGING)
    index.record(STAGING, DEV)
    index.record(ReleaseKey("prod-eu", "web"), STAGING)
    assert index.downstream_of(STAGING) == {PROD, ReleaseKey("prod-eu", "web")}
    assert index.downstream_of(DEV) == {STAGING}
    index.record(PROD, DEV)  # the spec now names another upstream
    assert index.downstream_of(STAGING) == {ReleaseKey("prod-eu", "web")}
    assert index.downstream_of(DEV) == {STAGING, PROD}
    index.forget(PROD)
    index.record(ReleaseKey("prod-eu", "web"), None)
    assert index.downstream_of(DEV) == {STAGING}
    assert index.downstream_of(STAGING) == frozenset()


def test_the_gauge_counts_releases_waiting_per_reason() -> None:
    metrics = OperatorMetrics()
    metrics.set_waiting("prod", "web", "Soaking")
    metrics.set_waiting("prod", "api", "Soaking")
    metrics.set_waiting("eu", "web", "WaitingForApproval")
    metrics.set_waiting("prod", "api", None)
    metrics.forget_release("eu", "web")
    text = metrics.exposition().decode()
    assert 'slipway_releases_waiting{reason="Soaking"} 1.0' in text
    assert 'slipway_releases_waiting{reason="WaitingForApproval"} 0.0' in text


def test_only_a_change_a_gate_reads_wakes_the_downstream() -> None:
    index = UpstreamIndex()
    index.seen(PROD, {"spec": {"promotion": {"from": {"namespace": "staging"}}}})
    body: dict[str, Any] = {"spec": {}, "status": {"phase": "Progressing", "stable": {"version": "1"}}}
    assert index.seen(STAGING, body) == {PROD}  # first sight
    body["status"]["message"] = "step 1/2: setWeight 50"
    assert index.seen(STAGING, body) == frozenset()  # a rollout's progress: nothing a gate reads
    body["status"] |= {"phase": "Healthy", "healthyVersions": [{"version": "2", "since": "T"}]}
    assert index.seen(STAGING, body) == {PROD}
    # Kept packed, read back whole: what a gate reads, for a Release the watch shows.
    assert index.shows(STAGING) and index.view_of(STAGING) == gate_view(body)
    assert index.view_of(STAGING) == {
        "spec": {},
        "status": {"healthyVersions": [{"version": "2", "since": "T"}], "stable": {"version": "1"}},
    }
    assert index.forget(STAGING) == {PROD}
    assert not index.shows(STAGING) and index.view_of(STAGING) is None


def test_the_view_kept_of_each_release_is_a_few_dozen_bytes() -> None:
    """A view is kept of every Release on every replica: a settled one's gate view is ~280 bytes of
    JSON, ~30 packed against the first kept (with its entry ~160 bytes kept per Release; ~410 as
    JSON)."""
    index = UpstreamIndex()
    keys, bodies, kept = bytes_kept_per_release(index.seen)
    assert index.view_of(keys[-1]) == gate_view(bodies[-1])
    assert kept < 200, f"{kept:.0f} bytes kept per Release"

"""The Releases a promotion gate waits for: reading them, and knowing whom a change to one wakes.

`observe_upstream` reads the Release `spec.promotion.from` names (in another namespace, as a rule) and
follows the chain further up far enough to see a cycle; what cannot be read is a reason to wait, never
a reason to proceed. In namespaced mode the operator neither watches nor may read other namespaces, so
an upstream outside them is refused (an obstacle) rather than waited for forever.

`UpstreamIndex` maps each upstream to the Releases that name it, from the watch events the operator
receives anyway: a change upstream wakes exactly those, without listing every Release, and only when
something a gate reads changed (not at every status write of a rollout upstream: with 100 Releases
waiting, each of those would cost 100 passes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Final

from pydantic import ValidationError

from slipway.api.models import ReleaseSpec
from slipway.api.status import ReleaseStatus
from slipway.controller.queue import ReleaseKey
from slipway.core.observations import Upstream
from slipway.core.obstacles import Obstacle
from slipway.core.promotion import INVALID_PROMOTION
from slipway.kube.client import ApiError, KubeApi, releases_path
from slipway.kube.packed import Packer
from slipway.runtime.config import OperatorConfig

MAX_CHAIN: Final = 8
"""How far up the chain is followed to find a cycle: longer chains than environments exist."""


def upstream_key(own: ReleaseKey, spec: Any) -> ReleaseKey | None:
    """The Release a raw spec's promotion.from names (the name defaults to the Release's own)."""
    promotion = spec.get("promotion") if isinstance(spec, Mapping) else None
    source = promotion.get("from") if isinstance(promotion, Mapping) else None
    if not isinstance(source, Mapping) or not isinstance(source.get("namespace"), str):
        return None
    name = source.get("name")
    return ReleaseKey(source["namespace"], name if isinstance(name, str) else own.name)


def _ref(key: ReleaseKey) -> str:
    return f"{key.namespace}/{key.name}"


Known = Callable[[ReleaseKey], dict[str, Any] | None]
"""What the operator's watch last showed of a Release (`UpstreamIndex.view_of`), None when it has not."""


def observe_upstream(
    api: KubeApi, own: ReleaseKey, spec: ReleaseSpec, config: OperatorConfig, known: Known
) -> tuple[Upstream | None, tuple[Obstacle, ...]]:
    """The upstream as the gate reads it, or the obstacle that keeps the operator from reading it.

    From what the watch showed when it can (100 Releases waiting on one upstream then cost no request
    each), else by a GET (a Release the watch has not delivered yet, or a namespace it does not watch)."""
    if spec.promotion is None:
        return None, ()
    source = spec.promotion.from_
    key = ReleaseKey(source.namespace, source.name or own.name)
    if not config.cluster_wide and key.namespace not in config.namespaces:
        watched = ", ".join(config.namespaces)
        return None, (
            Obstacle(
                INVALID_PROMOTION,
                "spec.promotion.from.namespace",
                f"the operator watches only {watched}: it cannot read or watch Releases in "
                f"{key.namespace} (run it cluster-wide, or watch {key.namespace} too)",
            ),
        )
    try:
        body = _read(api, key, known)
    except ApiError as error:
        return Upstream(_ref(own), _ref(key), unreadable=f"{error.status} {error.reason}"), ()
    if body is None:
        return Upstream(_ref(own), _ref(key), unreadable=f'Release "{key.name}" not found'), ()
    try:
        status = ReleaseStatus.from_api(body.get("status"))
    except ValidationError:
        return Upstream(_ref(own), _ref(key), unreadable="its status cannot be read"), ()
    return Upstream(_ref(own), _ref(key), status=status, chain=_chain(api, key, body, own, known)), ()


def _read(api: KubeApi, key: ReleaseKey, known: Known) -> dict[str, Any] | None:
    return known(key) or api.get(releases_path(key.namespace, key.name))


def _chain(
    api: KubeApi, key: ReleaseKey, body: dict[str, Any], own: ReleaseKey, known: Known
) -> tuple[str, ...]:
    """The Releases above the upstream, nearest first, up to this Release (a cycle) or MAX_CHAIN."""
    chain: list[str] = []
    seen = {key}
    for _ in range(MAX_CHAIN):
        above = upstream_key(key, body.get("spec"))
        if above is None:
            break
        chain.append(_ref(above))
        if above == own or above in seen:
            break
        seen.add(above)
        try:
            found = _read(api, above, known)
        except ApiError:
            break
        if found is None:
            break
        key, body = above, found
    return tuple(chain)


def gate_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """What a downstream gate reads of a Release, as a small Release body: its Healthy time per version
    and stable revision (status), and where its own promotion comes from (spec, for cycles). Not its
    phase or message: a rollout upstream moving step by step wakes no one downstream."""
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    promotion = spec.get("promotion") if isinstance(spec, Mapping) else None
    source = promotion.get("from") if isinstance(promotion, Mapping) else None
    return {
        "spec": {"promotion": {"from": dict(source)}} if isinstance(source, Mapping) else {},
        "status": {
            "healthyVersions": [dict(entry) for entry in status.get("healthyVersions") or []],
            **({"stable": dict(status["stable"])} if isinstance(status.get("stable"), Mapping) else {}),
        },
    }


class UpstreamIndex:
    """upstream -> the Releases whose spec.promotion.from names it, kept from watch events; and what
    each Release last showed a gate, so that only a change to that wakes its downstream.

    A view is kept of every Release the watch shows, since a gate may name any (with sharding, one of
    another replica's), packed against one another (kube/packed.py, `Packer`): as dicts they were ~650
    bytes each, 1.9 MiB of what every replica keeps at 3,000 Releases (tracemalloc; docs/operator.md,
    "Pages of 100, and the least share"), as JSON ~190, packed so ~25 (the benchmarks' Releases)."""

    def __init__(self) -> None:
        self._upstream_of: dict[ReleaseKey, ReleaseKey] = {}
        self._downstream: defaultdict[ReleaseKey, set[ReleaseKey]] = defaultdict(set)
        self._views: dict[ReleaseKey, bytes] = {}
        self._packer = Packer()

    def seen(self, key: ReleaseKey, body: Mapping[str, Any]) -> frozenset[ReleaseKey]:
        """Record the Release's latest body; the Releases to wake: its downstream, if a gate would
        read something new (always for the first sight of it after a start)."""
        self.record(key, upstream_key(key, body.get("spec")))
        view = self._packer.pack(gate_view(body))
        if self._views.get(key) == view:
            return frozenset()
        self._views[key] = view
        return self.downstream_of(key)

    def record(self, key: ReleaseKey, upstream: ReleaseKey | None) -> None:
        """`key` now names `upstream` (None: no promotion)."""
        before = self._upstream_of.get(key)
        if before == upstream:
            return
        if before is not None:
            self._downstream[before].discard(key)
            if not self._downstream[before]:
                del self._downstream[before]
        if upstream is None:
            self._upstream_of.pop(key, None)
        else:
            self._upstream_of[key] = upstream
            self._downstream[upstream].add(key)

    def forget(self, key: ReleaseKey) -> frozenset[ReleaseKey]:
        """The Release is gone; the Releases to wake (those waiting for it)."""
        self.record(key, None)
        self._views.pop(key, None)
        return self.downstream_of(key)

    def downstream_of(self, key: ReleaseKey) -> frozenset[ReleaseKey]:
        return frozenset(self._downstream.get(key, ()))

    def view_of(self, key: ReleaseKey) -> dict[str, Any] | None:
        """What the watch last showed of the Release (its `gate_view`); None if it has not shown it."""
        view = self._views.get(key)
        return self._packer.unpack(view) if view is not None else None

    def shows(self, key: ReleaseKey) -> bool:
        """Whether the watch shows the Release (it has shown it, and not deleted)."""
        return key in self._views

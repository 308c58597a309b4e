"""The specs of the Releases in flight as the models read them, and what in each this operator cannot
carry out with its config, so that a pass does not read again a spec unchanged since the Release's last
pass.

With 1,000 Releases moving at once, validating each pass's spec was a tenth of the operator's CPU and
checking what it asks of the config (plugins.readiness: routes, metrics, Pod Security) a twentieth
(py-spy, docs/operator.md), though a spec changes only when someone edits it. A validated spec weighs
~18 KB, so only Releases passed over often keep theirs: the reconciler forgets a Release's once a pass
leaves it settled, and one no pass read for `KEEP_SECONDS` is forgotten at the next read of any (a
Release waiting for days at a manual pause, or deleted or moved to another replica when no pass of
this one could see it). So ten thousand Releases at rest, or waiting, keep nothing here. All on the
event loop (the passes' own step), so no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from slipway.api.models import ReleaseSpec
from slipway.controller.queue import ReleaseKey
from slipway.core.obstacles import Obstacle
from slipway.kube.packed import dumped

# Longer than the 10-30 s between the passes of a Release in flight (its steps, measurements, pods,
# the core's safety net), far shorter than a wait for a person.
KEEP_SECONDS = 60.0

ReadSpec = tuple[ReleaseSpec, tuple[Obstacle, ...]]
"""A spec as the models read it, and what in it this operator cannot carry out."""


class ValidatedSpecs:
    def __init__(
        self,
        unmet: Callable[[ReleaseSpec], tuple[Obstacle, ...]],
        keep_seconds: float = KEEP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`unmet`: what in a valid spec this operator cannot carry out (a function of the spec alone)."""
        self._unmet = unmet
        self._keep = keep_seconds
        self._clock = clock
        # By Release, least recently read first: the spec as last read (its JSON, in the order its keys
        # came), what was read, and when it was last read.
        self._kept: OrderedDict[ReleaseKey, tuple[bytes, ReadSpec, float]] = OrderedDict()

    def read(self, key: ReleaseKey, raw: Mapping[str, Any]) -> ReadSpec:
        """`raw` as the models read it (pydantic's ValidationError when they reject it) and what in it
        is unmet: as kept for the Release if `raw` is what that was read from."""
        now = self._clock()
        while self._kept and next(iter(self._kept.values()))[2] < now - self._keep:
            self._kept.popitem(last=False)
        data = dumped(raw)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == data:
            read = kept[1]
        else:
            spec = ReleaseSpec.model_validate(raw)
            read = spec, self._unmet(spec)
        self._kept[key] = (data, read, now)
        self._kept.move_to_end(key)
        return read

    def __contains__(self, key: object) -> bool:
        return key in self._kept

    def forget(self, key: ReleaseKey) -> None:
        """The Release settled, was deleted, or moved to another replica."""
        self._kept.pop(key, None)

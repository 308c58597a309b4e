"""The specs of the Releases in flight as the models read them, and what in each this operator cannot
carry out with its config, so that a pass does not read again a spec unchanged since the Release's last
pass.

With 1,000 Releases moving at once, validating each pass's spec was a tenth of the operator's CPU and
checking what it asks of the config (plugins.readiness: routes, metrics, Pod Security) a twentieth
(py-spy, docs/operator.md), though a spec changes only when someone edits it. A validated spec weighs
~18 KB, so only Releases in flight keep theirs: the reconciler forgets a Release's once a pass leaves it
settled, and ten thousand Releases at rest keep nothing here. All on the event loop (the passes' own
step), so no lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from slipway.api.models import ReleaseSpec
from slipway.controller.queue import ReleaseKey
from slipway.core.obstacles import Obstacle

ReadSpec = tuple[ReleaseSpec, tuple[Obstacle, ...]]
"""A spec as the models read it, and what in it this operator cannot carry out."""


class ValidatedSpecs:
    def __init__(self, unmet: Callable[[ReleaseSpec], tuple[Obstacle, ...]]) -> None:
        """`unmet`: what in a valid spec this operator cannot carry out (a function of the spec alone)."""
        self._unmet = unmet
        # By Release: the spec as last read (its JSON, in the order its keys came) and what was read.
        self._kept: dict[ReleaseKey, tuple[bytes, ReadSpec]] = {}

    def read(self, key: ReleaseKey, raw: Mapping[str, Any]) -> ReadSpec:
        """`raw` as the models read it (pydantic's ValidationError when they reject it) and what in it
        is unmet: as kept for the Release if `raw` is what that was read from."""
        data = orjson.dumps(raw)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == data:
            return kept[1]
        spec = ReleaseSpec.model_validate(raw)
        read = spec, self._unmet(spec)
        self._kept[key] = (data, read)
        return read

    def __contains__(self, key: object) -> bool:
        return key in self._kept

    def forget(self, key: ReleaseKey) -> None:
        """The Release settled, was deleted, or moved to another replica."""
        self._kept.pop(key, None)

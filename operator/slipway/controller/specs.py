"""The specs of the Releases in flight as the models read them, so that a pass does not validate again a
spec that has not changed since the Release's last pass.

With 1,000 Releases moving at once, validating each pass's spec was a tenth of the operator's CPU
(py-spy, docs/operator.md), though a spec changes only when someone edits it. A validated spec weighs
~18 KB, so only Releases in flight keep theirs: the reconciler forgets a Release's once a pass leaves it
settled, and ten thousand Releases at rest keep nothing here. All on the event loop (the passes' own
step), so no lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from slipway.api.models import ReleaseSpec
from slipway.controller.queue import ReleaseKey


class ValidatedSpecs:
    def __init__(self) -> None:
        # By Release: the spec as last validated (its JSON, in the order its keys came) and the model.
        self._kept: dict[ReleaseKey, tuple[bytes, ReleaseSpec]] = {}

    def validated(self, key: ReleaseKey, raw: Mapping[str, Any]) -> ReleaseSpec:
        """`raw` as the models read it (pydantic's ValidationError when they reject it): the model kept
        for the Release if `raw` is what it was validated from."""
        data = orjson.dumps(raw)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == data:
            return kept[1]
        spec = ReleaseSpec.model_validate(raw)
        self._kept[key] = (data, spec)
        return spec

    def __contains__(self, key: object) -> bool:
        return key in self._kept

    def forget(self, key: ReleaseKey) -> None:
        """The Release settled, was deleted, or moved to another replica."""
        self._kept.pop(key, None)

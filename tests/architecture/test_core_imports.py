"""The core is pure: importing it loads nothing of Slipway outside `slipway.api` and `slipway.core`, and
no I/O library at all. Checked in a fresh interpreter, where nothing else has been imported first."""

from __future__ import annotations

import json
import subprocess
import sys

_LIST_MODULES = """
import json, sys
before = set(sys.modules)
import slipway.core, slipway.core.rehearsal, slipway.core.simulation
print(json.dumps(sorted(set(sys.modules) - before)))
"""

# Libraries that talk to the outside world or run the operator: the core must not even load them.
_IO_LIBRARIES = ("kopf", "kubernetes", "aiohttp", "urllib3", "structlog", "prometheus_client", "yaml")


def _loaded_by_importing_the_core() -> list[str]:
    output = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES], check=True, capture_output=True, text=True
    ).stdout
    loaded: list[str] = json.loads(output)
    return loaded


def test_importing_the_core_loads_only_api_and_core() -> None:
    loaded = _loaded_by_importing_the_core()
    ours = [name for name in loaded if name == "slipway" or name.startswith("slipway.")]
    assert "slipway.core.machine" in ours  # the check saw the core itself
    outside = [
        name for name in ours if name != "slipway" and not name.startswith(("slipway.api", "slipway.core"))
    ]
    assert outside == []
    assert [name for name in loaded if name.split(".")[0] in _IO_LIBRARIES] == []

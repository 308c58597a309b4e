"""A Release read before the plug-ins are loaded fails with one clear sentence saying what to call,
not with pydantic's advice about rebuilding models. Checked in a fresh interpreter, where nothing has
loaded the plug-ins yet (this test session's conftest has)."""

from __future__ import annotations

import subprocess
import sys

_READ_A_RELEASE_FIRST = """
from slipway.api.models import ReleaseSpec
ReleaseSpec.model_validate({"version": "v1"})
"""


def test_reading_a_release_before_loading_the_plugins_says_to_load_them() -> None:
    result = subprocess.run([sys.executable, "-c", _READ_A_RELEASE_FIRST], capture_output=True, text=True)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        "slipway.api.models.PluginsNotLoaded: no TrafficRouting sections registered: "
        "call slipway.plugins.load() before reading a Release"
    )

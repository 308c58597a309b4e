"""`slipway demo` (what `make demo` runs) plays its whole story and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_demo_story_completes() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "slipway", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    # On a line of its own, also when piped (as here and in `make demo | tee`)
    assert "demo complete: v1 deployed, v2 promoted, v3 rolled back" in finished.stdout.splitlines()
    assert "AnalysisFailed" in finished.stdout

"""Issue 13's soak, scaled down for make test: 20 Releases x 4 versions (every third bad), the operator
SIGKILLed every ~10 s, 5 % of API writes answered 500 and 2 % 409, watches dropped every 7 s and a
40-event watch history. bench/soak.py exits 1 naming every breach: a version not converged in time, a
weight sum off 100, a bad version stable, a duplicate history entry, a Deployment left behind, a
missing Event. `make soak` runs it at full size."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_the_scaled_down_soak_converges_with_no_invariant_broken() -> None:
    done = subprocess.run(
        [sys.executable, str(SOAK), "--releases", "20", "--versions", "4", "--deadline", "420"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "converged: 80 of 80 versions (20 Releases x 4)" in done.stdout, (done.stdout, done.stderr[-3000:])
    assert re.search(r"operator kills: [1-9][0-9]*", done.stdout), done.stdout
    faults = r"faults injected: [1-9][0-9]* writes answered 500, [1-9][0-9]* answered 409"
    assert re.search(faults, done.stdout), done.stdout
    breaches = [line for line in done.stdout.splitlines() if line.startswith("  ")]
    assert breaches == [], done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no invariant broken" in done.stdout

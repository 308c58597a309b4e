"""What an operator's /metrics says of the requests it sent. Shared by the benchmarks
(bench/bench_operator.py) and the end-to-end tests (tests/support/e2e_support.py)."""

from __future__ import annotations

from collections import Counter


def requests_of(metrics: str) -> Counter[str]:
    """The API requests counted in `metrics` (the operator's /metrics text) by verb, and its passes
    under "passes"."""
    counts: Counter[str] = Counter()
    for line in metrics.splitlines():
        if line.startswith("slipway_api_requests_total"):
            verb = line.split('verb="', 1)[1].split('"', 1)[0]
            counts[verb] += round(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("slipway_reconcile_duration_seconds_count"):
            counts["passes"] += round(float(line.rsplit(" ", 1)[1]))
    return counts

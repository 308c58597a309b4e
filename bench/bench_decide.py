"""The cost of one decide() call for a 10-step canary: median and p99.

The inputs are the real ones of a whole release: a simulated cluster and clock run the canary from
apply to promotion (with measurements at every interval), every pass's inputs are recorded, then each
is decided again and again under the timer. Prints figures; it is not a test.

    .venv/bin/python bench/bench_decide.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from slipway import plugins
from slipway.api.models import ReleaseSpec
from slipway.core.machine import decide
from slipway.core.simulation import DecideInputs, Simulation

STEPS = [
    {"setWeight": 5},
    {"pause": {"duration": "30s"}},
    {"setWeight": 10},
    {"analysis": {"successfulMeasurements": 3}},
    {"setWeight": 25},
    {"pause": {"duration": "1m"}},
    {"setWeight": 50},
    {"analysis": {"successfulMeasurements": 3}},
    {"setWeight": 75},
    {"pause": {"duration": "1m"}},
]


def ten_step_canary(version: str) -> ReleaseSpec:
    return ReleaseSpec.model_validate(
        {
            "version": version,
            "replicas": 10,
            "template": {"spec": {"containers": [{"name": "web", "image": f"example/web:{version}"}]}},
            "service": {"port": 80},
            "strategy": {"canary": {"steps": STEPS}},
            "analysis": {
                "interval": "15s",
                "metrics": [
                    {"name": "error-rate", "builtin": "error-rate"},
                    {"name": "latency-p95", "builtin": "latency-p95"},
                ],
            },
        }
    )


def recorded_inputs() -> list[DecideInputs]:
    """The inputs of every decide() call of one release of version 2 over version 1."""
    recorded: list[DecideInputs] = []
    sim = Simulation(spec=ten_step_canary("1"), now=datetime(2026, 1, 1, tzinfo=UTC), recorded=recorded)
    for version in ("1", "2"):
        if version == "2":
            sim.change_spec(ten_step_canary("2"))
        for _ in range(500):
            decisions = sim.tick()
            assert sim.status is not None
            if sim.status.phase == "Healthy" and sim.status.stable and sim.status.stable.version == version:
                break
            sim.wait(decisions[-1])
    return recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="times each recorded pass is decided again")
    rounds = parser.parse_args().rounds
    plugins.load()  # the Release models are completed by the routers and providers
    inputs = recorded_inputs()
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        for spec, status, observations, now in inputs:
            started_wall, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
            decide(spec, status, observations, now)
            cpu.append((time.thread_time_ns() - started_cpu) / 1000)
            wall.append((time.perf_counter_ns() - started_wall) / 1000)
    print(
        f"decide() for a 10-step canary: {len(inputs)} recorded passes x {rounds} rounds = {len(wall)} calls"
    )
    # Wall time includes waiting for a CPU on a busy machine; thread CPU time is the cost of decide itself.
    for name, timings in (("wall", wall), ("cpu ", cpu)):
        timings.sort()
        p99 = timings[int(len(timings) * 0.99)]
        median = statistics.median(timings)
        print(f"{name}: median {median:.0f} us   p99 {p99:.0f} us   max {timings[-1]:.0f} us")


if __name__ == "__main__":
    main()

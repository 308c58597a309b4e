"""Simulated pods: behaviour from env, real HTTP on loopback, honest /metrics."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from front_door import ONE_POD_WEB

from slipway_dev.cluster import DevCluster
from slipway_dev.controllers.kubelet import crash_restarts, pod_status
from slipway_dev.pods import (
    ErrorSchedule,
    PodBehaviour,
    PodUnreachable,
    SimulatedPod,
    image_tag,
    parse_quantity,
    resource_series,
)


def test_behaviour_comes_from_env_with_documented_defaults() -> None:
    assert PodBehaviour.from_env({}) == PodBehaviour(0.0, 0.020, 1.0, False, 0)
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "env": [
                        {"name": "SLIPWAY_DEMO_ERROR_RATE", "value": "0.3"},
                        {"name": "SLIPWAY_DEMO_LATENCY_MS", "value": "5"},
                        {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "0"},
                        {"name": "SLIPWAY_DEMO_CRASH", "value": "1"},
                        {"name": "SLIPWAY_DEMO_EXIT_CODE", "value": "3"},
                    ],
                }
            ]
        }
    }
    assert PodBehaviour.from_pod(pod) == PodBehaviour(0.3, 0.005, 0.0, True, 3, container="c")


def test_nonsense_env_values_fall_back_or_are_clamped() -> None:
    behaviour = PodBehaviour.from_env(
        {
            "SLIPWAY_DEMO_ERROR_RATE": "7",
            "SLIPWAY_DEMO_LATENCY_MS": "nan",
            "SLIPWAY_DEMO_STARTUP_SECONDS": "soon",
        }
    )
    assert (behaviour.error_rate, behaviour.latency_seconds, behaviour.startup_seconds) == (1.0, 0.020, 1.0)


def test_error_schedule_fails_exactly_the_rate_evenly() -> None:
    schedule = ErrorSchedule(0.25)
    outcomes = [schedule.next_fails() for _ in range(100)]
    assert sum(outcomes) == 25
    assert all(sum(outcomes[i : i + 4]) == 1 for i in range(0, 100, 4))


def test_a_pods_version_is_its_version_label_else_its_image_tag() -> None:
    def pod(labels: dict[str, str], image: str) -> dict[str, Any]:
        return {"metadata": {"name": "web-1", "labels": labels}, "spec": {"containers": [{"image": image}]}}

    assert PodBehaviour.from_pod(pod({"app.kubernetes.io/version": "2.1"}, "demo:7")).version == "2.1"
    assert PodBehaviour.from_pod(pod({}, "demo:7")).pod == "web-1"
    assert [
        image_tag(image) for image in ("demo:7", "reg:5000/demo", "reg:5000/demo:v2@sha256:ab", "demo")
    ] == [
        "7",
        "",
        "v2",
        "",
    ]


def _sample(metrics: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.MULTILINE)
    assert match, f"{name} missing from:\n{metrics}"
    return float(match.group(1))


def test_a_pod_serves_http_and_counts_codes_and_latency() -> None:
    async def scenario() -> str:
        pod = SimulatedPod(PodBehaviour(error_rate=0.2, latency_seconds=0.03, pod="web-1", version="v2"))
        await pod.start()
        try:
            async with aiohttp.ClientSession() as session:
                codes = []
                for _ in range(20):
                    async with session.get(f"http://127.0.0.1:{pod.port}/checkout") as response:
                        codes.append(response.status)
                        # Every answer, errors included, says who gave it.
                        assert response.headers["X-Slipway-Pod"] == "web-1"
                        assert response.headers["X-Slipway-Version"] == "v2"
                assert codes.count(500) == 4 and codes.count(200) == 16
                async with session.get(f"http://127.0.0.1:{pod.port}/metrics") as response:
                    return await response.text()
        finally:
            await pod.stop()

    metrics = asyncio.run(scenario())
    assert _sample(metrics, 'http_requests_total{code="200"}') == 16
    assert _sample(metrics, 'http_requests_total{code="500"}') == 4
    assert _sample(metrics, "http_request_duration_seconds_count") == 20
    assert _sample(metrics, 'http_request_duration_seconds_bucket{le="0.025"}') == 0
    # No request is faster than its 30 ms latency; how much slower depends on the machine's load.
    assert _sample(metrics, 'http_request_duration_seconds_bucket{le="+Inf"}') == 20
    assert _sample(metrics, "http_request_duration_seconds_sum") >= 20 * 0.029


def test_a_request_handed_over_in_process_is_answered_and_counted_as_over_http() -> None:
    async def scenario() -> tuple[str, str]:
        pod = SimulatedPod(PodBehaviour(error_rate=0.5, latency_seconds=0.01, pod="web-2", version="v3"))
        with pytest.raises(PodUnreachable, match="web-2"):  # not started: nothing listens yet
            await pod.answer("GET", "/", 10)
        await pod.start()
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{pod.port}/a?b=1") as response:
                    over_http = (response.status, response.headers["Content-Type"], await response.text())
                handed = await pod.answer("POST", "/a?b=2", 10)
                assert over_http == (200, "text/plain; charset=utf-8", "ok\n")
                # The error schedule runs on across both ways in: the second request fails.
                assert (handed.status, handed.headers["Content-Type"], handed.text) == (
                    500,
                    "text/plain; charset=utf-8",
                    "error\n",
                )
                assert handed.headers["X-Slipway-Pod"] == "web-2"
                assert handed.headers["X-Slipway-Version"] == "v3"
                pod.stop_listening()  # SIGTERM: a kept-alive connection still gets its answer
                assert (await pod.answer("GET", "/", 10)).status == 200
                async with session.get(f"http://127.0.0.1:{pod.port}/metrics") as response:
                    metrics = await response.text()
            return metrics, "\n".join(pod.log.snapshot()[0])
        finally:
            await pod.stop()
            with pytest.raises(PodUnreachable, match="web-2"):
                await pod.answer("GET", "/", 10)

    metrics, log = asyncio.run(scenario())
    assert _sample(metrics, 'http_requests_total{code="200"}') == 2
    assert _sample(metrics, 'http_requests_total{code="500"}') == 1
    assert '"POST /a?b=2 HTTP/1.1" 500' in log


def test_a_pod_that_stops_while_answering_drops_the_request_uncounted() -> None:
    async def scenario() -> str:
        pod = SimulatedPod(PodBehaviour(latency_seconds=0.2, pod="web-3"))
        await pod.start()
        answering = asyncio.create_task(pod.answer("GET", "/", 10))
        await asyncio.sleep(0.05)
        await pod.stop()
        with pytest.raises(PodUnreachable, match="stopped"):
            await answering
        return pod.metrics.render()

    assert "http_requests_total{" not in asyncio.run(scenario())


def test_a_pod_slower_than_the_timeout_is_given_up_on_and_still_answers_as_over_http() -> None:
    async def scenario() -> tuple[float, str, str, str]:
        pod = SimulatedPod(PodBehaviour(latency_seconds=0.5, pod="web-4"))
        await pod.start()
        try:
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="web-4"):
                await pod.answer("GET", "/slow", 0.1)
            waited = time.monotonic() - started
            given_up = pod.metrics.render()
            # Over HTTP the pod finishes a request its client gave up on (aiohttp cancels no handler).
            deadline = time.monotonic() + 5
            while 'code="200"' not in pod.metrics.render() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            # /metrics asked through the gateway is the pod's metrics, not a request it counts.
            metrics = await pod.answer("GET", "/metrics?x=1", 0.1)
            return waited, given_up, metrics.text, metrics.headers["Content-Type"]
        finally:
            await pod.stop()

    waited, given_up, metrics, content_type = asyncio.run(scenario())
    assert 0.1 <= waited < 0.5 and "http_requests_total{" not in given_up
    assert _sample(metrics, 'http_requests_total{code="200"}') == 1
    assert content_type == "text/plain; charset=utf-8"


def test_a_thousand_pods_listen_at_once() -> None:
    async def scenario() -> set[int]:
        pods = [SimulatedPod(PodBehaviour(latency_seconds=0)) for _ in range(1000)]
        await asyncio.gather(*(pod.start() for pod in pods))
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{pods[-1].port}/") as response,
            ):
                assert response.status == 200
            return {pod.port for pod in pods}
        finally:
            await asyncio.gather(*(pod.stop() for pod in pods))

    assert len(asyncio.run(scenario())) == 1000


START = datetime(2026, 1, 1, tzinfo=UTC)


def pod_of(restart_policy: str = "Always") -> dict[str, Any]:
    return {
        "metadata": {"uid": "u"},
        "spec": {"restartPolicy": restart_policy, "containers": [{"name": "c"}]},
    }


def ready_of(status: dict[str, Any]) -> str:
    return next(c["status"] for c in status["conditions"] if c["type"] == "Ready")


def test_a_serving_pod_runs_at_once_and_is_ready_after_its_startup() -> None:
    behaviour = PodBehaviour(startup_seconds=2)
    early, wait = pod_status(pod_of(), behaviour, START, START + timedelta(seconds=0.5))
    assert (early["phase"], ready_of(early), wait) == ("Running", "False", 1.5)
    late, wait = pod_status(pod_of(), behaviour, START, START + timedelta(seconds=2))
    assert (late["phase"], ready_of(late), wait) == ("Running", "True", None)
    assert late["podIP"] == "127.0.0.1" and late["containerStatuses"][0]["ready"] is True


def test_a_crashing_pod_is_never_ready_and_restarts_with_back_off() -> None:
    assert [crash_restarts(elapsed) for elapsed in (0, 9.5, 10, 30, 69)] == [
        (0, 0, 10),
        (0, 0, 0.5),
        (1, 10, 20),
        (2, 30, 40),
        (2, 30, 1),
    ]
    # 10 s doubling up to 5 min: restarts at 10, 30, 70, 150, 310, then every 300 s.
    status, wait = pod_status(pod_of(), PodBehaviour(crash=True), START, START + timedelta(hours=1))
    assert (status["phase"], ready_of(status), wait) == ("Running", "False", 10)
    container = status["containerStatuses"][0]
    assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff" and container["restartCount"] == 15
    # the 15th restart came 3,310 s after the start (10+20+40+80+160, then 300 s apart)
    assert container["lastState"]["terminated"] == {
        "exitCode": 1,
        "reason": "Error",
        "startedAt": "2026-01-01T00:55:10Z",
        "finishedAt": "2026-01-01T00:55:10Z",
    }


def test_a_job_pod_runs_for_its_startup_then_exits_with_its_code() -> None:
    running, wait = pod_status(pod_of("Never"), PodBehaviour(startup_seconds=1), START, START)
    assert (running["phase"], wait) == ("Running", 1.0)
    done, _ = pod_status(
        pod_of("Never"), PodBehaviour(startup_seconds=1), START, START + timedelta(seconds=1)
    )
    failed, _ = pod_status(
        pod_of("OnFailure"), PodBehaviour(exit_code=2), START, START + timedelta(seconds=5)
    )
    assert done["phase"] == "Succeeded" and failed["phase"] == "Failed"
    assert failed["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2


def test_a_jobs_pod_runs_to_completion_whatever_its_restart_policy() -> None:
    pod = pod_of("Always")
    pod["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "smoke", "uid": "j", "controller": True}]
    done, wait = pod_status(pod, PodBehaviour(startup_seconds=1), START, START + timedelta(seconds=2))
    assert (done["phase"], wait) == ("Succeeded", None)


def test_a_pod_exports_its_cpu_and_memory_use_against_its_limits() -> None:
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "env": [
                        {"name": "SLIPWAY_DEMO_CPU", "value": "0.95"},
                        {"name": "SLIPWAY_DEMO_MEMORY_MB", "value": "300"},
                    ],
                    "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
                }
            ]
        }
    }
    behaviour = PodBehaviour.from_pod(pod)
    assert (behaviour.cpu_limit_cores, behaviour.memory_limit_bytes) == (0.5, 512 * 2**20)
    series = resource_series(behaviour, running_seconds=10)
    assert _sample(series, 'container_cpu_usage_seconds_total{container="web"}') == 9.5
    assert _sample(series, 'container_memory_working_set_bytes{container="web"}') == 300e6
    assert (
        _sample(series, 'kube_pod_container_resource_limits{container="web",resource="cpu",unit="core"}')
        == 0.5
    )
    # No limit set: no limit series (kube-state-metrics exports none either).
    assert "kube_pod_container_resource_limits" not in resource_series(PodBehaviour(), 10)
    assert [parse_quantity(q) for q in ("2", "100m", "1Gi", "1e3", "1.5k", None, "lots")] == [
        2.0,
        0.1,
        2.0**30,
        1000.0,
        1500.0,
        None,
        None,
    ]


@pytest.mark.dev_cluster(rps=50)
def test_the_gateway_hands_its_requests_to_the_kubelets_pod_and_the_kubelet_forgets_a_deleted_one(
    dev_cluster: DevCluster,
) -> None:
    cluster = dev_cluster
    cluster.kubectl("apply", "-f", "-", input=ONE_POD_WEB)
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")

    def answered() -> int:
        stats = cluster.gateway_stats().get("service/default/web")
        return stats.by_code.get(200, 0) if stats is not None else 0

    deadline = time.monotonic() + 30
    while answered() < 20:
        assert time.monotonic() < deadline, cluster.gateway_stats()
        time.sleep(0.1)

    async def servers() -> dict[int, SimulatedPod]:
        assert cluster._world is not None
        return dict(cluster._world.kubelet.servers)

    pod = cluster.kubectl_json("get", "pods", "-l", "app=web")["items"][0]
    port = int(pod["metadata"]["annotations"]["slipway.dev/sim-port"])
    (registered, server), *others = cluster.call(servers()).items()
    assert (registered, others, server.behaviour.pod) == (port, [], pod["metadata"]["name"])
    # Counted by the pod, yet no connection to its HTTP server: handed over in-process.
    assert server.metrics.requests_by_code["200"] >= 20
    assert server._handler.connections == []
    cluster.kubectl("delete", "deployment", "web")
    deadline = time.monotonic() + 30
    while cluster.call(servers()):
        assert time.monotonic() < deadline, "the deleted pod's server is still registered"
        time.sleep(0.1)

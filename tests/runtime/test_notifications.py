"""Delivering notifications to a real HTTP receiver on 127.0.0.1: retries with backoff, a receiver that
never answers, a full queue, the allow-list, and secrets that never show."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from polling import until
from receiver import Receiver

from slipway.runtime.config import ConfigError, NotificationsConfig, load_config
from slipway.runtime.logging import configure_logging
from slipway.runtime.metrics import OperatorMetrics
from slipway.runtime.notifications import IDEMPOTENCY_HEADER, Notification, NotificationQueue

SECRET = "T0001/B0002/s3cr3tXYZ"


def settings(tmp_path: Path, url: str, **overrides: Any) -> NotificationsConfig:
    url_file = tmp_path / "url"
    url_file.write_text(url + "\n")
    values: dict[str, Any] = {
        "allowedHosts": ["127.0.0.1"],
        "notifiers": {"chat": {"type": "webhook", "urlFile": str(url_file)}},
        "backoffSeconds": 0.05,
        "timeoutSeconds": 2,
        **overrides,
    }
    return NotificationsConfig.model_validate(values)


def count(metrics: OperatorMetrics, result: str, notifier: str = "chat") -> float:
    value = metrics.registry.get_sample_value(
        "slipway_notifications_total", {"notifier": notifier, "result": result}
    )
    return value or 0.0


class Failures:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def __call__(self, reason: str) -> None:
        self.reasons.append(reason)


def deliver(
    config: NotificationsConfig,
    metrics: OperatorMetrics,
    scenario: Callable[[NotificationQueue], Awaitable[None]],
) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            queue = NotificationQueue(session, config, metrics)
            queue.start()
            try:
                await scenario(queue)
            finally:
                await queue.stop(0)

    asyncio.run(run())


def test_a_receiver_answering_500_three_times_gets_the_message_once(tmp_path: Path) -> None:
    metrics, failures = OperatorMetrics(), Failures()
    with Receiver(statuses=[500, 500, 500]) as receiver:
        config = settings(tmp_path, receiver.url())

        async def scenario(queue: NotificationQueue) -> None:
            assert queue.offer(
                Notification("chat", config.notifiers["chat"], "key-1", {"hello": "world"}, failures)
            )
            await until(lambda: count(metrics, "delivered") == 1, 'count(metrics, "delivered") == 1', 10)

        deliver(config, metrics, scenario)
    assert [each.status for each in receiver.received] == [500, 500, 500, 200]
    assert len(receiver.accepted()) == 1
    assert {each.headers[IDEMPOTENCY_HEADER] for each in receiver.received} == {"key-1"}
    assert receiver.accepted()[0].body == {"hello": "world"}
    # Exponential backoff: 0.05, 0.1, 0.2 s between the attempts.
    gaps = [
        later.at - earlier.at
        for earlier, later in zip(receiver.received, receiver.received[1:], strict=False)
    ]
    assert gaps[2] > gaps[0] and gaps[2] >= 0.19
    assert failures.reasons == [] and count(metrics, "failed") == 0


def test_a_receiver_that_never_answers_costs_the_caller_nothing_and_ends_in_a_failure(tmp_path: Path) -> None:
    metrics, failures = OperatorMetrics(), Failures()
    with Receiver(hang=True) as receiver:
        config = settings(tmp_path, receiver.url(), timeoutSeconds=0.3, maxAttempts=2)

        async def scenario(queue: NotificationQueue) -> None:
            started = time.monotonic()
            for index in range(12):
                queue.offer(Notification("chat", config.notifiers["chat"], f"key-{index}", {}, failures))
            offering = time.monotonic() - started
            assert offering < 0.05, f"offering 12 notifications took {offering:.3f}s"
            # Four workers, two bounded attempts each: every one of them is given up, none hangs.
            await until(lambda: count(metrics, "failed") == 12, 'count(metrics, "failed") == 12', 30)

        deliver(config, metrics, scenario)
    assert len(failures.reasons) == 12
    assert failures.reasons[0] == "127.0.0.1 did not answer within 0.3s"


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    metrics, failures = OperatorMetrics(), Failures()
    with Receiver(hang=True) as receiver:
        config = settings(tmp_path, receiver.url(), queueSize=2, workers=1, timeoutSeconds=0.2, maxAttempts=1)

        async def scenario(queue: NotificationQueue) -> None:
            accepted = [
                queue.offer(Notification("chat", config.notifiers["chat"], f"k{index}", {}, failures))
                for index in range(4)
            ]
            assert accepted == [True, True, False, False]
            assert count(metrics, "dropped") == 2

        deliver(config, metrics, scenario)


def test_a_4xx_is_not_retried(tmp_path: Path) -> None:
    metrics, failures = OperatorMetrics(), Failures()
    with Receiver(statuses=[404]) as receiver:
        config = settings(tmp_path, receiver.url())

        async def scenario(queue: NotificationQueue) -> None:
            queue.offer(Notification("chat", config.notifiers["chat"], "k", {}, failures))
            await until(lambda: count(metrics, "failed") == 1, 'count(metrics, "failed") == 1', 10)

        deliver(config, metrics, scenario)
    assert len(receiver.received) == 1
    assert failures.reasons == ["127.0.0.1 answered HTTP 404"]


def test_a_rotated_secret_naming_a_host_not_allowed_is_refused_without_a_request(tmp_path: Path) -> None:
    metrics, failures = OperatorMetrics(), Failures()
    with Receiver() as receiver:
        config = settings(tmp_path, receiver.url())
        (tmp_path / "url").write_text(f"http://localhost:{receiver.port}/hook")  # rotated after start

        async def scenario(queue: NotificationQueue) -> None:
            queue.offer(Notification("chat", config.notifiers["chat"], "k", {}, failures))
            await until(lambda: count(metrics, "failed") == 1, 'count(metrics, "failed") == 1', 10)

        deliver(config, metrics, scenario)
    assert receiver.received == []
    assert failures.reasons == ["host 'localhost' is not in notifications.allowedHosts"]


@pytest.fixture
def debug_logging(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """The operator's logging at debug, to the stderr capfd reads; put back afterwards, or the later
    tests of this worker would log at debug to a stream capfd has closed."""
    configure_logging("debug", format="json")
    yield
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    structlog.reset_defaults()


@pytest.mark.usefixtures("debug_logging")
def test_the_url_and_token_never_show_in_logs_or_failures(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    metrics, failures = OperatorMetrics(), Failures()
    token = tmp_path / "token"
    token.write_text("tok-s3cr3t")
    with Receiver(statuses=[500, 500]) as receiver:
        config = settings(
            tmp_path,
            receiver.url(f"/services/{SECRET}"),
            maxAttempts=2,
            notifiers={
                "chat": {"type": "webhook", "urlFile": str(tmp_path / "url"), "tokenFile": str(token)}
            },
        )

        async def scenario(queue: NotificationQueue) -> None:
            queue.offer(Notification("chat", config.notifiers["chat"], "k", {}, failures))
            await until(lambda: count(metrics, "failed") == 1, 'count(metrics, "failed") == 1', 10)

        deliver(config, metrics, scenario)
    assert receiver.received[0].headers["Authorization"] == "Bearer tok-s3cr3t"
    assert receiver.received[0].path == f"/services/{SECRET}"
    logged = capfd.readouterr()
    assert "notification not delivered" in logged.err
    for secret in ("s3cr3t", "tok-s3cr3t"):
        assert secret not in logged.err + logged.out
        assert not any(secret in reason for reason in failures.reasons)


def write_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    (tmp_path / "url").write_text(url)
    path = tmp_path / "slipway.yaml"
    path.write_text(
        f"""
notifications:
  allowedHosts: [hooks.slack.com]
  notifiers:
    team-chat: {{type: slack, urlFile: {tmp_path / "url"}{extra}}}
"""
    )
    return path


def test_the_config_reads_the_secret_at_start_and_refuses_a_host_not_allowed(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, f"https://hooks.slack.com/services/{SECRET}"))
    with pytest.raises(ConfigError) as refused:
        load_config(write_config(tmp_path, f"https://evil.example.com/services/{SECRET}"))
    message = str(refused.value)
    assert "notifications.notifiers.team-chat.urlFile: host 'evil.example.com' is not in" in message
    assert SECRET not in message
    with pytest.raises(ConfigError, match=r"team-chat\.urlFile: cannot read it: No such file"):
        load_config(write_config(tmp_path, "x", extra=", urlFile: /nonexistent/url"))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (", tokenFile: /t", "tokenFile is for webhook notifiers"),
        (", linkTemplate: 'https://x/{{{{nmespace}}}}'", "unknown placeholder {{nmespace}}"),
        (", type: email", "type: Input should be 'webhook' or 'slack'"),
    ],
)
def test_bad_notifier_settings_name_the_field(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=r"notifications\.notifiers\.team-chat") as refused:
        load_config(write_config(tmp_path, "https://hooks.slack.com/x", extra=extra))
    assert expected in str(refused.value)


def test_a_bad_link_and_a_host_not_allowed_are_reported_together(tmp_path: Path) -> None:
    extra = ", linkTemplate: 'https://x/{{nmespace}}'"
    path = write_config(tmp_path, f"https://evil.example.com/{SECRET}", extra=extra)
    path.write_text(path.read_text() + "server: {port: -1}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert "server.port: Input should be greater than or equal to 0" in message
    assert "team-chat.linkTemplate: unknown placeholder {{nmespace}}" in message
    assert "team-chat.urlFile: host 'evil.example.com' is not in notifications.allowedHosts" in message
    assert SECRET not in message

"""Credentials out of text: user-info of every URL, credential-named query values."""

from __future__ import annotations

import pytest

from slipway.runtime.redaction import redact, redact_values


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Alertmanager at http://user:pw@am:9093: refused", "Alertmanager at http://***@am:9093: refused"),
        ("https://token@host/path", "https://***@host/path"),
        ("http://u:p@ss@host:1/x", "http://***@host:1/x"),
        ("url='http://a:b@h/q?apiKey=k1&x=1#f'", "url='http://***@h/q?apiKey=***&x=1#f'"),
        ("http://host:9090/api/v1/query?query=up", "http://host:9090/api/v1/query?query=up"),
        ("write to ops@example.com, not a URL", "write to ops@example.com, not a URL"),
        ("two: http://a:1@x and https://b:2@y/", "two: http://***@x and https://***@y/"),
    ],
)
def test_redact(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_redact_values_walks_containers() -> None:
    value = {"url": "http://u:p@h", "list": ["http://u:p@h", 1], "tuple": ("http://u:p@h",), "n": None}
    assert redact_values(value) == {
        "url": "http://***@h",
        "list": ["http://***@h", 1],
        "tuple": ("http://***@h",),
        "n": None,
    }

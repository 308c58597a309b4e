"""How a client reaches one dev API server: its HTTPS URL, the CA that signed its certificate, and a
bearer token naming who is calling. The kubeconfig carries the same three things."""

from __future__ import annotations

import ssl
import urllib.request
from dataclasses import dataclass, replace
from http.client import HTTPResponse
from typing import cast

from slipway_dev.apiserver.tls import client_context


@dataclass(frozen=True)
class Credentials:
    url: str
    ca_pem: bytes
    token: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the server against the CA, hostname included (no insecure mode exists)."""
        return client_context(self.ca_pem)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def with_token(self, token: str | None) -> Credentials:
        return replace(self, token=token)

    def urlopen(self, path: str, timeout: float = 30) -> HTTPResponse:
        """GET `path` with urllib (tests, scripts): verified TLS and the bearer token; raises HTTPError
        on an error status like urllib.request.urlopen."""
        request = urllib.request.Request(self.url + path, headers=self.headers())
        return cast(
            HTTPResponse, urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context())
        )

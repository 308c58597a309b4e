"""Authentication: who a request comes from, as kube-apiserver decides it from a bearer token.

A request without a bearer token (no Authorization header, another scheme, an empty token) is
anonymous, as with kube-apiserver's default `--anonymous-auth=true` (which kubeadm keeps): user
`system:anonymous` in group `system:unauthenticated`, which the default roles let read /version and
the health endpoints only. A bearer token that fails is 401, never anonymous. Two kinds of token are
accepted:

- static tokens made at start, like a token-auth file: the admin of the written kubeconfig
  (`kubernetes-admin`, group `system:masters`) and the simulated world's controllers
  (`system:slipway-dev:world`, also `system:masters`);
- ServiceAccount tokens issued through TokenRequest (`kubectl create token`): ES256 JWTs signed with a
  key generated at start, checked for signature, expiry, audience and that the ServiceAccount (same
  uid) still exists.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
ADMIN_USER = "kubernetes-admin"
WORLD_USER = "system:slipway-dev:world"
# The API server's own audience and issuer, the defaults of a kubeadm cluster.
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
ISSUER = API_AUDIENCE
DEFAULT_TOKEN_SECONDS = 3600
MIN_TOKEN_SECONDS = 600
MAX_TOKEN_SECONDS = 1 << 32
_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    @property
    def is_master(self) -> bool:
        return MASTERS in self.groups

    def as_dict(self) -> dict[str, Any]:
        """The user as a UserInfo object of authentication.k8s.io (SelfSubjectReview, TokenReview)."""
        info: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            info["uid"] = self.uid
        if self.extra:
            info["extra"] = {key: list(values) for key, values in self.extra}
        return info


ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))


def bearer_token(authorization: str | None) -> str | None:
    """The token of a `Bearer` Authorization header; None when the request presents none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def service_account_user(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}")


def split_service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a `system:serviceaccount:NS:NAME` user name, else None."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = username[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires: float


# (namespace, name) -> the ServiceAccount's uid, or None when it does not exist.
ServiceAccountLookup = Callable[[str, str], "str | None"]


class Authenticator:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._key_id = _b64(secrets.token_bytes(12))
        self._static: dict[str, UserInfo] = {}
        # Verified ServiceAccount tokens: token -> (user, expiry, namespace, name, uid).
        self._verified: dict[str, tuple[UserInfo, float, str, str, str]] = {}
        self.admin_token = self.add_static_token(ADMIN_USER, (MASTERS,))
        self.world_token = self.add_static_token(WORLD_USER, (MASTERS,))

    def add_static_token(self, user: str, groups: tuple[str, ...]) -> str:
        token = secrets.token_urlsafe(32)
        self._static[token] = UserInfo(user, (*groups, AUTHENTICATED), uid=str(uuid.uuid4()))
        return token

    # -- issuing

    def issue(
        self,
        namespace: str,
        name: str,
        sa_uid: str,
        audiences: list[str] | None = None,
        seconds: int = DEFAULT_TOKEN_SECONDS,
    ) -> IssuedToken:
        now = int(self._clock())
        claims = {
            "aud": audiences or [API_AUDIENCE],
            "exp": now + seconds,
            "iat": now,
            "iss": ISSUER,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": sa_uid}},
            "nbf": now,
            "sub": service_account_user(namespace, name),
        }
        header = {"alg": "ES256", "kid": self._key_id}
        signing_input = (
            _b64(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64(json.dumps(claims, separators=(",", ":")).encode())
        )
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return IssuedToken(f"{signing_input}.{_b64(signature)}", float(now + seconds))

    # -- checking

    def authenticate(
        self, authorization: str | None, service_accounts: ServiceAccountLookup
    ) -> UserInfo | None:
        """The user an Authorization header names: ANONYMOUS when it presents no bearer token, None
        when the token is malformed, bad or expired."""
        token = bearer_token(authorization)
        if token is None:
            return ANONYMOUS
        static = self._static.get(token)
        if static is not None:
            return static
        return self.authenticate_service_account(token, service_accounts)

    def authenticate_service_account(
        self, token: str, service_accounts: ServiceAccountLookup
    ) -> UserInfo | None:
        now = self._clock()
        cached = self._verified.get(token)
        if cached is None:
            cached = self._verify(token, now)
            if cached is None:
                return None
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = cached
        user, expires, namespace, name, uid = cached
        if now >= expires:
            self._verified.pop(token, None)
            return None
        if service_accounts(namespace, name) != uid:
            return None  # deleted, or deleted and made again: its old tokens die with it
        return user

    def _verify(self, token: str, now: float) -> tuple[UserInfo, float, str, str, str] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        if not isinstance(header, dict) or header.get("alg") != "ES256" or len(signature) != 64:
            return None
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            self._key.public_key().verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return None
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
            return None
        audiences = claims.get("aud")
        if isinstance(audiences, str):
            audiences = [audiences]
        if not isinstance(audiences, list) or API_AUDIENCE not in audiences:
            return None
        expires, not_before = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(expires, int | float) or not isinstance(not_before, int | float):
            return None
        if now >= expires or now < not_before - 60:
            return None
        k8s: Any = claims.get("kubernetes.io")
        try:
            namespace = str(k8s["namespace"])
            name = str(k8s["serviceaccount"]["name"])
            uid = str(k8s["serviceaccount"]["uid"])
        except (TypeError, KeyError):
            return None
        if claims.get("sub") != service_account_user(namespace, name):
            return None
        extra = (("authentication.kubernetes.io/credential-id", (f"JTI={claims.get('jti', '')}",)),)
        user = UserInfo(
            service_account_user(namespace, name),
            (*service_account_groups(namespace), AUTHENTICATED),
            uid=uid,
            extra=extra,
        )
        return user, float(expires), namespace, name, uid


def timestamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

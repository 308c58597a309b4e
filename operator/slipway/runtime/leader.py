"""Leader election on a coordination.k8s.io/v1 Lease, so several replicas never reconcile at once.

The rules are those of client-go's leader election: the holder renews the Lease every third of its
duration; anyone may take it over once `renewTime + leaseDurationSeconds` has passed. Each write is
a JSON patch that first tests the resourceVersion that was read, so two candidates can never both win.
A replica that fails to renew in time stops reconciling at once (the process exits; Kubernetes
restarts it as a candidate). A leader that stops on purpose (SIGTERM, e.g. a rolling upgrade) releases
the Lease after its last reconcile, so a standby takes over at its next try instead of waiting for
the Lease to expire.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from slipway.kube.client import JSON_PATCH, ApiError, KubeApi

_log = structlog.get_logger("slipway.leader")

Obj = dict[str, Any]


def micro_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def held_until(spec: Obj, duration_seconds: int) -> datetime | None:
    """When a Lease spec's hold ends (`renewTime + leaseDurationSeconds`); None if never renewed."""
    renewed: str | None = spec.get("renewTime")
    if renewed is None:
        return None
    held_for = int(spec.get("leaseDurationSeconds") or duration_seconds)
    return datetime.fromisoformat(renewed) + timedelta(seconds=held_for)


def claimed_spec(spec: Obj | None, identity: str, duration_seconds: int, now: datetime) -> Obj | None:
    """The Lease spec after `identity` acquires or renews it at `now`; None while another holds it."""
    spec = spec or {}
    holder = spec.get("holderIdentity")
    until = held_until(spec, duration_seconds)
    if holder and holder != identity and until is not None and until > now:
        return None
    taking_over = holder != identity
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": duration_seconds,
        "acquireTime": micro_time(now) if taking_over else spec.get("acquireTime", micro_time(now)),
        "renewTime": micro_time(now),
        "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (1 if taking_over and holder else 0),
    }


class LeaderElection:
    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        name: str,
        identity: str,
        duration_seconds: int = 15,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.api = api
        self.identity = identity
        self.duration_seconds = duration_seconds
        self.name = name
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._labels = labels or {}
        self.last_claim_answered = False  # whether the last claim got an answer (won or lost), not an error
        # A renewal runs in a worker thread that cancelling its task does not stop: a release must wait
        # for it, or it reads the Lease before the renewal's write and loses the race (409).
        self._writing = threading.Lock()
        # The Lease as this replica's last write left it: a renewal is then one request, not a GET
        # and a patch (the patch's resourceVersion test fails if anyone wrote since).
        self._written: Obj | None = None
        # Its own thread: a renewal never waits behind the passes holding the default executor's.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"lease-{name}")

    def claim(self, annotations: dict[str, str] | None = None) -> bool:
        """Acquire or renew the Lease now; False when another replica holds it (or won the race).
        `annotations` replace the Lease's own in the same write (sharding publishes what it acts on)."""
        with self._writing:
            return self._claim_now(annotations)

    def _claim_now(self, annotations: dict[str, str] | None) -> bool:
        now = datetime.now(UTC)
        lease, self._written = self._written or self.api.get(f"{self._collection}/{self.name}"), None
        if lease is None:
            spec = claimed_spec(None, self.identity, self.duration_seconds, now)
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "labels": self._labels, "annotations": annotations or {}},
                "spec": spec,
            }
            try:
                self._written = self.api.create(self._collection, body)
            except ApiError as error:
                if error.status == 409:
                    return False
                raise
            return True
        spec = claimed_spec(lease.get("spec"), self.identity, self.duration_seconds, now)
        if spec is None:
            return False
        patch = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": lease["metadata"]["resourceVersion"],
            },
            {"op": "add", "path": "/spec", "value": spec},
        ]
        if annotations is not None:
            patch.append({"op": "add", "path": "/metadata/annotations", "value": annotations})
        try:
            self._written = self.api.patch(f"{self._collection}/{self.name}", patch, JSON_PATCH)
        except ApiError as error:
            if error.status in (409, 422):
                return False
            raise
        return True

    def release(self) -> bool:
        """Give the Lease up if this replica holds it: no holder and an expired renewTime, so anyone
        may take it at once. False when it is not ours (any more) or the write failed."""
        with self._writing:
            return self._release_now()

    def _release_now(self) -> bool:
        self._written = None
        lease = self.api.get(f"{self._collection}/{self.name}")
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return False
        patch = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": lease["metadata"]["resourceVersion"],
            },
            {"op": "replace", "path": "/spec/holderIdentity", "value": ""},
            {
                "op": "replace",
                "path": "/spec/renewTime",
                "value": micro_time(datetime(1970, 1, 1, tzinfo=UTC)),
            },
        ]
        try:
            self.api.patch(f"{self._collection}/{self.name}", patch, JSON_PATCH)
        except ApiError:
            return False
        return True

    async def acquire(self, on_standby: Callable[[], None] | None = None) -> None:
        """Wait until this replica leads. `on_standby` is called once, the first time the API server
        answers that another replica holds the Lease: this one is then a working standby."""
        while not await self.attempt():
            if on_standby is not None and self.last_claim_answered:
                on_standby()
                on_standby = None
            await asyncio.sleep(self.duration_seconds / 3)

    async def keep(self) -> None:
        """Renew every third of the Lease's duration; return (leadership lost) once renewals have failed
        for two thirds of it, well before another replica may take over."""
        loop = asyncio.get_running_loop()
        last_renewed = loop.time()
        while True:
            await asyncio.sleep(self.duration_seconds / 3)
            if await self.attempt():
                last_renewed = loop.time()
            elif loop.time() - last_renewed >= self.duration_seconds * 2 / 3:
                return

    async def attempt(self, annotations: dict[str, str] | None = None) -> bool:
        """`claim` from the event loop; an API error is logged and counts as not claimed."""
        try:
            claimed = await asyncio.get_running_loop().run_in_executor(self._thread, self.claim, annotations)
        except ApiError as error:
            # Said, not swallowed: a refused Lease (403: the RBAC lacks it) would otherwise look like
            # a standby that never leads.
            _log.warning("lease claim failed", lease=self.name, status=error.status, error=str(error))
            self.last_claim_answered = False
            return False
        self.last_claim_answered = True
        return claimed

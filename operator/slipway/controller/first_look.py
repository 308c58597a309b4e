"""The operator's start: no pass until the watch has shown what the cluster held, and the first pass of
each Release decides on what the watch showed instead of reading it again.

A restarted operator makes one pass per Release. Each pass sent a GET of its Release and a LIST of its
Deployments, though the watch had just shown both, and its Services were read too when the Release
events came before Kopf had listed them. At a restart over 3,000 Releases the operator was CPU-bound,
and requests were most of its time (py-spy: 38 % in the client).

This holds two things for the start (all on the event loop: the watch handlers and the passes' first
step, so no lock):
- the barrier: `open_when_shown` opens the queue once the watch of the Releases has listed them whole
  (controller/release_watch.py: its LIST is the watch's own start, each page handed to the handlers
  before the next is read) and the watch of the objects they own has listed those
  (controller/owned_watch.py), or failed to;
- until then, each Release's body and its Deployments as the watch shows them, packed (kube/packed.py);
  the body only of a Release shown settled, since no other is taken (below).
  The first pass takes them. The Deployments are used only if the watch of owned objects covers the
  Release (it listed the Release's bucket whole, and has watched it since), else the pass lists them.
  An event for a Release after the queue opened drops what was kept of it, so what a pass takes is what
  the watch last showed, as in any controller that works from its watch: a change not shown yet comes
  as an event, which makes another pass.

What the watch showed may lag behind the last writes made before (by this operator before a restart, by
the replica that owned the Release before a gain), so it is taken only for a Release settled
there (Healthy or Degraded on its generation: one in flight would write anyway), and a pass deciding on
it writes nothing: if it would write, it is decided again on a read (reconciler.py, `AsShown`). So what
it spares is the reads of the Releases with nothing to do, nearly all of them at a restart.

With sharding (`all_along=True`) the same view serves the first pass after this replica gains a Release
(`gained`): at start, at a takeover after another replica died, at a give-back. Those passes each sent a
GET and a LIST as well: at a takeover of 973 Releases the last was reconciled 7 s after the Lease
expired, most of it spent waiting for those requests. So every Release's body and Deployments are kept
all along, whoever owns it, and never dropped by an event; only its first pass after each gain takes
them, later passes read as usual. Each kind is packed against the first of its kind kept (kube/
packed.py, `Packer`), since every replica keeps every Release's: ~200 bytes a Release body of the
benchmarks, where zlib alone left ~980. The Deployments are kept only of the Releases in this
replica's buckets (the others' are not watched); a gained Release's are used once the watch has listed
its bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from slipway.controller.queue import ReconcileQueue, ReleaseKey
from slipway.kube.packed import Packer
from slipway.manifests import Obj, own_fields_only

_log = structlog.get_logger("slipway.operator")

# The longest wait at start for the watches to list what they watch (open_when_shown).
MOST_WAIT_SECONDS = 60.0


def settled(phase: str | None, observed_generation: int | None, generation: int | None) -> bool:
    """Whether a Release is at rest on its generation: Healthy or Degraded, nothing more to do."""
    return phase in ("Healthy", "Degraded") and observed_generation == generation


def _shown_settled(body: Mapping[str, Any]) -> bool:
    """Whether the Release's body shows it settled (`settled`)."""
    status = body.get("status") or {}
    return settled(status.get("phase"), status.get("observedGeneration"), body["metadata"].get("generation"))


@dataclass(frozen=True)
class FirstView:
    body: Obj | None
    """The Release as the watch showed it; None: read it."""
    deployments: list[Obj] | None
    """Its Deployments (labelled as the Release's) as the watch showed them; None: list them."""


class FirstLook:
    def __init__(self, covers: Callable[[ReleaseKey], bool], all_along: bool = False) -> None:
        """`covers`: whether the watch has shown every Deployment of the Release."""
        # Only a body showing the Release settled: no other is taken (`take`). No record per Release
        # beside it: every sharded replica keeps one of each Release all along.
        self._bodies: dict[ReleaseKey, bytes] = {}
        # Of the Releases with Deployments shown, by name (one the watch showed deleted is dropped).
        self._deployments: dict[ReleaseKey, dict[str, bytes]] = {}
        # Until the queue opens, the Releases shown and not deleted (`namespaces`).
        self._shown: set[ReleaseKey] | None = set()
        self._body_packer, self._deployment_packer = Packer(), Packer()
        self._keeping = True
        self._covers = covers
        self._all_along = all_along
        # All along: the Releases whose next pass takes what was kept (gained since their last pass).
        self._due: set[ReleaseKey] = set()

    @property
    def releases(self) -> int:
        """How many settled Releases' bodies are kept."""
        return len(self._bodies)

    def namespaces(self) -> frozenset[str]:
        """The namespaces of the Releases the watch has shown (before the queue opens)."""
        return frozenset(key.namespace for key in self._shown or ())

    def release(self, key: ReleaseKey, body: Mapping[str, Any] | None) -> None:
        """The watch shows the Release (None: deleted)."""
        if not self._keeping:
            self._forget(key)
        elif body is not None:
            if self._shown is not None:
                self._shown.add(key)
            if _shown_settled(body):
                self._bodies[key] = self._body_packer.pack(own_fields_only(body))
            else:
                self._bodies.pop(key, None)
        else:
            # Its Deployments stay until the watch shows them deleted: one of a Release created again
            # under the same name may have been shown before this deletion (another watch stream).
            self._due.discard(key)
            if self._shown is not None:
                self._shown.discard(key)
            self._bodies.pop(key, None)

    def deployment(self, key: ReleaseKey, name: str, body: Mapping[str, Any] | None) -> None:
        """The watch shows a Deployment labelled as the Release's (None: deleted)."""
        if not self._keeping:
            self._forget(key)
        elif body is not None:
            packed = self._deployment_packer.pack(own_fields_only(body))
            self._deployments.setdefault(key, {})[name] = packed
        else:
            kept = self._deployments.get(key)
            if kept is not None:
                kept.pop(name, None)
                if not kept:
                    del self._deployments[key]

    def _forget(self, key: ReleaseKey) -> None:
        self._bodies.pop(key, None)
        self._deployments.pop(key, None)

    def stop_keeping(self) -> None:
        """The queue opens: keep nothing more, unless all along."""
        self._keeping = self._all_along
        self._shown = None

    def gained(self, key: ReleaseKey) -> None:
        """All along: the Release became this replica's; its next pass takes what was kept."""
        if self._all_along:
            self._due.add(key)

    def decides_on_shown(self, key: ReleaseKey) -> bool:
        """Whether the Release's next pass decides on what was kept alone: it takes a body showing the
        Release settled and the Deployments listed whole, so it has nothing to read (the queue gives
        such passes fewer slots: controller/queue.py)."""
        if self._all_along and key not in self._due:
            return False
        return key in self._bodies and self._covers(key)

    def take(self, key: ReleaseKey) -> FirstView:
        """What was kept of the Release, once (all along: once per gain); nothing of a Release the watch
        showed unsettled (in flight, its pass would write and measure anyway)."""
        if self._all_along:
            if key not in self._due:
                return FirstView(None, None)
            self._due.discard(key)
            body, deployments = self._bodies.get(key), self._deployments.get(key)
        else:
            body, deployments = self._bodies.pop(key, None), self._deployments.pop(key, None)
        if body is None:
            return FirstView(None, None)
        listed = None
        if self._covers(key):
            listed = [self._deployment_packer.unpack(packed) for packed in (deployments or {}).values()]
        return FirstView(self._body_packer.unpack(body), listed)


async def open_when_shown(
    queue: ReconcileQueue,
    first_look: FirstLook,
    listed: Sequence[asyncio.Event],
    deadline: float,
    started: float,
) -> None:
    """Open the queue once every watch in `listed` has listed what it watches (or failed to), or at
    `deadline` (the loop's time) whatever they showed; the log says how long since `started`. Opening
    early costs only the reads the wait spares."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout_at(deadline):
            await asyncio.gather(*(event.wait() for event in listed))
    _log.info(
        "passes start",
        waited=round(asyncio.get_running_loop().time() - started, 1),
        releases=first_look.releases,
        listed=all(event.is_set() for event in listed),
    )
    first_look.stop_keeping()
    queue.open()

"""What `decide` asks the shell to do: plain data, carried out in list order.

Every action is safe to repeat (each states a desired end, not a change), so a shell that crashes
half-way can carry the same list out again. Revisions are named by their hash; the shell names the
Deployment `<release>-<revision>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from slipway.api.annotations import PREFIX
from slipway.api.models import CanaryRoute
from slipway.api.status import HookStage


@dataclass(frozen=True)
class EnsureRevision:
    """Create the Deployment of the desired revision (from spec.template and spec.version) if it is
    missing, and set its replicas. Only ever names the revision that spec asks for."""

    revision: str
    version: str
    replicas: int


@dataclass(frozen=True)
class ScaleRevision:
    """Set the replicas of an existing revision's Deployment."""

    revision: str
    replicas: int


@dataclass(frozen=True)
class Route:
    """Make the routing objects send `canary_weight` percent to `canary` and the rest to `stable` (all
    of it when `canary` is None), the requests of each match route to `canary`, and mirror
    `mirror_percent` percent to it; `<name>-canary` reaches `canary`, or `stable` when there is none.

    Ends the writes of every pass that has a stable revision, stating the routing the status records.
    The shell compares it with the routing objects and usually writes nothing: it puts back routing
    someone changed, and makes a new canary (a blue-green preview) reachable through `<name>-canary`.
    """

    stable: str
    canary: str | None
    canary_weight: int
    routes: tuple[CanaryRoute, ...] = field(default=(), hash=False)
    """Match routes to the canary (only with one), whatever its weight."""
    mirror_percent: int = 0
    """Percentage of requests mirrored to the canary (only with one)."""

    @property
    def weights(self) -> Mapping[str, int]:
        """Percentage per revision; always sums to 100."""
        if self.canary is None:
            return {self.stable: 100}
        return {self.stable: 100 - self.canary_weight, self.canary: self.canary_weight}


@dataclass(frozen=True)
class SetWeights(Route):
    """A Route that moves traffic (weights, match routes or mirror), where it moves in the order of
    writes: never more than 0 to a revision without a ready pod, and after a rollback decision the
    first write (invariants 1, 2)."""


@dataclass(frozen=True)
class DeleteRevision:
    """Delete a revision's Deployment; it gets no traffic any more."""

    revision: str


@dataclass(frozen=True)
class RunHook:
    """Create the Job of one hook (spec.hooks) for this revision and attempt, unless it exists: the
    shell names it from them, so asking twice runs it once."""

    stage: HookStage
    hook: str
    revision: str
    version: str
    attempt: int


@dataclass(frozen=True)
class DeleteHookJobs:
    """Delete the hook Jobs of a revision the Release no longer keeps."""

    revision: str


@dataclass(frozen=True)
class RunAnalysis:
    """Measure these metrics for this revision now, and pass the results to the next `decide` call."""

    revision: str
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class AcknowledgeAction:
    """A manual action was carried out: remove its annotation (if it still has this value)."""

    action: str
    value: str

    @property
    def annotation(self) -> str:
        return f"{PREFIX}{self.action}"


@dataclass(frozen=True)
class EmitEvent:
    """Post a Kubernetes Event about the Release."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Action = (
    EnsureRevision
    | ScaleRevision
    | Route
    | SetWeights
    | DeleteRevision
    | RunHook
    | DeleteHookJobs
    | RunAnalysis
    | AcknowledgeAction
    | EmitEvent
)
WRITES = (
    EnsureRevision,
    ScaleRevision,
    SetWeights,
    DeleteRevision,
    RunHook,
    DeleteHookJobs,
    AcknowledgeAction,
)
"""Actions that change the cluster (as opposed to reading metrics or reporting). A plain Route is not
one: it restates the routing the status records, and writes only where someone changed it."""

"""What `decide` asks the shell to do: plain data, carried out in list order.

Every action is safe to repeat (each states a desired end, not a change), so a shell that crashes
half-way can carry the same list out again. Revisions are named by their hash; the shell names the
Deployment `<release>-<revision>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from slipway.api.annotations import PREFIX


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
class SetWeights:
    """Route traffic: percentage per revision, always summing to 100, never >0 to an unready revision."""

    weights: Mapping[str, int]


@dataclass(frozen=True)
class DeleteRevision:
    """Delete a revision's Deployment; it gets no traffic any more."""

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
    EnsureRevision | ScaleRevision | SetWeights | DeleteRevision | RunAnalysis | AcknowledgeAction | EmitEvent
)
WRITES = (EnsureRevision, ScaleRevision, SetWeights, DeleteRevision, AcknowledgeAction)
"""Actions that change the cluster (as opposed to reading metrics or reporting)."""

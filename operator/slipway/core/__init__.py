"""The pure core: the Release state machine. No I/O, no clock reads, no randomness.

The shell's whole interface:
    decide(spec, status, observations, now) -> Decision(status, actions, requeue_after_seconds)
with `Observations` (what the cluster looks like), the actions in `slipway.core.actions`, and
`revision_hash(template, version)`, which names each revision's Deployment `<release>-<hash>`.
"""

from slipway.core.actions import (
    WRITES,
    AcknowledgeAction,
    Action,
    DeleteRevision,
    EmitEvent,
    EnsureRevision,
    RunAnalysis,
    ScaleRevision,
    SetWeights,
)
from slipway.core.machine import Decision, decide
from slipway.core.measurement import RawMeasurement
from slipway.core.observations import FiringAlert, Observations, ObservedRevision
from slipway.core.revision import revision_hash

__all__ = [
    "WRITES",
    "AcknowledgeAction",
    "Action",
    "Decision",
    "DeleteRevision",
    "EmitEvent",
    "EnsureRevision",
    "FiringAlert",
    "Observations",
    "ObservedRevision",
    "RawMeasurement",
    "RunAnalysis",
    "ScaleRevision",
    "SetWeights",
    "decide",
    "revision_hash",
]

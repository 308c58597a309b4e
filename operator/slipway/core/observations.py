"""What the shell observed in the cluster since the last call to `decide`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from slipway.api.status import HookStage, ReleaseStatus
from slipway.core.measurement import RawMeasurement
from slipway.core.obstacles import Obstacle


@dataclass(frozen=True)
class ObservedRevision:
    """One Deployment of the Release, as the API server reports it.

    `replicas` is the Deployment's spec.replicas (what was asked for, so a write shows up at once);
    `ready_replicas` is its status.readyReplicas (what serves).
    """

    replicas: int
    ready_replicas: int


@dataclass(frozen=True)
class ObservedHookJob:
    """One hook Job of the Release (spec.hooks), as the API server reports it: which hook, revision and
    attempt it runs, its name, and whether it is Running, Succeeded or Failed (with why)."""

    stage: HookStage
    hook: str
    revision: str
    attempt: int
    job: str
    outcome: Literal["Running", "Succeeded", "Failed"]
    message: str = ""


@dataclass(frozen=True)
class FiringAlert:
    """An alert that is firing and matches the Release's rollback.alerts selector (from an alert
    source such as Alertmanager): its name, its summary annotation, when it started, and the revision
    it is about when it names one (its `revision` label, as the generated alert rules set)."""

    name: str
    summary: str = ""
    starts_at: datetime | None = None
    revision: str | None = None


@dataclass(frozen=True)
class Upstream:
    """The Release that spec.promotion.from names, as the shell found it.

    - `own`, `ref`: this Release and the upstream, as `namespace/name` (the name defaulted already).
    - `status`: the upstream's status; None when it has written none yet or could not be read.
    - `unreadable`: why it could not be read (not found, forbidden); None when it was.
    - `chain`: the Releases further up (the upstream's own upstream, and so on), nearest first, as far as
      the shell followed them: enough to see a cycle.
    """

    own: str
    ref: str
    status: ReleaseStatus | None = None
    unreadable: str | None = None
    chain: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observations:
    """The inputs of one `decide` call besides spec, status and time.

    - `generation`: metadata.generation of the Release.
    - `annotations`: the manual-action annotations present, full key (`slipway.dev/promote`) -> value.
    - `revisions`: the Deployments the Release owns, by revision hash (label slipway.dev/revision).
    - `measurements`: raw measurements taken since the last call (older or repeated ones are ignored).
    - `alerts`: firing alerts for this Release that match its rollback.alerts selector.
    - `alerts_unknown`: why the alerts could not be asked (Alertmanager unreachable); None when known.
    - `obstacles`: what stands in the way of carrying out the spec (the models' complaints, or what this
      operator's config cannot do); any obstacle refuses the generation.
    - `upstream`: the Release spec.promotion.from names; None without spec.promotion (or when the shell
      could not look: the gate then stays closed).
    - `hook_jobs`: the hook Jobs the Release owns (spec.hooks), whatever their revision.
    - `routing_drift`: the routing objects (`Kind name`) that do not hold what the routing the last
      status records asks for: a write not seen yet, an admission webhook or a person changed one, or
      it was deleted. The pass's Route puts them back; the rollout does not move on meanwhile.
    """

    generation: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    revisions: Mapping[str, ObservedRevision] = field(default_factory=dict)
    measurements: tuple[RawMeasurement, ...] = ()
    alerts: tuple[FiringAlert, ...] = ()
    alerts_unknown: str | None = None
    obstacles: tuple[Obstacle, ...] = ()
    upstream: Upstream | None = None
    hook_jobs: tuple[ObservedHookJob, ...] = ()
    routing_drift: tuple[str, ...] = ()

"""Replica-ratio routing: traffic split by pod counts behind plain Services (no mesh, no gateway).

How the split is realised, honestly:
- `<name>` (the stable Service) selects by revision while one revision takes everything, and by the
  operator's pod label alone (`slipway.dev/pod-of`, on revision pods only: never on Job pods nor on
  anyone else's) while a split is in progress, so it spreads requests over the ready pods of both
  revisions: the canary's share is canary pods / all ready pods.
- Stable keeps its full replica count until promotion (invariant 3), so a canary weight w is realised
  by k canary pods with k/(N+k) as close to w as whole pods allow: k = round(N*w/(100-w)), at least
  1 and at most N (the canary strategy's `canary_pods_for_weight` sizes the canary: pod counts are the
  core's business).
  A weight of 100 switches the stable Service's selector to the canary revision: one write; the same
  single write sends everything back to stable on rollback.
- The realised share is therefore a step function of the weight (N=4: 10% -> 1 pod = 20%, 50% -> 4
  pods = 50%); above 50% it stays at 50% until promotion. Use a traffic router for exact weights.
- `<name>-canary` always selects the canary revision (or stable when there is none), for previews.
- It can express no match route and no mirror: a Release asking for one is refused.
"""

from __future__ import annotations

from slipway.manifests import Obj, ReleaseRef
from slipway.routers.base import WEIGHTS_ONLY, RouterPlugin, ServicePorts, TrafficSplit, revision_services


class ReplicaRouter:
    name = "replicas"
    capabilities = WEIGHTS_ONLY  # a Service selects pods: it reads no header and copies no request

    def plan(self, release: ReleaseRef, split: TrafficSplit, ports: ServicePorts) -> tuple[Obj, ...]:
        stable, canary = revision_services(release, split, ports)
        if split.canary is not None and split.canary_weight == 100:
            stable["spec"]["selector"] = split.selector(release, split.canary)
        elif split.canary is not None and split.canary_weight > 0:
            stable["spec"]["selector"] = split.both_selector(release)
        return stable, canary


# Used when spec.trafficRouting is omitted; it writes only the Services, which the core's rules cover.
PLUGIN = RouterPlugin(key=None, spec=None, build=lambda _: ReplicaRouter(), collections={}, rules=())

"""Gateway API HTTPRoutes: the first rule with backendRefs splits traffic by their weights."""

from __future__ import annotations

from slipway_dev.controllers.client import HTTPROUTES, JsonObject
from slipway_dev.traffic import ServiceKey, WeightedRouteSource


class HTTPRouteSource(WeightedRouteSource):
    resource = HTTPROUTES
    prefix = "httproute"

    def weighted_services(self, obj: JsonObject) -> list[tuple[ServiceKey, int]]:
        namespace = obj["metadata"].get("namespace", "")
        for rule in obj.get("spec", {}).get("rules") or []:
            refs = [
                ref
                for ref in rule.get("backendRefs") or []
                if ref.get("kind", "Service") == "Service" and ref.get("group", "") in ("", "core")
            ]
            if refs:
                return [
                    ((ref.get("namespace", namespace), ref["name"]), int(ref.get("weight", 1)))
                    for ref in refs
                ]
        return []

"""`kubectl slipway pipeline`: the chain of environments a Release belongs to, as one line per path.

Pure: a function of the Releases the API server returns (every namespace) and `now`. A chain runs from
the top (a Release with no spec.promotion, or whose upstream is missing) down through every Release whose
spec.promotion.from names the one before, e.g.

    dev v3 Healthy → staging v3 Progressing 40% (from v2) → prod v2 (v3 waiting: soaking 12m/30m)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from slipway.api.durations import parse_duration
from slipway.cli._plugin_view import human_duration, parse_time, text_of

Obj = Mapping[str, Any]
Key = tuple[str, str]

ARROW: Final = " → "
MAX_LINKS: Final = 16
"""A cycle (refused by the operator) is drawn once round, not forever."""


def _key(release: Obj) -> Key:
    meta = release.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def upstream_of(release: Obj) -> Key | None:
    """The (namespace, name) the Release's spec.promotion.from names; its own name by default."""
    source = ((release.get("spec") or {}).get("promotion") or {}).get("from") or {}
    namespace = source.get("namespace")
    if not isinstance(namespace, str):
        return None
    return namespace, str(source.get("name") or _key(release)[1])


def chains(releases: Iterable[Obj], namespace: str, name: str) -> list[list[Obj]]:
    """Every path from the top of the chain through the Release `namespace/name` to a last downstream."""
    by_key = {_key(release): release for release in releases}
    if (namespace, name) not in by_key:
        return []
    downstream: dict[Key, list[Key]] = {}
    for key, release in sorted(by_key.items()):
        above = upstream_of(release)
        if above is not None:
            downstream.setdefault(above, []).append(key)
    top = (namespace, name)
    seen = {top}
    for _ in range(MAX_LINKS):
        above = upstream_of(by_key[top])
        if above is None or above not in by_key or above in seen:
            break
        top = above
        seen.add(top)
    paths: list[list[Key]] = []

    def walk(path: list[Key]) -> None:
        below = [key for key in downstream.get(path[-1], []) if key not in path]
        if not below or len(path) >= MAX_LINKS:
            paths.append(path)
        for key in below:
            walk([*path, key])

    walk([top])
    return [[by_key[key] for key in path] for path in paths if (namespace, name) in path]


def environment(release: Obj, now: datetime) -> str:
    """One environment: namespace, stable version and phase, the version in flight, the gate's wait."""
    status = release.get("status") or {}
    spec = release.get("spec") or {}
    namespace = _key(release)[0]
    stable = (status.get("stable") or {}).get("version")
    canary = status.get("canary") or {}
    phase = text_of(status.get("phase"))
    promotion = status.get("promotion") or {}
    if phase == "Paused" and promotion.get("gate") == "Closed":
        wanted = text_of(promotion.get("version") or spec.get("version"))
        return f"{namespace} {text_of(stable)} ({wanted} waiting: {_wait(release, now)})"
    if canary.get("version"):
        weight = canary.get("weight", 0)
        return f"{namespace} {canary['version']} {phase} {weight}% (from {text_of(stable)})"
    return f"{namespace} {text_of(stable)} {phase}"


def _wait(release: Obj, now: datetime) -> str:
    promotion = (release.get("status") or {}).get("promotion") or {}
    reason = promotion.get("reason")
    if reason == "Soaking":
        since = parse_time(promotion.get("upstreamHealthySince"))
        soak_text = ((release.get("spec") or {}).get("promotion") or {}).get("soak") or "0s"
        try:
            soak = human_duration(parse_duration(soak_text))
        except ValueError:
            soak = soak_text
        so_far = human_duration((now - since).total_seconds()) if since else "?"
        return f"soaking {so_far}/{soak}"
    if reason == "WaitingForApproval":
        return "needs approval"
    if reason == "OutsideWindow":
        opens = parse_time(promotion.get("nextWindow"))
        return (
            f"outside window, opens in {human_duration((opens - now).total_seconds())}" if opens else reason
        )
    return f"not verified in {text_of(promotion.get('upstream'))}"


def pipeline_lines(releases: Iterable[Obj], namespace: str, name: str, now: datetime) -> list[str]:
    return [
        ARROW.join(environment(release, now) for release in chain)
        for chain in chains(releases, namespace, name)
    ]

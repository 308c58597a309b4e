"""How Argo CD and Flux judge a Release: Argo CD's Lua health check run as Argo CD runs it, and kstatus'
generic rules (what Flux's `wait` and `healthChecks` use) written out in Python.

Both read the snapshots under the health check's testdata/, captured from real runs by
capture_snapshots.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from lupa import lua51  # Argo CD's interpreter (gopher-lua) speaks Lua 5.1

ROOT = Path(__file__).resolve().parents[2]
RELEASE_CHECK = ROOT / "gitops" / "argocd" / "resource_customizations" / "slipway.dev" / "Release"
HEALTH_LUA = RELEASE_CHECK / "health.lua"
HEALTH_TEST = RELEASE_CHECK / "health_test.yaml"
TESTDATA = RELEASE_CHECK / "testdata"

ARGOCD_STATUSES = frozenset({"Healthy", "Progressing", "Suspended", "Degraded", "Missing", "Unknown"})


class _KubernetesYaml(yaml.SafeLoader):
    """YAML as Kubernetes reads it (JSON underneath): a timestamp stays a string."""


_KubernetesYaml.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_object(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_KubernetesYaml)
    return loaded


def snapshots() -> dict[str, dict[str, Any]]:
    """Every captured Release, by file name without `.yaml`."""
    return {path.stem: load_object(path) for path in sorted(TESTDATA.glob("*.yaml"))}


def argocd_health(obj: dict[str, Any], script: str | None = None) -> tuple[str, str]:
    """(status, message) as Argo CD computes them: a Lua 5.1 state with only the libraries Argo CD opens
    in production (base, table, package and a safe os; no string, math or io), the object as the global
    `obj`, and the table the script returns; a status Argo CD does not know becomes Unknown."""
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=False)
    lua.execute(
        """
        local time, clock, date = os.time, os.clock, os.date
        string, math, io, debug, coroutine = nil, nil, nil, nil, nil
        os = {time = time, clock = clock, date = date}
        getmetatable("").__index = nil  -- no ("text"):find() either: that is the string library too
        """
    )
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script if script is not None else HEALTH_LUA.read_text())
    if lua51.lua_type(result) != "table":
        raise AssertionError(f"the health check returned {result!r}, not a table")
    status, message = result["status"], result["message"]
    if status not in ARGOCD_STATUSES:
        return "Unknown", "The health status is invalid"
    return str(status), "" if message is None else str(message)


def kstatus(obj: dict[str, Any], ready_fallback: bool = True) -> tuple[str, str]:
    """(status, message) by kstatus' generic rules for a custom resource (sigs.k8s.io/cli-utils,
    pkg/kstatus/status: generic.go `checkGenericProperties`, `checkGeneration`; status.go `Compute`),
    the rules Flux's kustomize-controller applies to a kind it has no reader for:

    1. metadata.deletionTimestamp set: Terminating;
    2. status.observedGeneration present and not metadata.generation: InProgress (an absent one is no
       evidence either way, so a Release with no status at all passes this rule);
    3. the first condition that is Reconciling=True (InProgress) or Stalled=True (Failed), in list order;
    4. with `ready_fallback` (the kstatus Flux vendors, fluxcd/cli-utils; older upstream versions lack
       it): a Ready condition, True Current, False or Unknown InProgress;
    5. otherwise Current: no status at all, or none of those conditions, counts as Current.
    """
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if metadata.get("deletionTimestamp"):
        return "Terminating", "Resource scheduled for deletion"
    generation, observed = metadata.get("generation"), status.get("observedGeneration")
    if generation is not None and observed is not None and observed != generation:
        kind = obj.get("kind", "")
        return (
            "InProgress",
            f"{kind} generation is {generation}, but latest observed generation is {observed}",
        )
    conditions = status.get("conditions") or []
    for condition in conditions:
        if (condition.get("type"), condition.get("status")) == ("Reconciling", "True"):
            return "InProgress", condition.get("message", "")
        if (condition.get("type"), condition.get("status")) == ("Stalled", "True"):
            return "Failed", condition.get("message", "")
    ready = next((c for c in conditions if c.get("type") == "Ready"), None) if ready_fallback else None
    if ready is not None and ready.get("status") in ("False", "Unknown"):
        return "InProgress", ready.get("message", "")
    if ready is not None and ready.get("status") == "True":
        return "Current", "Resource is Ready"
    return "Current", "Resource is current"

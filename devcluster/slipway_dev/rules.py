"""PrometheusRule objects as rule files for the dev cluster's Prometheus, as prometheus-operator does.

The cluster serves the upstream PrometheusRule CRD (`data/`, installed at start); each object becomes
one file `<namespace>_<name>.yml` holding its `spec.groups` (a PrometheusRule's spec is a rule file).
A file Prometheus would reject (`promtool check rules`) is left out, so one bad object cannot stop the
others from loading; Prometheus is told to reload (`reload`, a SIGHUP) whenever the files change.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from slipway_dev.controllers.client import JsonObject, Resource
from slipway_dev.controllers.runtime import Informers, cancel_all
from slipway_dev.packaged import packaged_objects

PROMETHEUS_RULES = Resource("monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule")
RULE_FILE_GLOB = "*.yml"


def prometheus_rule_crd() -> dict[str, Any]:
    """The upstream PrometheusRule CustomResourceDefinition, kept as data in this package."""
    (crd,) = packaged_objects("prometheusrules.monitoring.coreos.com.yaml")
    return crd


# libyaml's emitter when PyYAML was built with it: the same text, several times faster.
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
RULES_EVERY_SECONDS = 1.0
"""The rule files are written, and Prometheus reloads them, at most this often: at 1,000 Releases in
a rollout some rule changes every few milliseconds, and each reload reads every file again."""


def rule_file_name(rule: JsonObject) -> str:
    meta = rule["metadata"]
    return f"{meta['namespace']}_{meta['name']}.yml"


def rule_file(rule: JsonObject) -> str:
    """The rule file text of one PrometheusRule: its `spec.groups`."""
    groups = (rule.get("spec") or {}).get("groups") or []
    return yaml.dump({"groups": groups}, Dumper=_DUMPER, sort_keys=False)


class RenderedRules:
    """File name -> rule file text for every PrometheusRule, rendered again only for objects whose
    resourceVersion changed: rendering all of them at each change was a quarter of the dev cluster's
    event loop with 1,000 Releases in a rollout (py-spy)."""

    def __init__(self) -> None:
        self._rendered: dict[str, tuple[str | None, str]] = {}

    def files(self, rules: list[JsonObject]) -> dict[str, str]:
        rendered = {}
        for rule in rules:
            name, version = rule_file_name(rule), rule["metadata"].get("resourceVersion")
            kept = self._rendered.get(name)
            rendered[name] = kept if kept is not None and kept[0] == version else (version, rule_file(rule))
        self._rendered = rendered
        return {name: text for name, (_, text) in rendered.items()}


def promtool_accepts(paths: list[Path]) -> bool:
    """Whether Prometheus would load all of these rule files; True when promtool is not installed."""
    promtool = shutil.which("promtool")
    if promtool is None or not paths:
        return True
    checked = subprocess.run([promtool, "check", "rules", *map(str, paths)], capture_output=True, check=False)
    return checked.returncode == 0


class RuleFilesWriter:
    """Keeps `directory` holding one rule file per PrometheusRule, and calls `reload` after a change."""

    def __init__(self, informers: Informers, directory: Path, reload: Callable[[], None]) -> None:
        self.directory = directory
        self.rules = informers.get(PROMETHEUS_RULES)
        self._reload = reload
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.rules.subscribe(lambda _kind, _rule: self._changed.set())

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_all([self._task])

    async def _run(self) -> None:
        written: dict[str, str] = {}
        rendered = RenderedRules()
        while True:
            await self._changed.wait()
            self._changed.clear()
            wanted = rendered.files(self.rules.objects())
            if wanted != written:
                await asyncio.to_thread(self._write, wanted, written)
                written = wanted
                self._reload()
            await asyncio.sleep(RULES_EVERY_SECONDS)

    def _write(self, wanted: dict[str, str], written: dict[str, str]) -> None:
        for name in written.keys() - wanted.keys():
            (self.directory / name).unlink(missing_ok=True)
        # Checked under another suffix, so Prometheus's glob never reads a file promtool refuses; all in
        # one promtool run (a thousand Releases start with a thousand files), one by one only on refusal.
        changed = {
            name: self.directory / f"{name}.check"
            for name, text in wanted.items()
            if written.get(name) != text
        }
        for name, candidate in changed.items():
            candidate.write_text(wanted[name])
        all_good = promtool_accepts(list(changed.values()))
        for name, candidate in changed.items():
            if all_good or promtool_accepts([candidate]):
                os.replace(candidate, self.directory / name)
            else:
                (self.directory / name).unlink(missing_ok=True)
                candidate.unlink()

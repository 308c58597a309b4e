"""Loading the plug-ins: the routers, the metric providers and the alert source.

Every entry point of the product (the controller, `slipway validate`/`plan`/`crd`, the tests) calls
`load()` before it reads a Release or the operator config: loading registers each plug-in's spec
section with slipway.api (the Release models and the CRD are assembled from them), each plug-in's
operator-config sections with slipway.runtime.config (the config file's model is assembled from them),
and each router's kinds with the kube client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slipway import podsecurity
from slipway.alerts import alertmanager
from slipway.alerts.alertmanager import AlertmanagerConfig
from slipway.api.models import Hooks, Metric, ReleaseSpec
from slipway.core.obstacles import UNSUPPORTED_ROUTING, Obstacle
from slipway.kube.client import add_routing_collections
from slipway.providers import registry as providers
from slipway.providers.base import ProviderPlugin
from slipway.rbac import OPERATOR_RULES, Rule
from slipway.routers import registry as routers
from slipway.runtime.config import OperatorConfig, PluginSection, register_section


def load() -> None:
    """Idempotent."""
    declared: list[tuple[type[PluginSection], ...]] = [
        *(plugin.config for plugin in providers.plugins().values()),
        (AlertmanagerConfig,),
    ]
    for section in dict.fromkeys(section for sections in declared for section in sections):
        register_section(section)
    add_routing_collections(routers.collections())


def workload_rules() -> tuple[Rule, ...]:
    """Everything the operator may do where Releases live: its own needs and every plug-in's."""
    return (*OPERATOR_RULES, *routers.rules(), *providers.rules())


def readiness(spec: ReleaseSpec, config: OperatorConfig) -> tuple[Obstacle, ...]:
    """Everything in a valid `spec` this operator cannot carry out with `config`: a match route or
    mirror its router cannot express; what each metric's provider and the alert source find, each
    with its own config sections; and every pod template the operator would create held to the
    config's Pod Security level. Empty when the operator can carry it out."""
    by_key = {plugin.key: plugin for plugin in providers.plugins().values()}
    metrics = spec.analysis.metrics if spec.analysis else []
    return (
        *(Obstacle(UNSUPPORTED_ROUTING, at, why) for at, why in routers.inexpressible_in(spec)),
        *(
            obstacle
            for index, metric in enumerate(metrics)
            for obstacle in _ready(by_key[metric.kind], metric, f"spec.analysis.metrics[{index}]", config)
        ),
        *alertmanager.ready(spec, config.section(AlertmanagerConfig)),
        *(
            obstacle
            for at, template in pod_templates(spec)
            for obstacle in podsecurity.check_template(template, at, config.pod_security)
        ),
    )


def pod_templates(spec: ReleaseSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, template) of every pod template `spec` makes the operator create: its revisions', its
    hooks' and its metrics' (each provider names its own)."""
    yield "spec.template", spec.template
    for stage, field in Hooks.model_fields.items():
        for index, hook in enumerate(getattr(spec.hooks, stage) if spec.hooks else []):
            yield f"spec.hooks.{field.alias or stage}[{index}].template", hook.template
    by_key = {plugin.key: plugin for plugin in providers.plugins().values()}
    for index, metric in enumerate(spec.analysis.metrics if spec.analysis else []):
        for below, template in by_key[metric.kind].pod_templates(metric):
            yield f"spec.analysis.metrics[{index}].{metric.kind}{below}", template


def _ready(plugin: ProviderPlugin, metric: Metric, at: str, config: OperatorConfig) -> tuple[Obstacle, ...]:
    return plugin.readiness(metric, at, config.sections(plugin.config))

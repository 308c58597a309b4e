"""Loading the plug-ins: the routers, the metric providers and the alert source.

Every entry point of the product (the controller, `slipway validate`/`plan`/`crd`, the tests) calls
`load()` before it reads a Release or the operator config: loading registers each plug-in's spec
section with slipway.api (the Release models and the CRD are assembled from them), each plug-in's
operator-config sections with slipway.runtime.config (the config file's model is assembled from them),
and each router's kinds with the kube client.
"""

from __future__ import annotations

from slipway.alerts import alertmanager
from slipway.alerts.alertmanager import AlertmanagerConfig
from slipway.api.models import Metric, ReleaseSpec
from slipway.core.obstacles import Obstacle
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
    """Everything in a valid `spec` this operator cannot carry out with `config`: each metric's
    provider and the alert source check their own part, with their own config sections. Empty when
    the operator can carry it out."""
    by_key = {plugin.key: plugin for plugin in providers.plugins().values()}
    metrics = spec.analysis.metrics if spec.analysis else []
    return (
        *(
            obstacle
            for index, metric in enumerate(metrics)
            for obstacle in _ready(by_key[metric.kind], metric, f"spec.analysis.metrics[{index}]", config)
        ),
        *alertmanager.ready(spec, config.section(AlertmanagerConfig)),
    )


def _ready(plugin: ProviderPlugin, metric: Metric, at: str, config: OperatorConfig) -> tuple[Obstacle, ...]:
    return plugin.readiness(metric, at, config.sections(plugin.config))

"""A table of wrong Releases, each with the field its rejection must name.

Every case is a valid Release (`valid_release()`) with a few changes, written as
`{"spec.strategy.canary.steps[0].setWeight": 150}`; `REMOVE` deletes a field. The same table is run
through `slipway validate` and through the API server's schema enforcement of the generated CRD.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Final

REMOVE: Final = object()


def valid_release() -> dict[str, Any]:
    """A canary Release using most of the API; every case below starts from it."""
    return {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "version": "2.4.1",
            "replicas": 4,
            "template": {"spec": {"containers": [{"name": "web", "image": "example/web:2.4.1"}]}},
            "service": {"port": 80, "targetPort": 8080},
            "strategy": {
                "canary": {
                    "steps": [
                        {"setWeight": 10},
                        {"pause": {"duration": "2m"}},
                        {"analysis": {"successfulMeasurements": 3, "metrics": ["error-rate"]}},
                        {"setWeight": 50},
                        {"pause": {}},
                    ]
                }
            },
            "trafficRouting": {
                "gatewayAPI": {"parentRefs": [{"name": "public"}], "hostnames": ["web.example"]}
            },
            "analysis": {
                "interval": "30s",
                "metrics": [
                    {"name": "error-rate", "builtin": "error-rate"},
                    {
                        "name": "checkout-p95",
                        "prometheus": {"query": "histogram_quantile(0.95, x{revision='{{revision}}'})"},
                        "thresholdRange": {"max": 0.5},
                    },
                ],
            },
            "rollback": {"alerts": {"matchLabels": {"severity": "critical"}}, "progressDeadlineSeconds": 600},
        },
    }


@dataclass(frozen=True)
class WrongRelease:
    """`changes` applied to the valid Release make it wrong; a rejection must name `field`."""

    case: str
    field: str
    changes: dict[str, Any] = field(default_factory=dict)
    # The API server prunes unknown fields silently; only strict field validation reports them.
    pruned_by_server: bool = False
    # What no CRD rule can see (CEL is given metadata.name, never metadata.namespace): only
    # `slipway validate` and the operator catch it.
    offline_only: bool = False

    def manifest(self) -> dict[str, Any]:
        release = valid_release()
        release["metadata"]["name"] = self.case
        for path, value in self.changes.items():
            _set(release, path, value)
        return release


_PART: Final = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    keys: list[str | int] = [name if name else int(index) for name, index in _PART.findall(path)]
    parent: Any = document
    for key in keys[:-1]:
        parent = parent[key]
    if value is REMOVE:
        del parent[keys[-1]]
    else:
        parent[keys[-1]] = copy.deepcopy(value)


STEPS: Final = "spec.strategy.canary.steps"
METRICS: Final = "spec.analysis.metrics"
PROMOTION: Final = {"from": {"namespace": "staging"}}
COOKIE: Final = {"name": "beta", "value": {"exact": "always"}}
HOOK: Final = {"name": "migrate", "template": {"spec": {"containers": [{"name": "m", "image": "example/m"}]}}}

WRONG_RELEASES: Final = [
    WrongRelease("no-spec", "spec", {"spec": REMOVE}),
    WrongRelease("replicas-a-string", "spec.replicas", {"spec.replicas": "four"}),
    WrongRelease("replicas-quoted-number", "spec.replicas", {"spec.replicas": "4"}),
    WrongRelease("replicas-negative", "spec.replicas", {"spec.replicas": -1}),
    WrongRelease("version-missing", "spec.version", {"spec.version": REMOVE}),
    WrongRelease("version-empty", "spec.version", {"spec.version": ""}),
    WrongRelease("version-a-number", "spec.version", {"spec.version": 2}),
    WrongRelease("version-not-a-label-value", "spec.version", {"spec.version": "2.4.1 beta"}),
    WrongRelease("template-missing", "spec.template", {"spec.template": REMOVE}),
    WrongRelease("no-containers", "spec.template.spec.containers", {"spec.template.spec.containers": []}),
    WrongRelease(
        "container-without-image",
        "spec.template.spec.containers[0].image",
        {"spec.template.spec.containers[0].image": REMOVE},
    ),
    WrongRelease("service-port-zero", "spec.service.port", {"spec.service.port": 0}),
    WrongRelease("service-port-too-big", "spec.service.port", {"spec.service.port": 70000}),
    WrongRelease("target-port-bad-name", "spec.service.targetPort", {"spec.service.targetPort": "Web_Port"}),
    WrongRelease("two-strategies", "spec.strategy", {"spec.strategy.rolling": {"maxSurge": 1}}),
    WrongRelease("no-strategy", "spec.strategy", {"spec.strategy": {}}),
    WrongRelease("weight-over-100", f"{STEPS}[3].setWeight", {f"{STEPS}[3].setWeight": 150}),
    WrongRelease("weight-negative", f"{STEPS}[0].setWeight", {f"{STEPS}[0].setWeight": -5}),
    WrongRelease("weight-a-string", f"{STEPS}[0].setWeight", {f"{STEPS}[0].setWeight": "10%"}),
    WrongRelease("step-with-two-kinds", f"{STEPS}[0]", {f"{STEPS}[0]": {"setWeight": 10, "pause": {}}}),
    WrongRelease("unknown-step-kind", f"{STEPS}[1]", {f"{STEPS}[1]": {"wait": {"duration": "1m"}}}),
    WrongRelease("empty-step", f"{STEPS}[4]", {f"{STEPS}[4]": {}}),
    WrongRelease("no-steps", STEPS, {STEPS: []}),
    WrongRelease("negative-duration", f"{STEPS}[1].pause.duration", {f"{STEPS}[1].pause.duration": "-5s"}),
    WrongRelease(
        "duration-in-words", f"{STEPS}[1].pause.duration", {f"{STEPS}[1].pause.duration": "2 minutes"}
    ),
    WrongRelease(
        "duration-without-unit", f"{STEPS}[1].pause.duration", {f"{STEPS}[1].pause.duration": "120"}
    ),
    WrongRelease("duration-a-number", f"{STEPS}[1].pause.duration", {f"{STEPS}[1].pause.duration": 120}),
    WrongRelease("interval-zero", "spec.analysis.interval", {"spec.analysis.interval": "0s"}),
    WrongRelease("interval-in-days", "spec.analysis.interval", {"spec.analysis.interval": "1d"}),
    WrongRelease(
        "gate-needs-one-measurement",
        f"{STEPS}[2].analysis.successfulMeasurements",
        {f"{STEPS}[2].analysis.successfulMeasurements": 0},
    ),
    WrongRelease("empty-metric-list", METRICS, {METRICS: []}),
    WrongRelease("metric-without-provider", f"{METRICS}[0]", {f"{METRICS}[0]": {"name": "error-rate"}}),
    WrongRelease("metric-with-two-providers", f"{METRICS}[0]", {f"{METRICS}[0].prometheus": {"query": "up"}}),
    WrongRelease("duplicate-metric-names", f"{METRICS}[1]", {f"{METRICS}[1].name": "error-rate"}),
    WrongRelease("metric-name-not-dns", f"{METRICS}[0].name", {f"{METRICS}[0].name": "Error_Rate"}),
    WrongRelease("unknown-builtin", f"{METRICS}[0].builtin", {f"{METRICS}[0].builtin": "cpu"}),
    WrongRelease(
        "threshold-without-bounds", f"{METRICS}[0].thresholdRange", {f"{METRICS}[0].thresholdRange": {}}
    ),
    WrongRelease(
        "threshold-min-over-max",
        f"{METRICS}[1].thresholdRange",
        {f"{METRICS}[1].thresholdRange": {"min": 1, "max": 0.5}},
    ),
    WrongRelease(
        "prometheus-without-threshold",
        f"{METRICS}[1].thresholdRange",
        {f"{METRICS}[1].thresholdRange": REMOVE},
    ),
    WrongRelease("empty-query", f"{METRICS}[1].prometheus.query", {f"{METRICS}[1].prometheus.query": ""}),
    WrongRelease("unknown-on-no-data", f"{METRICS}[0].onNoData", {f"{METRICS}[0].onNoData": "ignore"}),
    WrongRelease("negative-failure-limit", f"{METRICS}[0].failureLimit", {f"{METRICS}[0].failureLimit": -1}),
    WrongRelease(
        "web-metric-not-http",
        f"{METRICS}[1].web.url",
        {
            f"{METRICS}[1]": {
                "name": "w",
                "web": {"url": "ftp://x", "jsonPath": "$.v"},
                "thresholdRange": {"max": 1},
            }
        },
    ),
    WrongRelease(
        "job-metric-without-template",
        f"{METRICS}[1].job.template",
        {f"{METRICS}[1]": {"name": "j", "job": {}}},
    ),
    WrongRelease("analysis-step-without-analysis", STEPS, {"spec.analysis": REMOVE}),
    WrongRelease(
        "analysis-step-unknown-metric", STEPS, {f"{STEPS}[2].analysis.metrics": ["error-rate", "throughput"]}
    ),
    WrongRelease(
        "blue-green-analysis-without-analysis",
        "spec.strategy.blueGreen",
        {"spec.strategy": {"blueGreen": {"prePromotionAnalysis": True}}, "spec.analysis": REMOVE},
    ),
    WrongRelease(
        "blue-green-negative-delay",
        "spec.strategy.blueGreen.scaleDownDelaySeconds",
        {"spec.strategy": {"blueGreen": {"scaleDownDelaySeconds": -30}}},
    ),
    WrongRelease(
        "rolling-surge-not-a-percentage",
        "spec.strategy.rolling.maxSurge",
        {"spec.strategy": {"rolling": {"maxSurge": "a quarter"}}},
    ),
    WrongRelease(
        "rolling-cannot-progress",
        "spec.strategy.rolling.maxUnavailable",
        {"spec.strategy": {"rolling": {"maxSurge": 0, "maxUnavailable": "0%"}}},
    ),
    WrongRelease(
        "rolling-both-zero",
        "spec.strategy.rolling.maxUnavailable",
        {"spec.strategy": {"rolling": {"maxSurge": 0, "maxUnavailable": 0}}},
    ),
    WrongRelease(
        "rolling-surge-negative",
        "spec.strategy.rolling.maxSurge",
        {"spec.strategy": {"rolling": {"maxSurge": -1}}},
    ),
    WrongRelease(
        "rolling-unavailable-over-100-percent",
        "spec.strategy.rolling.maxUnavailable",
        {"spec.strategy": {"rolling": {"maxSurge": 1, "maxUnavailable": "150%"}}},
    ),
    WrongRelease(
        "canary-and-blue-green", "spec.strategy", {"spec.strategy.blueGreen": {"autoPromotion": False}}
    ),
    WrongRelease("strategy-name-typo", "spec.strategy", {"spec.strategy": {"bluegreen": {}}}),
    WrongRelease("step-kind-typo", f"{STEPS}[0]", {f"{STEPS}[0]": {"setweight": 10}}),
    WrongRelease("weight-a-fraction", f"{STEPS}[0].setWeight", {f"{STEPS}[0].setWeight": 12.5}),
    WrongRelease(
        "duration-unknown-unit", f"{STEPS}[1].pause.duration", {f"{STEPS}[1].pause.duration": "2min"}
    ),
    WrongRelease("interval-negative", "spec.analysis.interval", {"spec.analysis.interval": "-30s"}),
    WrongRelease(
        "blue-green-negative-wait",
        "spec.strategy.blueGreen.autoPromotionSeconds",
        {"spec.strategy": {"blueGreen": {"autoPromotionSeconds": -1}}},
    ),
    WrongRelease(
        "threshold-a-string",
        f"{METRICS}[1].thresholdRange.max",
        {f"{METRICS}[1].thresholdRange.max": "0.5"},
    ),
    WrongRelease("metric-without-name", f"{METRICS}[1].name", {f"{METRICS}[1].name": REMOVE}),
    WrongRelease("routing-names-no-router", "spec.trafficRouting", {"spec.trafficRouting": {}}),
    WrongRelease(
        "gateway-without-parents",
        "spec.trafficRouting.gatewayAPI.parentRefs",
        {"spec.trafficRouting.gatewayAPI.parentRefs": []},
    ),
    WrongRelease("nginx-without-host", "spec.trafficRouting.nginx.host", {"spec.trafficRouting.nginx": {}}),
    WrongRelease(
        "deadline-zero", "spec.rollback.progressDeadlineSeconds", {"spec.rollback.progressDeadlineSeconds": 0}
    ),
    WrongRelease(
        "unknown-deadline-action",
        "spec.rollback.onProgressDeadline",
        {"spec.rollback.onProgressDeadline": "wait"},
    ),
    WrongRelease(
        "alerts-without-labels", "spec.rollback.alerts.matchLabels", {"spec.rollback.alerts.matchLabels": {}}
    ),
    WrongRelease("misspelt-field", "spec.replica", {"spec.replica": 3}, pruned_by_server=True),
    WrongRelease(
        "misspelt-metric-field",
        f"{METRICS}[0].failurelimit",
        {f"{METRICS}[0].failurelimit": 2},
        pruned_by_server=True,
    ),
    WrongRelease(
        "promotion-from-itself",
        "spec.promotion.from",
        {"spec.promotion": {"from": {"namespace": "shop"}}},
        offline_only=True,
    ),
    WrongRelease(
        "hook-without-template",
        "spec.hooks.preDeploy[0].template",
        {"spec.hooks": {"preDeploy": [{"name": "migrate"}]}},
    ),
    WrongRelease(
        "hook-duplicate-names", "spec.hooks.postDeploy[1]", {"spec.hooks": {"postDeploy": [HOOK, HOOK]}}
    ),
    WrongRelease(
        "hook-timeout-unparsable",
        "spec.hooks.preDeploy[0].timeout",
        {"spec.hooks": {"preDeploy": [{**HOOK, "timeout": "ten minutes"}]}},
    ),
    WrongRelease(
        "hook-timeout-zero",
        "spec.hooks.postRollback[0].timeout",
        {"spec.hooks": {"postRollback": [{**HOOK, "timeout": "0s"}]}},
    ),
    WrongRelease(
        "promotion-without-namespace", "spec.promotion.from.namespace", {"spec.promotion": {"from": {}}}
    ),
    WrongRelease(
        "promotion-soak-negative", "spec.promotion.soak", {"spec.promotion": {**PROMOTION, "soak": "-5m"}}
    ),
    WrongRelease(
        "promotion-soak-unparsable",
        "spec.promotion.soak",
        {"spec.promotion": {**PROMOTION, "soak": "half an hour"}},
    ),
    WrongRelease(
        "promotion-approval-unknown",
        "spec.promotion.approval",
        {"spec.promotion": {**PROMOTION, "approval": "maybe"}},
    ),
    WrongRelease(
        "promotion-window-ends-before-start",
        "spec.promotion.windows[0].end",
        {"spec.promotion": {**PROMOTION, "windows": [{"days": ["Mon"], "start": "16:00", "end": "08:00"}]}},
    ),
    WrongRelease(
        "promotion-window-unknown-day",
        "spec.promotion.windows[0].days[1]",
        {
            "spec.promotion": {
                **PROMOTION,
                "windows": [{"days": ["Mon", "Funday"], "start": "08:00", "end": "16:00"}],
            }
        },
    ),
    WrongRelease(
        "promotion-window-bad-time",
        "spec.promotion.windows[0].start",
        {"spec.promotion": {**PROMOTION, "windows": [{"days": ["Mon"], "start": "8am", "end": "16:00"}]}},
    ),
    WrongRelease(
        "alert-rule-threshold-not-a-number",
        "spec.alertRules.highErrorRate.max",
        {"spec.alertRules": {"highErrorRate": {"max": "1%"}}},
    ),
    WrongRelease(
        "alert-rule-seconds-not-a-number",
        "spec.alertRules.highResponseTime.maxSeconds",
        {"spec.alertRules": {"highResponseTime": {"maxSeconds": "slow"}}},
    ),
    WrongRelease(
        "alert-rule-for-unparsable",
        "spec.alertRules.highResponseTime.for",
        {"spec.alertRules": {"highResponseTime": {"for": "five minutes"}}},
    ),
    # Issue 13: each of these was accepted, then every pass raised or the cluster was flooded.
    WrongRelease("name-too-long", "metadata.name", {"metadata.name": "a" * 53}),
    WrongRelease("name-with-a-dot", "metadata.name", {"metadata.name": "my.app"}),
    WrongRelease("name-starting-with-a-digit", "metadata.name", {"metadata.name": "1web"}),
    WrongRelease("replicas-too-many", "spec.replicas", {"spec.replicas": 1_000_000_000_000}),
    WrongRelease("history-limit-negative", "spec.revisionHistoryLimit", {"spec.revisionHistoryLimit": -1}),
    WrongRelease("history-limit-too-high", "spec.revisionHistoryLimit", {"spec.revisionHistoryLimit": 101}),
    WrongRelease(
        "deadline-overflowing",
        "spec.rollback.progressDeadlineSeconds",
        {"spec.rollback.progressDeadlineSeconds": 300_000_000_000},
    ),
    WrongRelease(
        "pause-overflowing",
        f"{STEPS}[1].pause.duration",
        {f"{STEPS}[1].pause.duration": "99999999999999999999999999999h"},
    ),
    WrongRelease("pause-over-a-year", f"{STEPS}[1].pause.duration", {f"{STEPS}[1].pause.duration": "8761h"}),
    WrongRelease("interval-below-a-second", "spec.analysis.interval", {"spec.analysis.interval": "1ms"}),
    WrongRelease("interval-over-a-day", "spec.analysis.interval", {"spec.analysis.interval": "25h"}),
    WrongRelease(
        "web-url-backslash-authority",
        f"{METRICS}[1].web.url",
        {
            f"{METRICS}[1]": {
                "name": "web",
                "web": {"url": "http://127.0.0.1:18290\\@127.0.0.1:18291/", "jsonPath": "$.v"},
                "thresholdRange": {"max": 1},
            }
        },
    ),
    WrongRelease(
        "web-url-port-out-of-range",
        f"{METRICS}[1].web.url",
        {
            f"{METRICS}[1]": {
                "name": "web",
                "web": {"url": "http://metrics:99999/", "jsonPath": "$.v"},
                "thresholdRange": {"max": 1},
            }
        },
    ),
    WrongRelease(
        "match-route-without-conditions",
        f"{STEPS}[0].setCanaryRoute.match",
        {f"{STEPS}[0]": {"setCanaryRoute": {"name": "testers", "match": {}}}},
    ),
    WrongRelease(
        "match-route-name-not-a-label",
        f"{STEPS}[0].setCanaryRoute.name",
        {f"{STEPS}[0]": {"setCanaryRoute": {"name": "Testers", "match": {"cookie": COOKIE}}}},
    ),
    WrongRelease(
        "match-header-name-not-a-token",
        f"{STEPS}[0].setCanaryRoute.match.headers",
        {
            f"{STEPS}[0]": {
                "setCanaryRoute": {"name": "t", "match": {"headers": {"x canary": {"exact": "1"}}}}
            }
        },
    ),
    WrongRelease(
        "match-cookie-exact-and-regex",
        f"{STEPS}[0].setCanaryRoute.match.cookie.value",
        {
            f"{STEPS}[0]": {
                "setCanaryRoute": {
                    "name": "t",
                    "match": {"cookie": {"name": "beta", "value": {"exact": "1", "regex": "1"}}},
                }
            }
        },
    ),
    WrongRelease(
        "match-header-exact-empty",
        f"{STEPS}[0].setCanaryRoute.match.headers",  # the API server says headers[x-canary].exact
        {f"{STEPS}[0]": {"setCanaryRoute": {"name": "t", "match": {"headers": {"x-canary": {"exact": ""}}}}}},
    ),
    # Neither RE2's syntax, nor how a cookie's value sits in the Cookie header, nor names compared
    # without case have a CRD rule: `slipway validate` and the operator refuse them.
    WrongRelease(
        "match-header-regex-lookahead",
        f"{STEPS}[0].setCanaryRoute.match.headers.x-canary.regex",
        {
            f"{STEPS}[0]": {
                "setCanaryRoute": {"name": "t", "match": {"headers": {"x-canary": {"regex": "(?!no)"}}}}
            }
        },
        offline_only=True,
    ),
    WrongRelease(
        "match-header-regex-backreference",
        f"{STEPS}[0].setCanaryRoute.match.headers.x-canary.regex",
        {
            f"{STEPS}[0]": {
                "setCanaryRoute": {"name": "t", "match": {"headers": {"x-canary": {"regex": "(a)\\1"}}}}
            }
        },
        offline_only=True,
    ),
    WrongRelease(
        "match-cookie-regex-anchored",
        f"{STEPS}[0].setCanaryRoute.match.cookie.value.regex",
        {
            f"{STEPS}[0]": {
                "setCanaryRoute": {
                    "name": "t",
                    "match": {"cookie": {"name": "beta", "value": {"regex": "^on$"}}},
                }
            }
        },
        offline_only=True,
    ),
    WrongRelease(
        "match-cookie-regex-runs-on",
        f"{STEPS}[0].setCanaryRoute.match.cookie.value.regex",
        {
            f"{STEPS}[0]": {
                "setCanaryRoute": {
                    "name": "t",
                    "match": {"cookie": {"name": "beta", "value": {"regex": "on.*"}}},
                }
            }
        },
        offline_only=True,
    ),
    WrongRelease(
        "match-header-names-differ-in-case",
        f"{STEPS}[0].setCanaryRoute.match.headers.x-canary",
        {
            f"{STEPS}[0]": {
                "setCanaryRoute": {
                    "name": "t",
                    "match": {"headers": {"X-Canary": {"exact": "1"}, "x-canary": {"exact": "2"}}},
                }
            }
        },
        offline_only=True,
    ),
    WrongRelease(
        "match-cookie-header-beside-cookie",
        f"{STEPS}[0].setCanaryRoute.match.headers.Cookie",
        {
            f"{STEPS}[0]": {
                "setCanaryRoute": {
                    "name": "t",
                    "match": {"headers": {"Cookie": {"exact": "a=1"}}, "cookie": COOKIE},
                }
            }
        },
        offline_only=True,
    ),
    WrongRelease(
        "mirror-over-100", f"{STEPS}[0].setMirror.percent", {f"{STEPS}[0]": {"setMirror": {"percent": 150}}}
    ),
    # CEL cannot follow the order of steps.
    WrongRelease(
        "remove-a-route-never-set",
        f"{STEPS}[0].removeCanaryRoute.name",
        {f"{STEPS}[0]": {"removeCanaryRoute": {"name": "testers"}}},
        offline_only=True,
    ),
]

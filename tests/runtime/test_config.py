"""The operator config: YAML in, a validated OperatorConfig out, and errors that name the field; each
plug-in's section validated by the plug-in's own model and handed to that plug-in alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from slipway.alerts.alertmanager import AlertmanagerConfig
from slipway.providers import registry as providers
from slipway.providers._promql import PrometheusConfig
from slipway.providers.builtin import BuiltinMetricsConfig
from slipway.providers.job import JobConfig
from slipway.providers.web import WebConfig
from slipway.runtime.config import (
    ConfigError,
    OperatorConfig,
    PluginConfig,
    load_config,
    parse_config,
    plugin_sections,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slipway.yaml"
    path.write_text(text)
    return path


def test_a_full_config_loads_with_camel_case_keys(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
prometheus: {url: "http://127.0.0.1:9090/", timeoutSeconds: 3}
alertmanager: {url: "http://127.0.0.1:9093", releaseLabel: app}
web: {allowedHosts: [Checks.Example.com, "127.0.0.1:8000", "*.svc.cluster.local"]}
builtin: {revisionLabel: pod_template_hash, minimumWindowSeconds: 4}
defaults: {analysisIntervalSeconds: 15, progressDeadlineSeconds: 120}
namespaces: [shop, payments]
leaderElection: {enabled: true, leaseName: slipway, namespace: ops}
server: {port: 0}
""",
        )
    )
    assert config.section(PrometheusConfig).url == "http://127.0.0.1:9090"
    assert config.section(PrometheusConfig).timeout_seconds == 3
    assert config.section(AlertmanagerConfig).release_label == "app"
    allowed = ["checks.example.com", "127.0.0.1:8000", "*.svc.cluster.local"]
    assert config.section(WebConfig).allowed_hosts == allowed
    assert config.section(BuiltinMetricsConfig).revision_label == "pod_template_hash"
    assert config.defaults.analysis_interval_seconds == 15
    assert config.namespaces == ["shop", "payments"]
    assert not config.cluster_wide
    assert config.leader_election.enabled and config.leader_election.namespace == "ops"
    assert config.server.port == 0


def test_an_empty_file_means_every_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config == parse_config({}) == parse_config(None)
    assert config.section(PrometheusConfig).url is None
    assert config.section(WebConfig).allowed_hosts == []
    assert config.section(BuiltinMetricsConfig).requests_metric == "http_requests_total"
    assert config.cluster_wide
    assert config.server.host == "127.0.0.1"


def test_to_yaml_round_trips() -> None:
    config = parse_config({"prometheus": {"url": "http://127.0.0.1:1"}, "allNamespaces": True})
    assert parse_config(yaml.safe_load(config.to_yaml())) == config


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("prometheus: {url: ftp://x}", "prometheus.url", "http"),
        ("prometheus: {url: 'http://'}", "prometheus.url", "host"),
        ("prometheus: {timeoutSeconds: 0}", "prometheus.timeoutSeconds", "greater than 0"),
        ("prometheus: {adress: http://x}", "prometheus.adress", "Extra inputs"),
        ("prometheus: [http://x]", "prometheus", "valid dictionary"),
        ("alertmanager: {namespaceLabel: 'name space'}", "alertmanager.namespaceLabel", "pattern"),
        ("web: {allowedHosts: ['https://evil.example/']}", "web.allowedHosts[0]", "not a URL"),
        ("web: {allowedHosts: checks.example.com}", "web.allowedHosts", "valid list"),
        ("builtin: {requestsMetric: 'http-requests'}", "builtin.requestsMetric", "pattern"),
        ("defaults: {analysisIntervalSeconds: soon}", "defaults.analysisIntervalSeconds", "integer"),
        ("leaderElection: {enabled: maybe}", "leaderElection.enabled", "boolean"),
        ("server: {port: 70000}", "server.port", "65535"),
        ("namespaces: [a]\nallNamespaces: true", "namespaces or allNamespaces", "not both"),
        ("sharding: {shards: 0}", "sharding.shards", "greater than or equal to 1"),
        (
            "sharding: {leaseDurationSeconds: 1}",
            "sharding.leaseDurationSeconds",
            "greater than or equal to 3",
        ),
        (
            "sharding: {enabled: true}\nleaderElection: {enabled: true}",
            "leaderElection.enabled (one active replica) or sharding.enabled",
            "not both",
        ),
        ("- a list", "(top level)", "dictionary"),
    ],
)
def test_invalid_configs_are_refused_naming_the_field(
    tmp_path: Path, text: str, field: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    assert field in message
    assert problem in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, "prometheus: {url: x}\nserver: {port: -1}"))
    assert "prometheus.url" in str(refused.value) and "server.port" in str(refused.value)


def test_malformed_yaml_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "prometheus: {url: [unclosed"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_each_plugin_section_is_owned_by_its_plugin_module() -> None:
    assert {key: model.__module__ for key, model in plugin_sections().items()} == {
        "prometheus": "slipway.providers._promql",
        "builtin": "slipway.providers.builtin",
        "web": "slipway.providers.web",
        "job": "slipway.providers.job",
        "alertmanager": "slipway.alerts.alertmanager",
    }


def test_an_unknown_top_level_key_is_refused_naming_it_and_every_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, "promethues: {url: http://x}"))
    (problem,) = str(refused.value).split(": ", 1)[1:]
    assert problem.startswith("promethues: no such section")
    for key in (*plugin_sections(), "defaults", "leaderElection", "server", "namespaces"):
        assert key in problem


def test_a_section_the_file_omits_is_its_plugins_defaults() -> None:
    config = parse_config({"web": {"allowedHosts": ["checks.example.com"]}})
    assert config.section(WebConfig) == WebConfig(allowed_hosts=["checks.example.com"])
    assert config.section(JobConfig) == JobConfig() and config.section(JobConfig).timeout_seconds == 300


def test_a_config_built_without_the_file_gives_every_plugin_its_defaults() -> None:
    assert OperatorConfig().section(AlertmanagerConfig) == AlertmanagerConfig()


def test_a_provider_is_given_only_the_sections_it_declared() -> None:
    config = parse_config(
        {
            "prometheus": {"url": "http://127.0.0.1:9090"},
            "builtin": {"revisionLabel": "version"},
            "web": {"allowedHosts": ["checks.example.com"]},
        }
    )
    declared = {name: plugin.config for name, plugin in providers.plugins().items()}
    assert declared == {
        "builtin": (PrometheusConfig, BuiltinMetricsConfig),
        "job": (JobConfig,),
        "prometheus": (PrometheusConfig,),
        "web": (WebConfig,),
    }
    given = config.sections(declared["builtin"])
    assert given == PluginConfig(
        (PrometheusConfig(url="http://127.0.0.1:9090"), BuiltinMetricsConfig(revision_label="version"))
    )
    with pytest.raises(KeyError, match="'web' is not a config section this plug-in declared"):
        given.section(WebConfig)


def test_an_unregistered_section_is_a_programming_error() -> None:
    class Stray(WebConfig):
        key = "stray"

    with pytest.raises(KeyError, match="Stray is not a registered config section"):
        parse_config({}).section(Stray)


def test_reading_a_config_before_the_plugins_are_loaded_says_to_load_them() -> None:
    program = "from slipway.runtime.config import parse_config; parse_config({})"
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False)
    assert run.returncode != 0
    assert "no plug-in config sections registered: call slipway.plugins.load() first" in run.stderr


def test_log_settings_default_to_json_at_info_and_accept_any_case() -> None:
    assert (parse_config({}).log.level, parse_config({}).log.format) == ("info", "json")
    config = parse_config({"log": {"level": "DEBUG", "format": "Console"}})
    assert (config.log.level, config.log.format) == ("debug", "console")
    with pytest.raises(ConfigError, match=r"log\.format: Input should be 'json' or 'console'"):
        parse_config({"log": {"format": "xml"}})

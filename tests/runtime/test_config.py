"""The operator config: YAML in, a validated OperatorConfig out, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from slipway.runtime.config import ConfigError, OperatorConfig, load_config, parse_config


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
    assert config.prometheus.url == "http://127.0.0.1:9090"
    assert config.prometheus.timeout_seconds == 3
    assert config.alertmanager.release_label == "app"
    assert config.web.allowed_hosts == ["checks.example.com", "127.0.0.1:8000", "*.svc.cluster.local"]
    assert config.builtin.revision_label == "pod_template_hash"
    assert config.defaults.analysis_interval_seconds == 15
    assert config.namespaces == ["shop", "payments"]
    assert not config.cluster_wide
    assert config.leader_election.enabled and config.leader_election.namespace == "ops"
    assert config.server.port == 0


def test_an_empty_file_means_every_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config == OperatorConfig()
    assert config.prometheus.url is None
    assert config.web.allowed_hosts == []
    assert config.builtin.requests_metric == "http_requests_total"
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
        ("alertmanager: {namespaceLabel: 'name space'}", "alertmanager.namespaceLabel", "pattern"),
        ("web: {allowedHosts: ['https://evil.example/']}", "web.allowedHosts[0]", "not a URL"),
        ("web: {allowedHosts: checks.example.com}", "web.allowedHosts", "valid list"),
        ("builtin: {requestsMetric: 'http-requests'}", "builtin.requestsMetric", "pattern"),
        ("defaults: {analysisIntervalSeconds: soon}", "defaults.analysisIntervalSeconds", "integer"),
        ("leaderElection: {enabled: maybe}", "leaderElection.enabled", "boolean"),
        ("server: {port: 70000}", "server.port", "65535"),
        ("namespaces: [a]\nallNamespaces: true", "namespaces or allNamespaces", "not both"),
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

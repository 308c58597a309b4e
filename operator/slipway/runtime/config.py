"""The operator's own configuration: where the metric back-ends are and what the operator may call.

It is read from YAML (`slipway run --config FILE`). Addresses come from here and never from a Release
alone: a Release author must not be able to make the operator reach an arbitrary host. Keys are
camelCase like Kubernetes objects; unknown keys are errors, so a typo never silently means a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

_LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
_METRIC_NAME_PATTERN = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"


def _http_url(value: str) -> str:
    scheme, separator, rest = value.partition("://")
    if scheme not in ("http", "https") or not separator or not rest.split("/", 1)[0]:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.rstrip("/")


def _host_pattern(value: str) -> str:
    host = value.strip().lower()
    if not host or "/" in host or "://" in host:
        raise ValueError("must be a host name, host:port or *.domain, not a URL")
    return host


HttpUrl = Annotated[str, AfterValidator(_http_url)]
HostPattern = Annotated[str, AfterValidator(_host_pattern)]
LabelName = Annotated[str, Field(pattern=_LABEL_NAME_PATTERN)]
MetricName = Annotated[str, Field(pattern=_METRIC_NAME_PATTERN)]


class _Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )


class PrometheusConfig(_Section):
    url: HttpUrl | None = Field(None, description="Prometheus HTTP API base URL; unset = none.")
    timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one query.")


class AlertmanagerConfig(_Section):
    url: HttpUrl | None = Field(None, description="Base URL of Alertmanager; unset = alerts never checked.")
    timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one request.")
    namespace_label: LabelName = Field("namespace", description="Alert label that names the namespace.")
    release_label: LabelName = Field("release", description="Alert label that names the Release.")


class WebConfig(_Section):
    allowed_hosts: list[HostPattern] = Field(
        default_factory=list,
        description="Hosts a web metric may call: 'host' (any port), 'host:port' or '*.domain'.",
    )
    timeout_seconds: float = Field(10.0, gt=0, description="Upper bound on a web metric's own timeout.")


class BuiltinMetricsConfig(_Section):
    """How the built-in error-rate and latency-p95 metrics find the workload's series in Prometheus."""

    namespace_label: LabelName = "namespace"
    release_label: LabelName = "release"
    revision_label: LabelName = "revision"
    requests_metric: MetricName = Field("http_requests_total", description="Counter of requests.")
    status_code_label: LabelName = Field("code", description="Label of requests_metric with the HTTP status.")
    error_code_regex: str = Field("5..", description="Status codes that count as errors (a PromQL regex).")
    duration_metric: MetricName = Field(
        "http_request_duration_seconds", description="Histogram of request durations in seconds."
    )
    minimum_window_seconds: int = Field(
        10, ge=1, description="Shortest rate window; rate() needs at least two scrapes inside it."
    )


class JobConfig(_Section):
    timeout_seconds: float = Field(300.0, gt=0, description="Longest run of a job metric.")
    poll_seconds: float = Field(1.0, gt=0, description="How often the Job's status is read.")


class DefaultsConfig(_Section):
    analysis_interval_seconds: int = Field(30, ge=1, description="When a Release sets none.")
    progress_deadline_seconds: int = Field(600, ge=1, description="When a Release sets none.")


class LeaderElectionConfig(_Section):
    enabled: bool = False
    lease_name: str = Field("slipway-operator", min_length=1)
    namespace: str = Field("slipway-system", min_length=1)


class ServerConfig(_Section):
    host: str = Field("127.0.0.1", description="Address of the /metrics, /healthz and /readyz server.")
    port: int = Field(8080, ge=0, le=65535, description="Port of that server; 0 picks a free one.")


class OperatorConfig(_Section):
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    alertmanager: AlertmanagerConfig = Field(default_factory=AlertmanagerConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    builtin: BuiltinMetricsConfig = Field(default_factory=BuiltinMetricsConfig)
    job: JobConfig = Field(default_factory=JobConfig)
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    namespaces: list[str] = Field(default_factory=list, description="Namespaces to watch.")
    all_namespaces: bool = Field(False, description="Watch every namespace.")
    leader_election: LeaderElectionConfig = Field(default_factory=LeaderElectionConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)

    @model_validator(mode="after")
    def _one_namespace_scope(self) -> Self:
        if self.all_namespaces and self.namespaces:
            raise ValueError("set either namespaces or allNamespaces, not both")
        return self

    @property
    def cluster_wide(self) -> bool:
        """True when every namespace is watched: asked for, or no namespace listed."""
        return self.all_namespaces or not self.namespaces

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(by_alias=True, mode="json"), sort_keys=False)


class ConfigError(ValueError):
    """The config file is missing, not YAML, or invalid; the message names the file and each field."""


def parse_config(data: Any, source: str = "config") -> OperatorConfig:
    if data is None:
        data = {}
    try:
        return OperatorConfig.model_validate(data)
    except ValidationError as invalid:
        problems = [f"{_field_path(error['loc'])}: {error['msg']}" for error in invalid.errors()]
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def load_config(path: Path | str) -> OperatorConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as unreadable:
        raise ConfigError(f"{path}: cannot read: {unreadable.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as malformed:
        raise ConfigError(f"{path}: not valid YAML: {malformed}") from None
    return parse_config(data, str(path))


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"

"""The operator's configuration: where the metric back-ends are and what the operator may call.

It is read from YAML (`slipway run --config FILE`). Addresses come from here and never from a Release
alone: a Release author must not be able to make the operator reach an arbitrary host. Keys are
camelCase like Kubernetes objects; unknown keys are errors, so a typo never silently means a default.

This module holds the operator's own sections (defaults, namespaces, leader election, the server, logs).
Every other top-level key belongs to a plug-in (a router, a metric provider, the alert source): its
module defines a `PluginSection` with its `key`, and `slipway.plugins.load()` registers it here, as
slipway.api learns the plug-ins' spec sections. The file's model is assembled from what is registered,
so this module names no plug-in; a plug-in reads its section with `config.section(ItsSection)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, Self, TypeVar, cast
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import ErrorDetails

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
NotifierName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]


def host_allowed(host: str | None, port: int | None, allowed_hosts: Iterable[str]) -> bool:
    """Whether `host` (on `port`) is in an allow-list of 'host' (any port), 'host:port' or '*.domain'
    (any subdomain, not the domain itself)."""
    host = (host or "").lower()
    for pattern in allowed_hosts:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif pattern == host or pattern == f"{host}:{port}":
            return True
    return False


class ConfigSection(BaseModel):
    """A part of the config: camelCase keys, unknown keys refused, every value checked."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )


class PluginSection(ConfigSection):
    """A plug-in's part of the config, under the top-level `key` it declares."""

    key: ClassVar[str]


S = TypeVar("S", bound=PluginSection)


class DefaultsConfig(ConfigSection):
    analysis_interval_seconds: int = Field(30, ge=1, description="When a Release sets none.")
    progress_deadline_seconds: int = Field(600, ge=1, description="When a Release sets none.")


class LeaderElectionConfig(ConfigSection):
    enabled: bool = False
    lease_name: str = Field("slipway-operator", min_length=1)
    namespace: str = Field("slipway-system", min_length=1)


class ShardingConfig(ConfigSection):
    """Several replicas share the Releases (docs/operator.md, "Sharding"); leader election is the mode
    for one active replica, so the two are never on together."""

    enabled: bool = False
    shards: int = Field(
        3, ge=1, le=64, description="Shard Leases: replicas that reconcile at once; more stand by."
    )
    lease_name: str = Field(
        "slipway-operator", min_length=1, description="The Leases are <leaseName>-shard-<i>."
    )
    namespace: str = Field("slipway-system", min_length=1)
    lease_duration_seconds: int = Field(
        10,
        ge=3,
        le=300,
        description="A dead replica's Releases are taken over this long after its last renewal.",
    )


class ServerConfig(ConfigSection):
    host: str = Field("127.0.0.1", description="Address of the /metrics, /healthz and /readyz server.")
    port: int = Field(8080, ge=0, le=65535, description="Port of that server; 0 picks a free one.")


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class LogConfig(ConfigSection):
    """`slipway run --log-level/--log-format` (or SLIPWAY_LOG_LEVEL/SLIPWAY_LOG_FORMAT) override these."""

    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = Field(
        "info", description="The least severe lines written."
    )
    format: Annotated[Literal["json", "console"], BeforeValidator(_lower)] = Field(
        "json", description="json: one object a line; console: plain text."
    )


class PodSecurityConfig(ConfigSection):
    """What the pods the operator creates for a Release (revisions, hooks, job metrics) may do. The
    operator creates them with its own rights, so it holds each pod template to a Pod Security
    Standard level before anything is created (slipway/podsecurity.py)."""

    level: Annotated[Literal["privileged", "baseline", "restricted"], BeforeValidator(_lower)] = Field(
        "baseline",
        description="The Pod Security Standard every pod template must meet; privileged checks nothing.",
    )
    service_accounts: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="ServiceAccounts a pod template may name besides `default`; '*' allows any.",
    )

    def allows_service_account(self, name: str) -> bool:
        return name == "default" or name in self.service_accounts or "*" in self.service_accounts


LINK_PLACEHOLDERS: Final = ("namespace", "release", "version", "phase", "reason")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z]+)\s*\}\}")


class NotifierConfig(ConfigSection):
    """One named notifier a Release may subscribe to. Its address is a secret: it is read from a file
    (a mounted Secret's key) at start and at each delivery, and never logged or written anywhere."""

    type: Literal["webhook", "slack"] = Field(
        description="webhook: Slipway's JSON body; slack: a Slack incoming-webhook message with blocks."
    )
    url_file: str = Field(min_length=1, description="File holding the URL to POST to.")
    token_file: str | None = Field(
        None, description="File holding a token sent as `Authorization: Bearer` (webhook only)."
    )
    link_template: str | None = Field(
        None,
        description="A link in each message; {{namespace}}, {{release}}, {{version}}, {{phase}} and "
        "{{reason}} are replaced.",
    )

    @model_validator(mode="after")
    def _token_for_webhooks(self) -> Self:
        if self.token_file is not None and self.type != "webhook":
            raise ValueError("tokenFile is for webhook notifiers (a Slack URL carries its own secret)")
        return self

    def link_problem(self) -> str | None:
        """What is wrong with the link template, if anything. Checked after the model is built (not by
        a validator), so a notifier with a bad link still has its files checked in the same run."""
        unknown = set(_PLACEHOLDER.findall(self.link_template or "")) - set(LINK_PLACEHOLDERS)
        if not unknown:
            return None
        known = ", ".join("{{" + name + "}}" for name in LINK_PLACEHOLDERS)
        return f"linkTemplate: unknown placeholder {{{{{min(unknown)}}}}}; known: {known}"


class NotificationsConfig(ConfigSection):
    """Where Releases' notifications go: the notifiers by name, the hosts they may reach, and how hard
    delivery tries. Delivery runs beside the rollouts and never holds one up."""

    allowed_hosts: list[HostPattern] = Field(
        default_factory=list,
        description="Hosts a notifier's URL may name: 'host' (any port), 'host:port' or '*.domain'.",
    )
    notifiers: dict[NotifierName, NotifierConfig] = Field(
        default_factory=dict, description="Notifiers by the name a Release's spec.notify uses."
    )
    queue_size: int = Field(1000, ge=1, description="Notifications waiting at most; more are dropped.")
    workers: int = Field(4, ge=1, le=64, description="Deliveries in flight at once.")
    max_attempts: int = Field(5, ge=1, le=20, description="Attempts per notification, the first included.")
    backoff_seconds: float = Field(1.0, gt=0, description="Wait before the first retry; doubled each time.")
    max_backoff_seconds: float = Field(60.0, gt=0, description="Longest wait between two attempts.")
    timeout_seconds: float = Field(5.0, gt=0, le=60, description="One attempt, connection included.")

    def problems(self, *, read_files: bool) -> list[str]:
        """Problems with the notifiers, each naming its field: bad link templates and, with read_files,
        their secret files (unreadable, not a URL, a host not allowed); a URL is never in a message."""
        problems = []
        for name, notifier in self.notifiers.items():
            at = f"notifications.notifiers.{name}"
            link_problem = notifier.link_problem()
            if link_problem is not None:
                problems.append(f"{at}.{link_problem}")
            if not read_files:
                continue
            try:
                url = read_secret(notifier.url_file)
                _http_url(url)
            except (OSError, ValueError) as bad:
                problems.append(f"{at}.urlFile: {_secret_problem(bad)}")
                continue
            host, port = url_host(url)
            if not host_allowed(host, port, self.allowed_hosts):
                allowed = ", ".join(self.allowed_hosts) or "none"
                problems.append(
                    f"{at}.urlFile: host {host!r} is not in notifications.allowedHosts ({allowed});"
                    " the operator calls no other address"
                )
            if notifier.token_file is not None:
                try:
                    read_secret(notifier.token_file)
                except (OSError, ValueError) as bad:
                    problems.append(f"{at}.tokenFile: {_secret_problem(bad)}")
        return problems


def read_secret(path: str) -> str:
    """A secret file's text without surrounding whitespace; ValueError when empty."""
    text = Path(path).read_text().strip()
    if not text:
        raise ValueError("the file is empty")
    return text


def url_host(url: str) -> tuple[str, int]:
    """The host and port an http(s) URL names (the scheme's default port when it names none)."""
    split = urlsplit(url)
    return (split.hostname or ""), (split.port or (443 if split.scheme == "https" else 80))


def _secret_problem(bad: OSError | ValueError) -> str:
    # Never the content: an OSError names the file only, a ValueError ours says what is wrong.
    return f"cannot read it: {bad.strerror}" if isinstance(bad, OSError) else str(bad)


class OperatorConfig(ConfigSection):
    """The whole config. `parse_config` and `load_config` build it with the plug-ins' sections; one
    built directly has only the operator's own, and `section` gives each plug-in's default."""

    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    namespaces: list[str] = Field(default_factory=list, description="Namespaces to watch.")
    all_namespaces: bool = Field(False, description="Watch every namespace.")
    leader_election: LeaderElectionConfig = Field(default_factory=LeaderElectionConfig)
    sharding: ShardingConfig = Field(default_factory=ShardingConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    pod_security: PodSecurityConfig = Field(default_factory=PodSecurityConfig)

    @model_validator(mode="after")
    def _one_namespace_scope(self) -> Self:
        if self.all_namespaces and self.namespaces:
            raise ValueError("set either namespaces or allNamespaces, not both")
        if self.leader_election.enabled and self.sharding.enabled:
            raise ValueError(
                "set either leaderElection.enabled (one active replica) or sharding.enabled (several),"
                " not both"
            )
        return self

    @property
    def cluster_wide(self) -> bool:
        """True when every namespace is watched: asked for, or no namespace listed."""
        return self.all_namespaces or not self.namespaces

    def section(self, model: type[S]) -> S:
        """The plug-in section `model` as the file sets it, its defaults when the file omits it."""
        _registry.check(model)
        value = getattr(self, to_snake(model.key), None)
        return value if isinstance(value, model) else model()

    def sections(self, models: Iterable[type[PluginSection]]) -> PluginConfig:
        """Only the sections `models`: what one plug-in declared, for that plug-in."""
        return PluginConfig(tuple(self.section(model) for model in models))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(by_alias=True, mode="json"), sort_keys=False)


@dataclass(frozen=True)
class PluginConfig:
    """The sections of the config one plug-in declared, and nothing else of it."""

    sections: tuple[PluginSection, ...] = ()

    def section(self, model: type[S]) -> S:
        for section in self.sections:
            if isinstance(section, model):
                return section
        declared = ", ".join(section.key for section in self.sections) or "none"
        raise KeyError(f"{model.key!r} is not a config section this plug-in declared ({declared})")


class SectionsNotLoaded(RuntimeError):
    """The config was read before the plug-ins registered their sections."""


class SectionsClosed(RuntimeError):
    """A section registered after the config's model was assembled from the others."""


class _Registry:
    def __init__(self) -> None:
        self.sections: dict[str, type[PluginSection]] = {}
        self.model: type[OperatorConfig] | None = None

    def add(self, model: type[PluginSection]) -> None:
        key = getattr(model, "key", None)
        if not isinstance(key, str) or not key:
            raise TypeError(f"{model.__name__} declares no key")
        known = self.sections.get(key)
        if known is model:
            return
        if known is not None:
            raise ValueError(
                f"two plug-ins declare the config key {key!r}: {known.__name__} and {model.__name__}"
            )
        if key in _OWN_KEYS or hasattr(OperatorConfig, to_snake(key)):
            raise ValueError(f"the config key {key!r} is the operator's own")
        if self.model is not None:
            raise SectionsClosed(f"config section {key!r} registered after the config model was assembled")
        self.sections[key] = model

    def check(self, model: type[PluginSection]) -> None:
        if self.sections.get(getattr(model, "key", "")) is not model:
            raise KeyError(f"{model.__name__} is not a registered config section")

    def assembled(self) -> type[OperatorConfig]:
        """OperatorConfig with one field per registered section; nothing registers after this."""
        if self.model is None:
            if not self.sections:
                raise SectionsNotLoaded(
                    "no plug-in config sections registered: call slipway.plugins.load() first"
                )
            namespace: dict[str, Any] = {
                "__module__": OperatorConfig.__module__,
                "__qualname__": OperatorConfig.__qualname__,
                "__doc__": OperatorConfig.__doc__,
                "__annotations__": {to_snake(key): model for key, model in self.sections.items()},
            }
            for key, model in self.sections.items():
                namespace[to_snake(key)] = Field(default_factory=model, alias=key)
            metaclass: Any = type(OperatorConfig)  # pydantic's, which turns the namespace into fields
            self.model = cast(type[OperatorConfig], metaclass("OperatorConfig", (OperatorConfig,), namespace))
        return self.model


_OWN_KEYS = frozenset(field.alias or name for name, field in OperatorConfig.model_fields.items())
_registry = _Registry()


def register_section(model: type[PluginSection]) -> None:
    """Add a plug-in's section (idempotent); `slipway.plugins.load()` does it for every plug-in."""
    _registry.add(model)


def plugin_sections() -> Mapping[str, type[PluginSection]]:
    """The registered plug-in sections by key."""
    return dict(_registry.sections)


class ConfigError(ValueError):
    """The config file is missing, not YAML, or invalid; the message names the file and each field."""


def parse_config(data: Any, source: str = "config", *, read_files: bool = False) -> OperatorConfig:
    """The config from parsed YAML; the files it names are read only when `read_files` (load_config)."""
    return _checked(data, source, read_files=read_files)


def load_config(path: Path | str) -> OperatorConfig:
    """The config in the file `path`, with the notifiers' secret files read: their URLs are secrets in
    files (mounted Secrets), read now so that a URL outside the allow-list stops the operator at start,
    as any other config error does."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as unreadable:
        raise ConfigError(f"{path}: cannot read: {unreadable.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as malformed:
        raise ConfigError(f"{path}: not valid YAML: {malformed}") from None
    return _checked(data, str(path), read_files=True)


def _checked(data: Any, source: str, *, read_files: bool) -> OperatorConfig:
    model = _registry.assembled()
    if data is None:
        data = {}
    try:
        config = model.model_validate(data)
    except ValidationError as invalid:
        known = ", ".join(sorted(field.alias or name for name, field in model.model_fields.items()))
        problems = [
            f"{_field_path(error['loc'])}: "
            + (f"no such section (known: {known})" if _unknown_key(error) else error["msg"])
            for error in invalid.errors()
        ]
        # Every problem at once: the notifiers are checked too when their own section is well formed.
        notifications = _notifications_alone(data)
        if notifications is not None:
            problems += notifications.problems(read_files=read_files)
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None
    problems = config.notifications.problems(read_files=read_files)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return config


def _notifications_alone(data: Any) -> NotificationsConfig | None:
    """The notifications section when it is valid on its own (its errors are already reported if not)."""
    if not isinstance(data, Mapping):
        return None
    try:
        return NotificationsConfig.model_validate(data.get("notifications") or {})
    except ValidationError:
        return None


def _unknown_key(error: ErrorDetails) -> bool:
    return error["type"] == "extra_forbidden" and len(error["loc"]) == 1


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"

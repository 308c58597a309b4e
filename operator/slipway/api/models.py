"""The Release resource (releases.slipway.dev/v1alpha1) as pydantic models.

These models are the single source of the schema: the CRD (`slipway.api.crd.build_crd`) is generated
from them, and `slipway validate` checks manifests with them. Every rule that the OpenAPI part of a CRD
cannot say is written twice on purpose, side by side: once as a Python check (for offline validation and
for the operator) and once as a CEL rule (`x-kubernetes-validations`, for the API server). Both report
the same message on the same field, and tests/api/test_api_validate.py holds them to it.

Python attributes are snake_case; the manifest uses camelCase (`set_weight` <-> `setWeight`). Every
field has a description, for `kubectl explain`: a field whose type is a model is described by the
model's docstring, other fields by their `description`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, Protocol, Self, TypeVar, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import CoreSchema, PydanticCustomError

from slipway.api.durations import DURATION_PATTERN, MAX_DURATION, MAX_SECONDS, parse_duration
from slipway.api.regexes import cookie_value_problem, re2_lacks
from slipway.api.sections import close, metric_sources, routing_sections
from slipway.api.status import DEFAULT_REVISION_HISTORY, MAX_REVISION_HISTORY, ReleaseStatus

GROUP: Final = "slipway.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "Release"

# Bounds on lists keep the API server's CEL cost estimate finite (it refuses unbounded rules).
MAX_STEPS: Final = 100
MAX_METRICS: Final = 20
MAX_NAMES: Final = 50
# A typo guard far above what one canary rollout runs (issue 13: 10^12 was accepted and created).
MAX_REPLICAS: Final = 10_000
MAX_LIMIT: Final = 1000

FIELD_ERROR_TYPE: Final = "slipway_field"
DNS_LABEL_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
PERCENT_PATTERN: Final = r"^[0-9]+%$"
PERCENT_UP_TO_100_PATTERN: Final = r"^(100|[1-9]?[0-9])%$"
LABEL_VALUE_PATTERN: Final = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
# scheme://[userinfo@]host[:port][/path?query#fragment]: no space or backslash anywhere (a URL parser
# reads a backslash in the authority differently from a browser), a port from 0 to 65535.
HTTP_URL_PATTERN: Final = (
    r"^https?://([^\s\\/?#@\[\]]+@)?(\[[0-9A-Fa-f:.]+\]|[^\s\\/?#@:\[\]]+)"
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
    r"([/?#][^\s\\]*)?$"
)


@dataclass(frozen=True)
class CelRule:
    """A rule the API server checks with CEL, and the message both it and `slipway validate` give.

    `field_path` (relative to the object the rule sits on, e.g. ".blueGreen") names the field the
    message is about; the API server appends it to the object's path, and so does `violation`.
    """

    rule: str
    message: str
    field_path: str | None = None
    optional_old_self: bool = False
    """Evaluated on create too, with `oldSelf` an optional (none on create): see _RELEASE_NAME_RULES."""

    def schema(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"rule": self.rule, "message": self.message}
        if self.field_path:
            entry["fieldPath"] = self.field_path
        if self.optional_old_self:
            entry["optionalOldSelf"] = True
        return entry

    def violation(self, field_path: str | None = None) -> PydanticCustomError:
        """The pydantic error for a broken rule; `field_path` may point more precisely than CEL can."""
        return field_error(self.message, (self.field_path or "") if field_path is None else field_path)


def field_error(message: str, field_path: str = "") -> PydanticCustomError:
    """A validation error about `field_path` below the field being validated (".a.b", "[2].c").

    Pydantic places an error on the field or model that raised it; `slipway.api.validation` appends
    `field_path`, so a message can name the exact field as the API server would.
    """
    return PydanticCustomError(FIELD_ERROR_TYPE, "{message}", {"message": message, "field_path": field_path})


def cel_rules(*rules: CelRule) -> dict[str, Any]:
    """json_schema_extra for a model or field carrying CEL rules."""
    return {"x-kubernetes-validations": [rule.schema() for rule in rules]}


def _one_of(*fields: str) -> str:
    """CEL: exactly one of `fields` is set on self."""
    return " + ".join(f"(has(self.{field}) ? 1 : 0)" for field in fields) + " == 1"


def _count_set(model: BaseModel, *attributes: str) -> int:
    return sum(getattr(model, attribute) is not None for attribute in attributes)


class ApiModel(BaseModel):
    """Base of every spec model: camelCase in manifests, unknown fields refused.

    Strict, because the API server never reads "3" as 3 or "true" as true; neither does validate.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
        # Built on first use, not at import: models holding a Sectioned one need the plug-ins loaded.
        defer_build=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return _without_nulls(data)


def _without_nulls(data: Any) -> Any:
    """A manifest's nulls read as absent fields, as the API server reads them (it prunes them before
    applying defaults), so `rollback: null` gets the default policy here too."""
    if isinstance(data, dict):
        return {key: value for key, value in data.items() if value is not None}
    return data


_S = TypeVar("_S")
# Each Sectioned model, and each assembled model, to its assembled model.
_ASSEMBLED: Final[dict[type[ApiModel], type[ApiModel]]] = {}
_SECTION_ATTRIBUTES: Final[dict[type[ApiModel], tuple[tuple[str, str], ...]]] = {}


class PluginsNotLoaded(RuntimeError):
    """A Release was read before the plug-ins that complete its models were loaded."""


class Sectioned(ApiModel):
    """A spec object whose keys plug-ins own (spec.trafficRouting, a metric): see slipway.api.sections.

    Wherever this class is a field's type, pydantic validates with `assembled()`: this class plus one
    optional field per registered section, and the CEL rules that depend on which sections exist.
    """

    # Built on first use: by then the plug-ins have registered their sections.
    model_config = ConfigDict(defer_build=True)

    @classmethod
    def _section_fields(cls) -> dict[str, tuple[Any, Any]]:
        """The registered sections: key -> (type, field description or None)."""
        raise NotImplementedError

    @classmethod
    def _rules(cls) -> tuple[CelRule, ...]:
        raise NotImplementedError

    @classmethod
    def _order(cls, properties: dict[str, Any]) -> dict[str, Any]:
        return properties

    @classmethod
    def assembled(cls) -> type[Self]:
        model = _ASSEMBLED.get(cls)
        if model is None:
            sections = cls._section_fields()
            if not sections:
                raise PluginsNotLoaded(
                    f"no {cls.__name__} sections registered: "
                    "call slipway.plugins.load() before reading a Release"
                )
            close()
            model = _assemble(cls, sections)
            _ASSEMBLED[cls] = _ASSEMBLED[model] = model
        return cast(type[Self], model)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler, /) -> CoreSchema:
        if _ASSEMBLED.get(cls) is cls:
            return handler(source)
        return handler(cls.assembled())

    def sections(self) -> dict[str, Any]:
        """The sections set, by key."""
        values = {key: getattr(self, attribute, None) for key, attribute in _section_attributes(type(self))}
        return {key: value for key, value in values.items() if value is not None}


def _section_attributes(model: type[Sectioned]) -> tuple[tuple[str, str], ...]:
    """(key, attribute name) of each section of an assembled model: found once, since the sections are
    closed when a model is assembled (decide() reads them on every pass)."""
    found = _SECTION_ATTRIBUTES.get(model)
    if found is None:
        found = tuple((key, to_snake(key)) for key in model._section_fields())
        _SECTION_ATTRIBUTES[model] = found
    return found


def _assemble(base: type[Sectioned], sections: dict[str, tuple[Any, Any]]) -> type[Sectioned]:
    def schema_extra(schema: dict[str, Any]) -> None:
        schema["properties"] = base._order(schema["properties"])
        schema.update(cel_rules(*base._rules()))

    namespace: dict[str, Any] = {
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
        "__doc__": base.__doc__,
        "__annotations__": {to_snake(key): kind | None for key, (kind, _) in sections.items()},
        "model_config": ConfigDict(json_schema_extra=schema_extra),
    }
    for key, (_, description) in sections.items():
        namespace[to_snake(key)] = Field(default=None, alias=key, description=description)
    metaclass: Any = type(base)  # pydantic's, which turns the namespace into fields
    return cast(type[Sectioned], metaclass(base.__name__, (base,), namespace))


@dataclass(frozen=True)
class _DurationBound:
    """A bound on a duration field: the CEL rule the API server checks, and the same check in Python."""

    rule: CelRule
    operator: str
    limit: str

    def check(self, text: str) -> str:
        seconds, limit = parse_duration(text), parse_duration(self.limit)
        holds = {">": seconds > limit, ">=": seconds >= limit, "<=": seconds <= limit}[self.operator]
        if not holds:
            raise self.rule.violation()
        return text


def _duration_bound(operator: str, limit: str, message: str) -> _DurationBound:
    # Guarded by the pattern: the API server runs CEL rules even on a value its pattern refused, and
    # duration() of one would add an evaluation error to the pattern's clear message.
    rule = CelRule(
        f"!self.matches({json.dumps(DURATION_PATTERN)}) || duration(self) {operator} duration('{limit}')",
        message,
    )
    return _DurationBound(rule, operator, limit)


_POSITIVE: Final = _duration_bound(">", "0s", "must be longer than 0s")
_LONGEST: Final = _duration_bound("<=", MAX_DURATION, f"must be at most {MAX_DURATION}")
# Below a second a metric would be asked every pass (the 1ms interval of issue 13: ~75 queries a
# second for one Release); above a day a gate of 1000 measurements would outlast any deadline.
MIN_INTERVAL: Final = "1s"
MAX_INTERVAL: Final = "24h"
_INTERVAL_MIN: Final = _duration_bound(">=", MIN_INTERVAL, f"must be at least {MIN_INTERVAL}")
_INTERVAL_MAX: Final = _duration_bound("<=", MAX_INTERVAL, f"must be at most {MAX_INTERVAL}")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def _names_unique(what: str) -> Callable[[list[_N]], list[_N]]:
    """A list validator refusing two items of one name, naming the second (`[i].name`)."""

    def check(items: list[_N]) -> list[_N]:
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.name in seen:
                raise field_error(f"duplicate {what} name {item.name!r}", f"[{index}].name")
            seen.add(item.name)
        return items

    return check


Duration = Annotated[
    str,
    StringConstraints(pattern=DURATION_PATTERN, max_length=32),
    Field(json_schema_extra=cel_rules(_LONGEST.rule)),
    AfterValidator(_LONGEST.check),
]
PositiveDuration = Annotated[
    str,
    StringConstraints(pattern=DURATION_PATTERN, max_length=32),
    Field(json_schema_extra=cel_rules(_POSITIVE.rule, _LONGEST.rule)),
    AfterValidator(_POSITIVE.check),
    AfterValidator(_LONGEST.check),
]
Interval = Annotated[
    str,
    StringConstraints(pattern=DURATION_PATTERN, max_length=32),
    Field(json_schema_extra=cel_rules(_INTERVAL_MIN.rule, _INTERVAL_MAX.rule)),
    AfterValidator(_INTERVAL_MIN.check),
    AfterValidator(_INTERVAL_MAX.check),
]
IntOrPercent = Annotated[int, Field(ge=0)] | Annotated[str, StringConstraints(pattern=PERCENT_PATTERN)]
# Kubernetes refuses a maxUnavailable above 100%: more pods than exist cannot be unavailable.
IntOrPercentUpTo100 = (
    Annotated[int, Field(ge=0)] | Annotated[str, StringConstraints(pattern=PERCENT_UP_TO_100_PATTERN)]
)
DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
NonEmptyName = Annotated[str, StringConstraints(min_length=1, max_length=253)]


def embedded_object(
    description: str, properties: dict[str, Any] | None = None, required: list[str] | None = None
) -> dict[str, Any]:
    """Schema of a Kubernetes object kept as-is (unknown fields preserved), with a few checked fields."""
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": True,
    }
    if properties:
        schema["properties"] = properties
    if required:
        schema["required"] = required
    return schema


POD_TEMPLATE_SCHEMA: Final[dict[str, Any]] = {
    **embedded_object(
        "A PodTemplateSpec (metadata and spec), as in a Deployment.",
        properties={
            "metadata": embedded_object("Labels and annotations for the pods."),
            "spec": embedded_object(
                "A PodSpec.",
                properties={
                    "containers": {
                        "type": "array",
                        "description": "The pod's containers; at least one.",
                        "minItems": 1,
                        "items": embedded_object(
                            "A Container.",
                            properties={
                                "name": {"type": "string", "minLength": 1, "description": "Container name."},
                                "image": {"type": "string", "minLength": 1, "description": "Image to run."},
                            },
                            required=["name", "image"],
                        ),
                    }
                },
                required=["containers"],
            ),
        },
        required=["spec"],
    ),
    "x-kubernetes-embedded-resource": False,
}


def check_pod_template(template: Any, at: str = "") -> dict[str, Any]:
    """The Python side of POD_TEMPLATE_SCHEMA: a pod spec with named containers that have images.

    `at` is where the template sits below the field being validated.
    """
    if not isinstance(template, dict):
        raise field_error("must be an object", at)
    spec = template.get("spec")
    if not isinstance(spec, dict):
        raise field_error("required: a pod template needs a spec with containers", f"{at}.spec")
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise field_error("must have at least 1 container", f"{at}.spec.containers")
    for index, container in enumerate(containers):
        for key in ("name", "image"):
            if (
                not isinstance(container, dict)
                or not isinstance(container.get(key), str)
                or not container[key]
            ):
                raise field_error("required", f"{at}.spec.containers[{index}].{key}")
    return template


PodTemplate = Annotated[dict[str, Any], WithJsonSchema(POD_TEMPLATE_SCHEMA)]


# --- service -------------------------------------------------------------------------------------------

Port = Annotated[int, Field(ge=1, le=65535)]
PortName = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=15)]


class ServiceSpec(ApiModel):
    """The Services in front of the pods, which Slipway creates and owns.

    `<name>` serves the stable (or active) revision, `<name>-canary` the canary (or preview).
    """

    port: Port = Field(description="Port the Services listen on.")
    target_port: Port | PortName | None = Field(
        default=None, description="Container port (number or name) traffic goes to. Defaults to `port`."
    )


# --- strategies ----------------------------------------------------------------------------------------


class PauseStep(ApiModel):
    """Hold the current weight: for `duration`, or, without one (`pause: {}`), until a person promotes."""

    duration: Duration | None = Field(
        default=None,
        description="How long to hold (30s, 2m, 1h30m). Omitted: wait for a manual promote.",
    )


class AnalysisStep(ApiModel):
    """A gate on spec.analysis: stay at the current weight until enough measurements in a row are good."""

    successful_measurements: int = Field(
        default=1, ge=1, le=1000, description="Good measurements in a row needed to pass the gate."
    )
    metrics: list[DnsLabel] | None = Field(
        default=None,
        max_length=MAX_METRICS,
        description="Names of spec.analysis metrics checked at this gate. Omitted: all of them.",
    )


# An HTTP header or cookie name: an RFC 9110 token.
TOKEN_PATTERN: Final = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
MAX_MATCH_HEADERS: Final = 16
_ONE_VALUE_MATCH: Final = CelRule(_one_of("exact", "regex"), "exactly one of exact, regex must be set")
_HEADER_NAMES: Final = CelRule(
    f"self.all(name, name.matches({json.dumps(TOKEN_PATTERN)}))",
    "header names must be HTTP tokens (letters, digits and !#$%&'*+.^_`|~-)",
)
_SOME_CONDITION: Final = CelRule(
    "(has(self.headers) && size(self.headers) > 0) || has(self.cookie)", "set headers, cookie or both"
)


class ValueMatch(ApiModel):
    """How a header's or cookie's value must read: exactly one of exact or regex."""

    model_config = ConfigDict(json_schema_extra=cel_rules(_ONE_VALUE_MATCH))

    exact: str | None = Field(
        default=None, min_length=1, max_length=1024, description="The whole value, exactly."
    )
    regex: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="A regular expression (RE2 syntax) the whole value must match.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if _count_set(self, "exact", "regex") != 1:
            raise _ONE_VALUE_MATCH.violation()
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as error:
                raise field_error(f"not a regular expression: {error}", ".regex") from None
            lacking = re2_lacks(self.regex)
            if lacking is not None:
                raise field_error(f"{lacking} is not RE2 syntax, which the routers read", ".regex")
        return self


class CookieMatch(ApiModel):
    """A cookie the request must carry, and how its value must read."""

    name: Annotated[str, StringConstraints(pattern=TOKEN_PATTERN, min_length=1, max_length=256)] = Field(
        description="Name of the cookie."
    )
    value: ValueMatch

    @model_validator(mode="after")
    def _one_cookie_value(self) -> Self:
        problem = None if self.value.regex is None else cookie_value_problem(self.value.regex)
        if problem is not None:
            raise field_error(problem, ".value.regex")
        return self


class RouteMatch(ApiModel):
    """Which requests go to the canary: those where every header listed and the cookie match."""

    model_config = ConfigDict(json_schema_extra=cel_rules(_SOME_CONDITION))

    headers: dict[str, ValueMatch] = Field(
        default_factory=dict,
        max_length=MAX_MATCH_HEADERS,
        description="Header name (case-insensitive) -> how its value must read.",
        json_schema_extra=cel_rules(_HEADER_NAMES),
    )
    cookie: CookieMatch | None = None

    @model_validator(mode="after")
    def _some_condition(self) -> Self:
        for name in self.headers:
            if not re.fullmatch(TOKEN_PATTERN, name):
                raise _HEADER_NAMES.violation(".headers")
        if not self.headers and self.cookie is None:
            raise _SOME_CONDITION.violation()
        seen: dict[str, str] = {}
        for name in self.headers:
            if name.lower() in seen:
                message = f"header names are case-insensitive: {name} repeats {seen[name.lower()]}"
                raise field_error(message, f".headers.{name}")
            seen[name.lower()] = name
        if self.cookie is not None and "cookie" in seen:
            message = "a cookie header beside match.cookie: match the cookie with match.cookie alone"
            raise field_error(message, f".headers.{seen['cookie']}")
        return self

    def conditions(self) -> int:
        """How many conditions a request must meet (every header and the cookie)."""
        return len(self.headers) + (self.cookie is not None)


class CanaryRoute(ApiModel):
    """A match route: the requests it matches go to the canary whatever the weight, until a
    removeCanaryRoute step names it or the rollout ends (promoted or rolled back)."""

    name: DnsLabel = Field(description="Name of the route; removeCanaryRoute names it.")
    match: RouteMatch


class RemoveCanaryRoute(ApiModel):
    """Remove a match route an earlier setCanaryRoute step added."""

    name: DnsLabel = Field(description="Name of the route to remove.")


class SetMirror(ApiModel):
    """Mirror a share of requests to the canary: it serves copies whose answers are dropped, so it can be
    measured before it serves anyone. Stays until another setMirror or the end of the rollout."""

    percent: int = Field(ge=0, le=100, description="Percentage of requests copied to the canary; 0 stops.")


_STEP_KINDS: Final = ("setWeight", "pause", "analysis", "setCanaryRoute", "removeCanaryRoute", "setMirror")
_ONE_STEP_KIND: Final = CelRule(
    _one_of(*_STEP_KINDS), f"each step must set exactly one of {', '.join(_STEP_KINDS)}"
)


class CanaryStep(ApiModel):
    """One step of a canary: exactly one of setWeight, pause, analysis, setCanaryRoute,
    removeCanaryRoute or setMirror."""

    model_config = ConfigDict(json_schema_extra=cel_rules(_ONE_STEP_KIND))

    set_weight: int | None = Field(
        default=None, ge=0, le=100, description="Percentage of traffic (0-100) sent to the canary."
    )
    pause: PauseStep | None = None
    analysis: AnalysisStep | None = None
    set_canary_route: CanaryRoute | None = None
    remove_canary_route: RemoveCanaryRoute | None = None
    set_mirror: SetMirror | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Self:
        kinds = ("set_weight", "pause", "analysis", "set_canary_route", "remove_canary_route", "set_mirror")
        if _count_set(self, *kinds) != 1:
            raise _ONE_STEP_KIND.violation()
        return self


class CanaryStrategy(ApiModel):
    """Shift traffic to the new revision step by step."""

    steps: list[CanaryStep] = Field(
        min_length=1,
        max_length=MAX_STEPS,
        description="The steps, in order; the last one is followed by promotion.",
    )

    # CEL cannot follow the order of steps: the operator refuses such a spec all the same (InvalidSpec).
    @model_validator(mode="after")
    def _removes_known_routes(self) -> Self:
        added: set[str] = set()
        for index, step in enumerate(self.steps):
            if step.set_canary_route is not None:
                added.add(step.set_canary_route.name)
            elif step.remove_canary_route is not None and step.remove_canary_route.name not in added:
                raise field_error(
                    f"no earlier setCanaryRoute step adds a route {step.remove_canary_route.name!r}",
                    f".steps[{index}].removeCanaryRoute.name",
                )
        return self


class BlueGreenStrategy(ApiModel):
    """Run the new revision beside the old one behind a preview Service, then switch all traffic at once."""

    auto_promotion: bool = Field(default=True, description="Switch traffic without a manual promote.")
    auto_promotion_seconds: int = Field(
        default=0,
        ge=0,
        le=MAX_SECONDS,
        description="Seconds to wait, once the preview is ready and analysed, before switching.",
    )
    scale_down_delay_seconds: int = Field(
        default=30,
        ge=0,
        le=MAX_SECONDS,
        description="Seconds the old revision keeps running after the switch.",
    )
    pre_promotion_analysis: bool = Field(
        default=False, description="Run spec.analysis against the preview before switching."
    )
    post_promotion_analysis: bool = Field(
        default=False, description="Run spec.analysis after switching; on failure switch back."
    )


_SURGE_OR_UNAVAILABLE: Final = CelRule(
    "!(string(self.maxSurge) in ['0', '0%'] && string(self.maxUnavailable) in ['0', '0%'])",
    "maxSurge and maxUnavailable must not both be 0",
    ".maxUnavailable",
)


class RollingStrategy(ApiModel):
    """Replace pods in place, like a Deployment's RollingUpdate, with analysis and rollback on top."""

    model_config = ConfigDict(json_schema_extra=cel_rules(_SURGE_OR_UNAVAILABLE))

    max_surge: IntOrPercent = Field(
        default="25%", description="Pods above `replicas` during the roll: a count or a percentage."
    )
    max_unavailable: IntOrPercentUpTo100 = Field(
        default=0,
        description="Pods below `replicas` during the roll: a count or a percentage (at most 100%).",
    )

    @model_validator(mode="after")
    def _can_make_progress(self) -> Self:
        if str(self.max_surge) in {"0", "0%"} and str(self.max_unavailable) in {"0", "0%"}:
            raise _SURGE_OR_UNAVAILABLE.violation()
        return self


_ONE_STRATEGY: Final = CelRule(
    _one_of("canary", "blueGreen", "rolling"), "exactly one of canary, blueGreen, rolling must be set"
)


class Strategy(ApiModel):
    """How a new version replaces the old one: exactly one of canary, blueGreen, rolling."""

    model_config = ConfigDict(json_schema_extra=cel_rules(_ONE_STRATEGY))

    canary: CanaryStrategy | None = None
    blue_green: BlueGreenStrategy | None = None
    rolling: RollingStrategy | None = None

    @model_validator(mode="after")
    def _exactly_one_strategy(self) -> Self:
        if _count_set(self, "canary", "blue_green", "rolling") != 1:
            raise _ONE_STRATEGY.violation()
        return self


# --- traffic routing -----------------------------------------------------------------------------------


Hostname = Annotated[str, StringConstraints(min_length=1, max_length=253)]


class TrafficRouting(Sectioned):
    """Routers whose weights follow the rollout; several at once are kept in step.

    Omitted, traffic follows the ratio of ready pods behind the stable Service.
    """

    @classmethod
    def _section_fields(cls) -> dict[str, tuple[Any, Any]]:
        return {key: (section.model, None) for key, section in routing_sections().items()}

    @classmethod
    def _rules(cls) -> tuple[CelRule, ...]:
        return (_some_router(),)

    @model_validator(mode="after")
    def _some_router(self) -> Self:
        if not self.sections():
            raise _some_router().violation()
        return self


def _some_router() -> CelRule:
    keys = list(routing_sections())
    return CelRule(
        " || ".join(f"has(self.{key})" for key in keys),
        f"set at least one of {', '.join(keys)} (or omit trafficRouting to split by replica ratio)",
    )


# --- analysis ------------------------------------------------------------------------------------------

_THRESHOLD_BOUNDS: Final = CelRule("has(self.min) || has(self.max)", "set min, max or both")
_THRESHOLD_ORDER: Final = CelRule(
    "!has(self.min) || !has(self.max) || self.min <= self.max", "min must be <= max", ".min"
)


class ThresholdRange(ApiModel):
    """Good values: min <= value <= max (either bound may be omitted, not both).

    Omitted on a builtin metric, its seed threshold applies: error-rate max 0.001, latency-p95 max 0.5,
    cpu-usage max 0.8, memory-usage max 0.85.
    """

    model_config = ConfigDict(json_schema_extra=cel_rules(_THRESHOLD_BOUNDS, _THRESHOLD_ORDER))

    min: float | None = Field(default=None, description="Lowest good value.", allow_inf_nan=False)
    max: float | None = Field(default=None, description="Highest good value.", allow_inf_nan=False)

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise _THRESHOLD_BOUNDS.violation()
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _THRESHOLD_ORDER.violation()
        return self


class Metric(Sectioned):
    """One measurement taken every analysis interval: exactly one provider and how to judge it."""

    name: DnsLabel = Field(description="Unique name of the metric (a DNS label); analysis steps refer to it.")
    threshold_range: ThresholdRange | None = None
    failure_limit: int = Field(
        default=0,
        ge=0,
        le=MAX_LIMIT,
        description="Failed measurements tolerated in one attempt; one more rolls back.",
    )
    consecutive_error_limit: int = Field(
        default=4,
        ge=0,
        le=MAX_LIMIT,
        description="Provider errors in a row tolerated; one more pauses the release.",
    )
    inconclusive_limit: int = Field(
        default=3,
        ge=0,
        le=MAX_LIMIT,
        description="Inconclusive measurements tolerated in one attempt; one more pauses.",
    )
    on_no_data: Literal["inconclusive", "fail", "pass"] = Field(
        default="inconclusive",
        description="How a result with no number counts (empty, or only NaN): inconclusive, fail or pass."
        " Infinite values are numbers: they are judged against thresholdRange.",
    )

    @classmethod
    def _section_fields(cls) -> dict[str, tuple[Any, Any]]:
        return {key: (source.schema, source.description) for key, source in metric_sources().items()}

    @classmethod
    def _rules(cls) -> tuple[CelRule, ...]:
        return _one_provider(), _threshold_needed()

    @classmethod
    def _order(cls, properties: dict[str, Any]) -> dict[str, Any]:
        # The provider comes right after the name, as a reader of a manifest expects it.
        sources = {key: properties[key] for key in metric_sources()}
        return {"name": properties["name"], **sources, **properties}

    @model_validator(mode="after")
    def _provider_and_threshold(self) -> Self:
        if len(self.sections()) != 1:
            raise _one_provider().violation()
        if self.threshold_range is None and metric_sources()[self.kind].default_threshold is None:
            raise _threshold_needed().violation()
        return self

    @property
    def kind(self) -> str:
        """The provider's key: builtin, prometheus, ..."""
        (kind,) = self.sections()
        return kind

    def spec_of(self, schema: type[_S]) -> _S:
        """What the metric's provider section holds, as the provider's own type."""
        section = self.sections()[self.kind]
        if not isinstance(section, schema):
            raise TypeError(f"metric {self.name!r} has no {schema.__name__} section")
        return section

    def effective_threshold(self) -> ThresholdRange:
        """The range a value is judged by: the metric's own, or its provider's default."""
        if self.threshold_range is not None:
            return self.threshold_range
        default = metric_sources()[self.kind].default_threshold
        if default is None:
            raise AssertionError("validation requires a thresholdRange for this provider")
        return default(self.sections()[self.kind])


def _one_provider() -> CelRule:
    keys = list(metric_sources())
    return CelRule(_one_of(*keys), f"exactly one of {', '.join(keys)} must be set")


def _threshold_needed() -> CelRule:
    sources = metric_sources()
    judged_alone = [key for key, source in sources.items() if source.default_threshold is not None]
    needing = [key for key, source in sources.items() if source.default_threshold is None]
    return CelRule(
        " || ".join(f"has(self.{key})" for key in [*judged_alone, "thresholdRange"]),
        f"{_and(needing)} metrics need a thresholdRange",
        ".thresholdRange",
    )


def _and(names: list[str]) -> str:
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


class AnalysisSpec(ApiModel):
    """The metrics that gate the rollout, checked while a new revision gets traffic."""

    interval: Interval = Field(
        default="30s",
        description=f"Time between two measurements of a metric, from {MIN_INTERVAL} to {MAX_INTERVAL}.",
    )
    metrics: list[Metric] = Field(
        min_length=1,
        max_length=MAX_METRICS,
        description="The metrics; names are unique.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    _check_names = field_validator("metrics")(_names_unique("metric"))

    def metric_names(self) -> list[str]:
        return [metric.name for metric in self.metrics]


# --- rollback ------------------------------------------------------------------------------------------


class AlertSelector(ApiModel):
    """Roll back when Alertmanager has a firing alert for this Release carrying all of these labels."""

    match_labels: dict[str, str] = Field(
        min_length=1, description="Labels an alert must carry (besides namespace and release)."
    )


class RollbackPolicy(ApiModel):
    """When Slipway rolls back by itself. Omitted: on failed analysis and after 600 s without progress."""

    on_analysis_failure: bool = Field(
        default=True, description="Roll back when a metric fails beyond its limit."
    )
    alerts: AlertSelector | None = None
    progress_deadline_seconds: int = Field(
        default=600,
        gt=0,
        le=MAX_SECONDS,
        description="Seconds any non-paused phase may last without progress (at most a year).",
    )
    on_progress_deadline: Literal["rollback", "pause"] = Field(
        default="rollback", description="What a missed progress deadline does."
    )


# --- alert rules ---------------------------------------------------------------------------------------

Severity = Annotated[str, StringConstraints(pattern=LABEL_VALUE_PATTERN, min_length=1, max_length=63)]


class HighErrorRateRule(ApiModel):
    """HighErrorRate: the share of requests answered 5xx by a live revision's pods stays above `max`."""

    max: float = Field(
        default=0.01, ge=0, le=1, allow_inf_nan=False, description="Highest good error rate (0-1)."
    )
    for_: PositiveDuration = Field(
        default="1m", alias="for", description="How long it must stay above before the alert fires."
    )
    severity: Severity = Field(default="critical", description="The alert's severity label.")


class HighResponseTimeRule(ApiModel):
    """HighResponseTime: the 95th percentile of a live revision's request durations stays above
    `maxSeconds`."""

    max_seconds: float = Field(
        default=1.0, gt=0, allow_inf_nan=False, description="Highest good p95 response time in seconds."
    )
    for_: PositiveDuration = Field(
        default="5m", alias="for", description="How long it must stay above before the alert fires."
    )
    severity: Severity = Field(default="warning", description="The alert's severity label.")


class AlertRules(ApiModel):
    """A PrometheusRule the operator keeps for this Release, watching the revisions that serve
    traffic. Omitted: the guide's two alerts with their defaults."""

    enabled: bool = Field(default=True, description="false: no PrometheusRule (an existing one is deleted).")
    high_error_rate: HighErrorRateRule = Field(
        default_factory=HighErrorRateRule, json_schema_extra={"default": {}}
    )
    high_response_time: HighResponseTimeRule = Field(
        default_factory=HighResponseTimeRule, json_schema_extra={"default": {}}
    )


# --- promotion -----------------------------------------------------------------------------------------

DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
CLOCK_PATTERN: Final = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
Clock = Annotated[str, StringConstraints(pattern=CLOCK_PATTERN)]
MAX_WINDOWS: Final = 20

# "HH:MM" texts of the same width compare as the times they name, in CEL as in Python.
_END_AFTER_START: Final = CelRule("self.end > self.start", "end must be after start", ".end")


class PromotionWindow(ApiModel):
    """When a rollout may start here: on `days`, from `start` to `end` (UTC, end excluded)."""

    model_config = ConfigDict(json_schema_extra=cel_rules(_END_AFTER_START))

    days: list[Day] = Field(
        min_length=1,
        max_length=len(DAYS),
        description="Days of the week (UTC): Mon, Tue, Wed, Thu, Fri, Sat, Sun.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    start: Clock = Field(description='Start of the window, "HH:MM" UTC.')
    end: Clock = Field(description='End of the window, "HH:MM" UTC, after start (not included).')

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end <= self.start:
            raise _END_AFTER_START.violation()
        return self


class PromotionSource(ApiModel):
    """The Release that must verify a version before this one runs it."""

    namespace: DnsLabel = Field(description="Namespace of the upstream Release.")
    name: NonEmptyName | None = Field(default=None, description="Its name. Omitted: this Release's name.")


class Promotion(ApiModel):
    """Run a version only once another Release (the environment before this one) has verified it:
    stable and Healthy there for `soak`, never rolled back since."""

    from_: PromotionSource = Field(alias="from")
    soak: Duration = Field(
        default="0s", description="How long the version must have been stable and Healthy upstream."
    )
    approval: Literal["auto", "manual"] = Field(
        default="auto", description="auto, or manual: also wait for `kubectl slipway approve`."
    )
    windows: list[PromotionWindow] | None = Field(
        default=None,
        max_length=MAX_WINDOWS,
        description="When a rollout may start here (UTC). Omitted: any time.",
    )


# --- notifications -------------------------------------------------------------------------------------

MAX_SUBSCRIPTIONS: Final = 10
TRANSITION_NAME_PATTERN: Final = r"^[A-Z][A-Za-z0-9]*$"
TransitionName = Annotated[str, StringConstraints(pattern=TRANSITION_NAME_PATTERN, max_length=63)]


class NotifySubscription(ApiModel):
    """Tell a notifier of the operator config about some transitions of this Release."""

    notifier: DnsLabel = Field(
        description="A notifier the operator config names (notifications.notifiers); the address is there."
    )
    on: list[TransitionName] = Field(
        min_length=1,
        max_length=MAX_NAMES,
        description="Transitions to tell: a phase entered (Paused, Degraded, ...), a status or Event "
        "reason (Promoted, WaitingForApproval, AnalysisFailed, HookFailed, ...) or an outcome "
        "(RolledBack, Aborted).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @model_validator(mode="before")
    @classmethod
    def _on_read_as_true(cls, data: Any) -> Any:
        # YAML 1.1 (kubectl's reader, PyYAML) reads a bare `on:` key as the boolean true.
        if isinstance(data, dict) and "on" not in data and (True in data or "true" in data):
            raise field_error('YAML read the key on as the boolean true: quote it, "on":', ".on")
        return data


# --- hooks ---------------------------------------------------------------------------------------------

MAX_HOOKS: Final = 10


class Hook(ApiModel):
    """A Job run at one moment of a rollout (a migration before, a smoke test after): it must succeed."""

    name: DnsLabel = Field(
        description="Unique name of the hook in its list (a DNS label); part of the Job's name."
    )
    template: PodTemplate = Field(description="The Job's pod template (a Job's spec.template).")
    timeout: PositiveDuration = Field(
        default="10m", description="Longest run; a hook still running then has failed."
    )
    backoff_limit: int = Field(
        default=0, ge=0, le=10, description="Pod failures the Job retries before it fails (its backoffLimit)."
    )

    _check_template = field_validator("template")(check_pod_template)


def _hook_list(description: str) -> Any:
    return Field(
        default_factory=list,
        max_length=MAX_HOOKS,
        description=description,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class Hooks(ApiModel):
    """Jobs run around a rollout, each once per revision, one after the other in list order."""

    pre_deploy: list[Hook] = _hook_list(
        "Before the new revision gets any pod or traffic; a failure leaves stable serving"
        " (Degraded HookFailed)."
    )
    post_deploy: list[Hook] = _hook_list(
        "Once the new revision serves all traffic, before it is promoted; a failure rolls back (HookFailed)."
    )
    post_rollback: list[Hook] = _hook_list(
        "After a rollback has finished; best effort, a failure only warns."
    )

    _check_names = field_validator("pre_deploy", "post_deploy", "post_rollback")(_names_unique("hook"))


# --- the Release ---------------------------------------------------------------------------------------

_ANALYSIS_STEPS_NEED_ANALYSIS: Final = CelRule(
    "has(self.analysis) || !has(self.strategy.canary) ||"
    " !self.strategy.canary.steps.exists(s, has(s.analysis))",
    "analysis steps need spec.analysis",
    ".strategy.canary.steps",
)
_STEP_METRICS_KNOWN: Final = CelRule(
    "!has(self.analysis) || !has(self.strategy.canary) || self.strategy.canary.steps.all(s,"
    " !has(s.analysis) || !has(s.analysis.metrics) ||"
    " s.analysis.metrics.all(n, self.analysis.metrics.exists(m, m.name == n)))",
    "analysis steps may only name metrics of spec.analysis",
    ".strategy.canary.steps",
)
# The API server applies defaults before it evaluates rules, so both flags are always present here.
_BLUE_GREEN_ANALYSIS_NEEDS_ANALYSIS: Final = CelRule(
    "has(self.analysis) || !has(self.strategy.blueGreen) ||"
    " !(self.strategy.blueGreen.prePromotionAnalysis || self.strategy.blueGreen.postPromotionAnalysis)",
    "pre- and post-promotion analysis need spec.analysis",
    ".strategy.blueGreen",
)


class ReleaseSpec(ApiModel):
    """The desired version of a workload and how to move to it."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            _ANALYSIS_STEPS_NEED_ANALYSIS, _STEP_METRICS_KNOWN, _BLUE_GREEN_ANALYSIS_NEEDS_ANALYSIS
        )
    )

    # A label value, because it becomes the app.kubernetes.io/version label of the revision's pods.
    version: Annotated[str, StringConstraints(pattern=LABEL_VALUE_PATTERN, min_length=1, max_length=63)] = (
        Field(
            description="The desired version; shown in status and set as the app.kubernetes.io/version label."
        )
    )
    replicas: int = Field(
        default=1, ge=0, le=MAX_REPLICAS, description=f"Pods of the stable revision (at most {MAX_REPLICAS})."
    )
    template: PodTemplate = Field(description="The pods to run: a PodTemplateSpec, as in a Deployment.")
    service: ServiceSpec
    strategy: Strategy
    traffic_routing: TrafficRouting | None = None
    analysis: AnalysisSpec | None = None
    rollback: RollbackPolicy = Field(default_factory=RollbackPolicy, json_schema_extra={"default": {}})
    promotion: Promotion | None = None
    alert_rules: AlertRules = Field(default_factory=AlertRules, json_schema_extra={"default": {}})
    notify: list[NotifySubscription] | None = Field(
        default=None,
        max_length=MAX_SUBSCRIPTIONS,
        description="Notifiers of the operator config told about this Release's transitions.",
    )
    hooks: Hooks | None = None
    revision_history_limit: int = Field(
        default=DEFAULT_REVISION_HISTORY,
        ge=0,
        le=MAX_REVISION_HISTORY,
        description="Replaced revisions whose Deployments are kept at zero replicas, so that"
        f" `kubectl slipway undo` can return to them (at most {MAX_REVISION_HISTORY}); older ones are"
        " deleted.",
    )

    _check_template = field_validator("template")(check_pod_template)

    @model_validator(mode="after")
    def _analysis_references(self) -> Self:
        canary = self.strategy.canary
        analysis_steps = [
            (index, step.analysis)
            for index, step in enumerate(canary.steps if canary else [])
            if step.analysis is not None
        ]
        if analysis_steps and self.analysis is None:
            raise _ANALYSIS_STEPS_NEED_ANALYSIS.violation(
                f".strategy.canary.steps[{analysis_steps[0][0]}].analysis"
            )
        known = set(self.analysis.metric_names()) if self.analysis else set()
        for index, step in analysis_steps:
            if any(name not in known for name in step.metrics or []):
                raise _STEP_METRICS_KNOWN.violation(f".strategy.canary.steps[{index}].analysis.metrics")
        blue_green = self.strategy.blue_green
        if (
            blue_green
            and (blue_green.pre_promotion_analysis or blue_green.post_promotion_analysis)
            and self.analysis is None
        ):
            raise _BLUE_GREEN_ANALYSIS_NEEDS_ANALYSIS.violation()
        return self


# The longest Release name every object named after it can take: the revision Deployments are
# `<name>-<revision>` (HASH_LENGTH 10 + 1 more) and a Kubernetes name that is also a label value (the
# Deployment's, its pods' slipway.dev/release) is at most 63 characters.
MAX_RELEASE_NAME: Final = 52
# DNS-1035: the Release names its Services (`<name>`, `<name>-canary`), and Service names start with a
# letter and hold no dot.
RELEASE_NAME_PATTERN: Final = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# Checked when a Release is created (a name never changes): `oldSelf` is none only then. A rule on every
# write would also refuse the operator's status writes to a Release an older CRD let in.
_RELEASE_NAME_RULES: Final = (
    CelRule(
        f"oldSelf.hasValue() || self.metadata.name.size() <= {MAX_RELEASE_NAME}",
        f"must be at most {MAX_RELEASE_NAME} characters: the revision Deployments are named"
        " <name>-<10-character revision>, and a Kubernetes name is at most 63",
        ".metadata.name",
        optional_old_self=True,
    ),
    CelRule(
        f"oldSelf.hasValue() || self.metadata.name.matches({json.dumps(RELEASE_NAME_PATTERN)})",
        "must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter): it names"
        " the Release's Services",
        ".metadata.name",
        optional_old_self=True,
    ),
)


def release_name_problem(name: str) -> str | None:
    """What is wrong with `name` as a Release's name (the CRD's rules, in Python); None when it fits."""
    length, syntax = _RELEASE_NAME_RULES
    if len(name) > MAX_RELEASE_NAME:
        return length.message
    if not re.fullmatch(RELEASE_NAME_PATTERN, name):
        return syntax.message
    return None


class Release(BaseModel):
    """A Release: one workload, the version it should run, and how to get there safely."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        defer_build=True,
        json_schema_extra=cel_rules(*_RELEASE_NAME_RULES),
    )

    api_version: Literal["slipway.dev/v1alpha1"] = Field(
        default="slipway.dev/v1alpha1", description="slipway.dev/v1alpha1."
    )
    kind: Literal["Release"] = Field(default="Release", description="Release.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: ReleaseSpec
    status: ReleaseStatus | None = None

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return _without_nulls(data)

    @field_validator("metadata")
    @classmethod
    def _name_fits(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        name = metadata.get("name")
        problem = release_name_problem(name) if isinstance(name, str) else None
        if problem is not None:
            raise field_error(problem, ".name")
        return metadata

    @model_validator(mode="after")
    def _not_its_own_upstream(self) -> Self:
        # CEL cannot say this: a rule sees metadata.name but never metadata.namespace. So the CRD lets
        # it through, this check catches it offline when the manifest names its namespace, and the
        # operator refuses it (InvalidPromotion) in any case.
        promotion, name = self.spec.promotion, self.metadata.get("name")
        namespace = self.metadata.get("namespace")
        if promotion is None or not isinstance(name, str) or not isinstance(namespace, str):
            return self
        source = promotion.from_
        if source.namespace == namespace and (source.name or name) == name:
            raise field_error(
                "must name another Release: a Release cannot wait for itself", ".spec.promotion.from"
            )
        return self

"""`kubectl slipway runbook`: the guide's runbook of one service, filled from what the cluster holds.

Pure: a function of the Release, its Events, its PrometheusRule (None when there is none) and the
Releases of its promotion chain, as the API server returns them, plus `now`. Nothing is invented: a
section the cluster holds no data for says so. Fields that other parts of Slipway may add later
(spec.hooks, spec.alertRules, status.hooks) are read from the raw spec, leniently.

The runbook is first built as a small document (sections of paragraphs, lists, tables and commands),
then written as Markdown or HTML; both writers escape every text that came from the cluster.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import ValidationError

from slipway.api.durations import parse_duration
from slipway.api.models import Metric
from slipway.cli._plugin_pipeline import pipeline_lines
from slipway.cli._plugin_view import (
    format_time,
    history,
    last_attempt_started,
    measurements,
    parse_time,
    plan_steps,
    rollback_summary,
    rollback_timeline,
    strategy_name,
    text_of,
)
from slipway.core.judge import format_range
from slipway.providers.builtin import RESOURCES, BuiltinMetricsConfig, builtin_query, resource_queries

Obj = Mapping[str, Any]
Format = Literal["markdown", "html"]
FORMATS: tuple[str, ...] = get_args(Format)

# Annotations a team puts on its Release for the runbook (docs/runbooks.md).
OWNER = "slipway.dev/owner"
DESCRIPTION = "slipway.dev/description"
DEPENDENCIES = "slipway.dev/dependencies"
ONCALL = "slipway.dev/oncall"
ESCALATION = "slipway.dev/escalation"
RUNBOOK_ANNOTATIONS = (OWNER, DESCRIPTION, DEPENDENCIES, ONCALL, ESCALATION)

# The guide's alerts when spec.alertRules is omitted (issue 11, part 3).
DEFAULT_ALERT_RULES: Mapping[str, Mapping[str, Any]] = {
    "highErrorRate": {"max": 0.01, "for": "1m", "severity": "critical"},
    "highResponseTime": {"maxSeconds": 1.0, "for": "5m", "severity": "warning"},
}
ALERT_NAMES = {"highErrorRate": "HighErrorRate", "highResponseTime": "HighResponseTime"}
RECENT_ROLLBACKS = 5
ROLLED_BACK = ("RolledBack", "Aborted")

# --- the document ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mono:
    """Text shown as code: a command, a query, a label."""

    text: str


Inline = str | Mono
Line = tuple[Inline, ...]


@dataclass(frozen=True)
class Paragraph:
    line: Line


@dataclass(frozen=True)
class Bullets:
    items: tuple[Line, ...]


@dataclass(frozen=True)
class Grid:
    header: tuple[str, ...]
    rows: tuple[tuple[Line, ...], ...]


@dataclass(frozen=True)
class Commands:
    text: str


Block = Paragraph | Bullets | Grid | Commands


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: Line
    sections: tuple[Section, ...]


def para(*parts: Inline) -> Paragraph:
    return Paragraph(tuple(parts))


def no_data(what: str) -> Paragraph:
    """A section the cluster has nothing for says so: a runbook must never invent."""
    return para(f"No data: {what}.")


# --- reading the Release leniently --------------------------------------------------------------------


def _map(value: object) -> Obj:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> list[Obj]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _spec(release: Obj) -> Obj:
    return _map(release.get("spec"))


def _status(release: Obj) -> Obj:
    return _map(release.get("status"))


def _meta(obj: Obj) -> Obj:
    return _map(obj.get("metadata"))


def _containers(release: Obj) -> list[Obj]:
    return _items(_map(_map(_spec(release).get("template")).get("spec")).get("containers"))


def _name(release: Obj) -> tuple[str, str]:
    meta = _meta(release)
    return text_of(meta.get("namespace")), text_of(meta.get("name"))


# --- sections ----------------------------------------------------------------------------------------


def overview(release: Obj) -> Section:
    meta, spec, status = _meta(release), _spec(release), _status(release)
    annotations = _map(meta.get("annotations"))
    description = annotations.get(DESCRIPTION)
    blocks: list[Block] = [
        para(str(description))
        if description
        else no_data(f"no {DESCRIPTION} annotation describes this service")
    ]
    facts: list[Line] = [
        ("Owner: ", str(annotations[OWNER]))
        if annotations.get(OWNER)
        else (f"Owner: none ({OWNER} is not set)",),
        (
            "Desired version: ",
            Mono(text_of(spec.get("version"))),
            f", {text_of(spec.get('replicas'))} replicas",
        ),
        ("Phase: ", text_of(status.get("phase")), f" ({text_of(status.get('message'))})"),
    ]
    for role in ("stable", "canary"):
        revision = _map(status.get(role))
        if revision.get("revision"):
            weight = f", weight {revision['weight']}%" if isinstance(revision.get("weight"), int) else ""
            facts.append(
                (
                    f"{role.capitalize()}: version ",
                    Mono(text_of(revision.get("version"))),
                    " revision ",
                    Mono(text_of(revision.get("revision"))),
                    f", {text_of(revision.get('readyReplicas', 0))}/{text_of(revision.get('replicas', 0))}"
                    f" ready{weight}",
                )
            )
    service = _map(spec.get("service"))
    if service:
        namespace, name = _name(release)
        facts.append(
            (
                "Services: ",
                Mono(f"{name}.{namespace}"),
                " (stable) and ",
                Mono(f"{name}-canary.{namespace}"),
                f" (canary), port {text_of(service.get('port'))} -> {text_of(service.get('targetPort'))}",
            )
        )
    blocks.append(Bullets(tuple(facts)))
    dependencies = [d.strip() for d in str(annotations.get(DEPENDENCIES) or "").split(",") if d.strip()]
    blocks.append(
        Bullets(tuple(("Depends on: ", Mono(d)) for d in dependencies))
        if dependencies
        else no_data(f"no {DEPENDENCIES} annotation lists the services this one depends on")
    )
    labels = _map(meta.get("labels"))
    blocks.append(
        Grid(("LABEL", "VALUE"), tuple(((Mono(str(k)),), (str(v),)) for k, v in sorted(labels.items())))
        if labels
        else no_data("the Release has no labels")
    )
    return Section("Overview", tuple(blocks))


def _hook_lines(hooks: Obj, results: Mapping[tuple[str, str], Obj], status: Obj) -> list[Line]:
    lines: list[Line] = []
    for phase, when in (
        ("preDeploy", "before the new version gets any traffic"),
        ("postDeploy", "once the new version serves all traffic, before it is promoted; failure rolls back"),
        ("postRollback", "after a rollback, best effort"),
    ):
        for hook in _items(hooks.get(phase)):
            images = ", ".join(
                text_of(c.get("image"))
                for c in _items(_map(_map(hook.get("template")).get("spec")).get("containers"))
            )
            name = str(hook.get("name"))
            last = _map(results.get((phase, name)))
            outcome = f"; {_last_result(last, status)}" if last else ""
            lines.append(
                (
                    f"{phase} ",
                    Mono(text_of(hook.get("name"))),
                    f" ({when}): Job of {images or 'its template'}, timeout {text_of(hook.get('timeout'))}"
                    f"{outcome}",
                )
            )
    return lines


def _last_result(last: Obj, status: Obj) -> str:
    """A hook's last result and the revision it is for: an old Failed must not read as today's."""
    result = text_of(last.get("result") or last.get("phase"))
    revision = last.get("revision")
    if not revision:
        return f"last result: {result}"
    roles = [role for role in ("canary", "stable") if _map(status.get(role)).get("revision") == revision]
    which = f"the {roles[0]} revision" if roles else "an older revision, no longer running"
    return f"last result: {result}, for revision {text_of(revision)} ({which})"


def _status_hooks(release: Obj) -> dict[tuple[str, str], Obj]:
    """status.hooks by (stage, name): a preDeploy and a postDeploy hook may share a name."""
    return {
        (str(entry.get("stage")), str(entry.get("name"))): entry
        for entry in _items(_status(release).get("hooks"))
    }


def _alert_rollback(rollback: Obj) -> str:
    selector = rollback.get("alerts")
    if not isinstance(selector, Mapping):
        return "no (spec.rollback.alerts is not set)"
    wanted = ", ".join(f"{k}={v}" for k, v in _map(selector.get("matchLabels")).items()) or "any labels"
    return f"yes, during a rollout, when the alert's labels match {wanted} (reason AlertFiring)"


def deployment_process(release: Obj, chain: Iterable[Obj], now: datetime) -> Section:
    spec = _spec(release)
    blocks: list[Block] = [para("Strategy: ", Mono(strategy_name(release)), ". The steps the operator runs:")]
    steps = plan_steps(release)
    blocks.append(
        Grid(("#", "STEP"), tuple(((str(n),), (step,)) for n, step in enumerate(steps, start=1)))
        if steps
        else no_data("the spec is not a valid Release, so no plan can be shown")
    )
    rollback = _map(spec.get("rollback"))
    blocks.append(
        para(
            f"Rollback: on a failed analysis {'yes' if rollback.get('onAnalysisFailure', True) else 'no'};"
            f" progress deadline {text_of(rollback.get('progressDeadlineSeconds'))} s"
            f" (then {text_of(rollback.get('onProgressDeadline') or 'rollback')});"
            f" on a firing alert {_alert_rollback(rollback)}."
        )
    )
    hooks = _hook_lines(_map(spec.get("hooks")), _status_hooks(release), _status(release))
    blocks.append(Bullets(tuple(hooks)) if hooks else no_data("spec.hooks sets no deploy hooks"))
    promotion = _map(spec.get("promotion"))
    if not promotion:
        blocks.append(no_data("spec.promotion is not set: this Release takes any version it is given"))
    else:
        source = _map(promotion.get("from"))
        namespace, name = _name(release)
        windows = "; ".join(
            f"{','.join(map(str, w.get('days') or []))} {text_of(w.get('start'))}-{text_of(w.get('end'))} UTC"
            for w in _items(promotion.get("windows"))
        )
        blocks.append(
            Bullets(
                (
                    (
                        "Upstream: ",
                        Mono(f"{text_of(source.get('namespace'))}/{text_of(source.get('name') or name)}"),
                    ),
                    (
                        f"Soak: {text_of(promotion.get('soak'))};"
                        f" approval: {text_of(promotion.get('approval'))}",
                    ),
                    (f"Windows: {windows or 'any time'}",),
                )
            )
        )
        lines = pipeline_lines(chain, namespace, name, now)
        blocks.append(
            Commands("\n".join(lines))
            if lines
            else no_data("the other Releases of the chain could not be read")
        )
    return Section("Deployment process", tuple(blocks))


def _port(value: object, container: Obj) -> str:
    """A probe's port, with the container port it names resolved."""
    if isinstance(value, str):
        for port in _items(container.get("ports")):
            if port.get("name") == value:
                return f"{value} ({text_of(port.get('containerPort'))})"
    return text_of(value)


def _probe_target(probe: Obj, container: Obj) -> Line:
    if "httpGet" in probe:
        get = _map(probe["httpGet"])
        scheme = str(get.get("scheme") or "HTTP").lower()
        return (
            Mono(f"{scheme} GET {text_of(get.get('path') or '/')}"),
            f" on port {_port(get.get('port'), container)}",
        )
    if "tcpSocket" in probe:
        return ("TCP connect on port ", _port(_map(probe["tcpSocket"]).get("port"), container))
    if "grpc" in probe:
        return ("gRPC health check on port ", text_of(_map(probe["grpc"]).get("port")))
    if "exec" in probe:
        command = _map(probe["exec"]).get("command")
        return ("runs ", Mono(" ".join(map(str, command)) if isinstance(command, list) else text_of(command)))
    return ("(no handler)",)


def health_checks(release: Obj) -> Section:
    rows: list[tuple[Line, ...]] = []
    for container in _containers(release):
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = _map(container.get(kind))
            if not probe:
                continue
            timing = (
                f"every {probe.get('periodSeconds', 10)} s, timeout {probe.get('timeoutSeconds', 1)} s,"
                f" after {probe.get('initialDelaySeconds', 0)} s, {probe.get('failureThreshold', 3)} failures"
            )
            rows.append(
                ((text_of(container.get("name")),), (kind,), _probe_target(probe, container), (timing,))
            )
    if not rows:
        return Section(
            "Health-check endpoints",
            (no_data("no container of spec.template defines a probe: a pod counts as ready once it runs"),),
        )
    return Section("Health-check endpoints", (Grid(("CONTAINER", "PROBE", "CHECK", "TIMING"), tuple(rows)),))


def _query_of(metric: Obj, interval_seconds: int) -> Line:
    """What a metric measures, as its provider reads it; a builtin as PromQL with the default names."""
    if isinstance(metric.get("builtin"), str):
        builtin = metric["builtin"]
        names = BuiltinMetricsConfig()
        try:
            query = (
                resource_queries(builtin, names, interval_seconds).fraction
                if builtin in RESOURCES
                else builtin_query(builtin, names, interval_seconds)
            )
        except KeyError:
            return (f"builtin {builtin}",)
        return (f"builtin {builtin}: ", Mono(query))
    if "prometheus" in metric:
        return ("PromQL: ", Mono(text_of(_map(metric["prometheus"]).get("query"))))
    if "web" in metric:
        web = _map(metric["web"])
        return ("GET ", Mono(text_of(web.get("url"))), ", value at ", Mono(text_of(web.get("jsonPath"))))
    if "job" in metric:
        return ("a Job: 1 when it succeeds, 0 when it fails",)
    return ("unknown provider",)


def _threshold(metric: Obj) -> str:
    try:
        return format_range(Metric.model_validate(metric).effective_threshold())
    except ValidationError:
        return "invalid metric"


def _interval_seconds(text: str) -> int:
    try:
        return max(1, int(parse_duration(text)))
    except ValueError:
        return 30


def key_metrics(release: Obj) -> Section:
    analysis = _map(_spec(release).get("analysis"))
    metrics = _items(analysis.get("metrics"))
    if not metrics:
        return Section("Key metrics", (no_data("spec.analysis sets no metrics: rollouts are not measured"),))
    interval = text_of(analysis.get("interval") or "30s")
    # Oldest first: the last record of a metric is its newest.
    latest = {str(record.get("metric")): record for record in measurements(release)}
    rows: list[tuple[Line, ...]] = []
    for metric in metrics:
        name = text_of(metric.get("name"))
        newest = latest.get(name)
        current: Line = (
            (
                f"{text_of(newest.get('value'))} ({text_of(newest.get('result'))},"
                f" {format_time(parse_time(newest.get('at')))} UTC,"
                f" revision {text_of(newest.get('revision'))})",
            )
            if newest
            else ("no measurement recorded",)
        )
        tolerance = (
            f"failureLimit {metric.get('failureLimit', 0)}, onNoData {metric.get('onNoData', 'inconclusive')}"
        )
        rows.append(
            (
                (Mono(name),),
                _query_of(metric, _interval_seconds(interval)),
                (_threshold(metric),),
                (tolerance,),
                current,
            )
        )
    return Section(
        "Key metrics",
        (
            para(
                f"Measured every {interval} while a new version gets traffic; the newest value of each."
                " A builtin's query is shown with the default label names (the operator config's"
                " builtin section may rename them); {{...}} is filled in for the revision measured."
            ),
            Grid(("METRIC", "QUERY", "GOOD WHEN", "TOLERANCE", "CURRENT VALUE"), tuple(rows)),
        ),
    )


def _rule_alerts(rule: Obj) -> list[Obj]:
    return [
        r for group in _items(_spec(rule).get("groups")) for r in _items(group.get("rules")) if r.get("alert")
    ]


def _response(labels: Obj, selector: Obj | None) -> str:
    """What Slipway does when an alert with `labels` fires for this Release."""
    if selector is None:
        return (
            "Slipway does not act (spec.rollback.alerts is not set); Alertmanager routes it to its receivers."
        )
    wanted = _map(selector.get("matchLabels"))
    if all(str(labels.get(k)) == str(v) for k, v in wanted.items()):
        return (
            "During a rollout Slipway rolls the canary back at once (reason AlertFiring); while Healthy it"
            " does not act: a person does (abort, undo or a revert in git)."
        )
    shown = ", ".join(f"{k}={v}" for k, v in wanted.items())
    return f"Slipway does not act (spec.rollback.alerts matches {shown}); Alertmanager routes it."


def alert_conditions(release: Obj, rule: Obj | None) -> Section:
    spec = _spec(release)
    rollback = _map(spec.get("rollback"))
    selector = _map(rollback["alerts"]) if isinstance(rollback.get("alerts"), Mapping) else None
    blocks: list[Block] = []
    rows: list[tuple[Line, ...]] = []
    if rule is not None:
        name = text_of(_meta(rule).get("name"))
        blocks.append(para("From the PrometheusRule ", Mono(name), " the operator keeps for this Release:"))
        for alert in _rule_alerts(rule):
            labels = _map(alert.get("labels"))
            rows.append(
                (
                    (Mono(text_of(alert.get("alert"))),),
                    (Mono(text_of(alert.get("expr"))), f" for {text_of(alert.get('for'))}"),
                    (text_of(labels.get("severity")),),
                    (_response(labels, selector),),
                )
            )
    else:
        configured = spec.get("alertRules")
        rules = _map(configured) if configured is not None else DEFAULT_ALERT_RULES
        if rules.get("enabled") is False:
            blocks.append(no_data("spec.alertRules.enabled is false: no alert rules are generated"))
        else:
            source = "spec.alertRules" if configured is not None else "the defaults (spec.alertRules omitted)"
            blocks.append(
                para(f"From {source}; no PrometheusRule for this Release was found on the cluster:")
            )
            for key, alert_name in ALERT_NAMES.items():
                # An alert the spec leaves out keeps the guide's settings, as it would be generated.
                settings = {**DEFAULT_ALERT_RULES[key], **_map(rules.get(key))}
                if settings.get("enabled") is False:
                    continue
                condition = (
                    f"share of requests answered 5xx above {text_of(settings.get('max'))}"
                    if key == "highErrorRate"
                    else f"response time above {text_of(settings.get('maxSeconds'))} s"
                )
                rows.append(
                    (
                        (Mono(alert_name),),
                        (f"{condition} for {text_of(settings.get('for'))}",),
                        (text_of(settings.get("severity")),),
                        (_response({"severity": settings.get("severity")}, selector),),
                    )
                )
    if rows:
        blocks.append(Grid(("ALERT", "CONDITION", "SEVERITY", "WHAT SLIPWAY DOES"), tuple(rows)))
    elif rule is not None:
        blocks.append(no_data("the PrometheusRule holds no alerting rule"))
    if selector is not None:
        wanted = ", ".join(f"{k}={v}" for k, v in _map(selector.get("matchLabels")).items())
        blocks.append(
            para(
                f"Any other firing alert labelled {wanted or '(any labels)'} with this Release's namespace"
                " and name also rolls a rollout back. If Alertmanager cannot be asked, a rollout holds at"
                " Paused (AlertsUnknown) until it answers again."
            )
        )
    return Section("Alert conditions and responses", tuple(blocks))


def logs(release: Obj) -> Section:
    namespace, name = _name(release)
    status = _status(release)
    commands = [
        f"kubectl logs -n {namespace} -l slipway.dev/release={name} --all-containers --prefix --tail=100",
    ]
    for role in ("stable", "canary"):
        revision = _map(status.get(role)).get("revision")
        if revision:
            commands.append(
                f"kubectl logs -n {namespace} -l slipway.dev/release={name},slipway.dev/revision={revision}"
                f" --all-containers --prefix   # {role}, version"
                f" {text_of(_map(status.get(role)).get('version'))}"
            )
    commands.append(
        f"kubectl get events -n {namespace}"
        f" --field-selector involvedObject.kind=Release,involvedObject.name={name}"
    )
    return Section(
        "Logs",
        (
            para(
                "The pods of every revision carry the labels ",
                Mono("slipway.dev/release"),
                " and ",
                Mono("slipway.dev/revision"),
                ":",
            ),
            Commands("\n".join(commands)),
            para("The operator's own log lines are JSON with namespace, release, revision, phase and step."),
        ),
    )


def troubleshooting(release: Obj, events: Sequence[Obj], actions: Mapping[str, str]) -> Section:
    namespace, name = _name(release)
    blocks: list[Block] = []
    rolled_back = [entry for entry in history(release) if entry.get("outcome") in ROLLED_BACK]
    last = _map(_status(release).get("lastRollback"))
    if not rolled_back and not last:
        blocks.append(no_data("this Release has no rollback on record"))
    else:
        if last:
            blocks.append(
                para(
                    "Last rollback: ",
                    rollback_summary(last),
                    f" at {format_time(parse_time(last.get('at')))} UTC.",
                )
            )
        rows = tuple(
            (
                (Mono(text_of(entry.get("version"))),),
                (text_of(entry.get("outcome")),),
                (text_of(entry.get("reason")),),
                (format_time(parse_time(entry.get("finishedAt"))),),
            )
            for entry in reversed(rolled_back[-RECENT_ROLLBACKS:])
        )
        if rows:
            blocks.append(Grid(("VERSION", "OUTCOME", "REASON", "FINISHED (UTC)"), rows))
        since = last_attempt_started(release)
        timeline = tuple(
            ((format_time(entry.at),), (entry.source,), (entry.text,))
            for entry in rollback_timeline(release, events)
            if since is not None and entry.at is not None and entry.at >= since
        )
        if timeline:
            blocks.append(para(f"Timeline of the last rollback (as kubectl slipway report {name} shows it):"))
            blocks.append(Grid(("TIME (UTC)", "SOURCE", "WHAT"), timeline))
    target = f"{name} -n {namespace}"
    manual = [(f"kubectl slipway {key.rsplit('/', 1)[-1]} {target}", why) for key, why in actions.items()]
    manual += [
        (
            f"kubectl slipway undo {target}",
            "Write an earlier revision back into spec (not for Releases in git).",
        ),
        (f"kubectl slipway report {target}", "The timeline of the last rollback."),
        (f"kubectl slipway get {target} --watch", "Steps, weights and measurements, live."),
    ]
    blocks.append(para("Manual commands:"))
    blocks.append(Grid(("COMMAND", "WHAT IT DOES"), tuple(((Mono(c),), (why,)) for c, why in manual)))
    return Section("Troubleshooting", tuple(blocks))


def contacts(release: Obj) -> Section:
    annotations = _map(_meta(release).get("annotations"))
    keys = (OWNER, ONCALL, ESCALATION)
    rows = tuple(((Mono(key),), (str(annotations[key]),)) for key in keys if annotations.get(key))
    blocks: list[Block] = [Grid(("ANNOTATION", "CONTACT"), rows)] if rows else []
    blocks += [
        no_data(f"the {key} annotation is not set on the Release") for key in keys if not annotations.get(key)
    ]
    return Section("Emergency contacts and escalation", tuple(blocks))


def runbook(
    release: Obj,
    events: Sequence[Obj],
    rule: Obj | None,
    chain: Iterable[Obj],
    actions: Mapping[str, str],
    now: datetime,
) -> Document:
    """The runbook of the service `release` runs; `chain` holds the Releases the plugin could read
    (for the promotion chain), `actions` the manual actions by annotation key and what each does."""
    namespace, name = _name(release)
    return Document(
        f"Runbook: {namespace}/{name}",
        (f"Generated by kubectl slipway runbook from the live cluster at {format_time(now)} UTC.",),
        (
            overview(release),
            deployment_process(release, chain, now),
            health_checks(release),
            key_metrics(release),
            alert_conditions(release, rule),
            logs(release),
            troubleshooting(release, events, actions),
            contacts(release),
        ),
    )


# --- writers -----------------------------------------------------------------------------------------

# CommonMark markup a text could start: emphasis, code, links, table cells, raw HTML and entities
# (`<` before a tag or autolink, `&` before an entity name) anywhere; headings, quotes, lists only at
# the start of a line.
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]|]|<(?=[A-Za-z/!?])|&(?=[A-Za-z0-9#])|^[#>+-]")


def _md_text(text: str) -> str:
    """Plain text in Markdown, backslash-escaped (CommonMark), so that a value from the cluster adds
    no emphasis, link, HTML, heading or table cell."""
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(text.split("\n")))


def _md_code(text: str) -> str:
    """A code span: fenced by more backticks than the text holds in a row; `|` escaped for tables."""
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    body = " ".join(text.split("\n")).replace("|", "\\|")
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def _md_line(line: Line) -> str:
    return "".join(_md_code(p.text) if isinstance(p, Mono) else _md_text(p) for p in line)


def _md_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return _md_line(block.line)
    if isinstance(block, Bullets):
        return "\n".join(f"- {_md_line(item)}" for item in block.items)
    if isinstance(block, Commands):
        run = max((len(m) for m in re.findall(r"`{3,}", block.text)), default=2)
        fence = "`" * (run + 1)
        return f"{fence}sh\n{block.text}\n{fence}"
    header = "| " + " | ".join(_md_text(h) for h in block.header) + " |"
    rule = "|" + "|".join("---" for _ in block.header) + "|"
    rows = ["| " + " | ".join(_md_line(cell) for cell in row) + " |" for row in block.rows]
    return "\n".join([header, rule, *rows])


def to_markdown(document: Document) -> str:
    parts = [f"# {_md_text(document.title)}", _md_line(document.subtitle)]
    for section in document.sections:
        parts.append(f"## {_md_text(section.title)}")
        parts += [_md_block(block) for block in section.blocks]
    return "\n\n".join(parts) + "\n"


def _html_line(line: Line) -> str:
    return "".join(
        f"<code>{html.escape(p.text)}</code>" if isinstance(p, Mono) else html.escape(p) for p in line
    )


def _html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_html_line(block.line)}</p>"
    if isinstance(block, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{_html_line(item)}</li>" for item in block.items) + "\n</ul>"
    if isinstance(block, Commands):
        return f"<pre><code>{html.escape(block.text)}</code></pre>"
    header = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{_html_line(cell)}</td>" for cell in row) + "</tr>" for row in block.rows
    )
    return f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"


def to_html(document: Document) -> str:
    title = html.escape(document.title)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head><meta charset="utf-8"><title>{title}</title></head>',
        "<body>",
        f"<h1>{title}</h1>",
        f"<p>{_html_line(document.subtitle)}</p>",
    ]
    for section in document.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [_html_block(block) for block in section.blocks]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def render(document: Document, output: Format) -> str:
    return to_html(document) if output == "html" else to_markdown(document)

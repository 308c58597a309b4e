"""The dashboard's content: pure functions of the Releases and Events the watches hold, as HTML.

Nothing here talks to a cluster or reads the clock (callers pass `now`), and every text that comes from
the cluster is escaped. The page (static/index.html) puts what `board` returns in place at each change.
Reading is as defensive as `kubectl slipway get`'s (_plugin_view): a missing field shows as "-".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any, Final

from slipway.api import annotations as manual
from slipway.api.models import ThresholdRange
from slipway.cli._plugin_pipeline import chains, environment
from slipway.cli._plugin_view import (
    age,
    canary_weight,
    format_time,
    last_attempt_started,
    measurements,
    parse_time,
    rollback_summary,
    rollback_timeline,
    step_in_progress,
    step_states,
    strategy_name,
    text_of,
    valid_spec,
    valid_status,
)
from slipway.core.judge import format_range
from slipway.core.manual import no_effect

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Button:
    """One button: the request it sends (an annotation, as the plugin's command of the same name)."""

    action: str
    key: str
    help: str


BUTTONS: Final = (
    Button("promote", manual.PROMOTE, "Move past the current pause or analysis gate."),
    Button("abort", manual.ABORT, "Roll back to the stable revision now."),
    Button("retry", manual.RETRY, "Attempt a Degraded release again, without changing its spec."),
    Button("approve", manual.APPROVE, "Approve spec.version for the promotion gate (approval: manual)."),
)

TIMELINE_ROWS: Final = 8
"""The newest entries of the rollback's timeline the card shows (`kubectl slipway report` has them all)."""


def _mapping(value: object) -> Obj:
    return value if isinstance(value, Mapping) else {}


def _records(value: object) -> list[Obj]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _key(release: Obj) -> tuple[str, str]:
    meta = _mapping(release.get("metadata"))
    return text_of(meta.get("namespace")), text_of(meta.get("name"))


# ---------------------------------------------------------------------------------------------- buttons


def disabled_because(button: Button, release: Obj) -> str | None:
    """Why the button would change nothing now (None: it would act): the core's own judgement, the one
    the plugin's command asks before it sends."""
    spec = valid_spec(release)
    value = f"{spec.version if spec else ''} by the dashboard"
    return no_effect(button.key, value, spec, valid_status(release))


def _buttons(release: Obj, now: datetime) -> str:
    namespace, name = _key(release)
    parts = []
    for button in BUTTONS:
        why = disabled_because(button, release)
        attributes = f' disabled title="{escape(why)}"' if why else f' title="{escape(button.help)}"'
        parts.append(
            f'<button type="button" class="action {button.action}" data-action="{button.action}" '
            f'data-namespace="{escape(namespace)}" data-name="{escape(name)}"{attributes}>'
            f"{button.action}</button>"
        )
    records = _records(_mapping(release.get("status")).get("manualActions"))
    done = max(records, key=lambda r: text_of(r.get("at")), default=None)
    if done is not None:
        parts.append(
            f'<span class="acknowledged">last request: {escape(text_of(done.get("action")))} '
            f"{escape(age(done.get('at'), now))} ago: {escape(text_of(done.get('result')))}</span>"
        )
    return f'<div class="actions">{"".join(parts)}</div>'


# ---------------------------------------------------------------------------------------------- weights


def weights(release: Obj) -> list[tuple[str, str, int]]:
    """(role, version, weight) of the stable and canary revisions: the canary's share as `list` and
    `kubectl get rel` show it, the rest on the stable one."""
    status = _mapping(release.get("status"))
    canary = canary_weight(release) or 0
    shares = []
    for role, weight in (("stable", 100 - canary), ("canary", canary)):
        revision = _mapping(status.get(role))
        if revision.get("revision"):
            shares.append((role, text_of(revision.get("version")), weight))
    return shares


def _weights_bar(release: Obj) -> str:
    shares = weights(release)
    if not shares:
        return '<div class="bar empty">no revisions yet</div>'
    # A revision without traffic (a canary before its first step, or rolled back) is named beside the bar.
    spans = "".join(
        f'<span class="{role}" style="width:{weight}%">{role} {escape(version)} {weight}%</span>'
        for role, version, weight in shares
        if weight
    )
    idle = ", ".join(f"{role} {escape(version)} 0%" for role, version, weight in shares if not weight)
    return f'<div class="bar">{spans}</div>' + (f'<div class="idle">{idle}</div>' if idle else "")


def _steps(release: Obj) -> str:
    """The plan numbered and marked as `get` shows it."""
    states = step_states(release)
    if not states:
        return ""
    items = "".join(f'<li class="{state}">{escape(step)}</li>' for step, state in states)
    step = step_in_progress(release)
    where = "no rollout under way" if step is None else f"step {step[0]}/{step[1]}: {escape(step[2])}"
    return f'<div class="step">{where}</div><ol class="steps">{items}</ol>'


# ---------------------------------------------------------------------------------------------- plots


@dataclass(frozen=True)
class Point:
    """One judged measurement: its value (None when it had none: inconclusive, an error) and verdict."""

    at: datetime
    value: float | None
    result: str
    message: str


PLOT_WIDTH: Final = 280
PLOT_HEIGHT: Final = 72
PLOT_PAD: Final = 6


def _number(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return float(text)  # "NaN", "+Inf" and "-Inf" included, as the judge writes them
    except ValueError:
        return None


def series(release: Obj) -> dict[str, list[Point]]:
    """The measurements status keeps (newest last), by metric, those without a time left out."""
    by_metric: dict[str, list[Point]] = {}
    for record in measurements(release):
        at = parse_time(record.get("at"))
        if at is not None:
            by_metric.setdefault(text_of(record.get("metric")), []).append(
                Point(
                    at,
                    _number(record.get("value")),
                    text_of(record.get("result")),
                    text_of(record.get("message")),
                )
            )
    return by_metric


def thresholds(release: Obj) -> dict[str, ThresholdRange]:
    """Each metric's range of good values, as the operator judges it (a provider's default included)."""
    spec = valid_spec(release)
    if spec is None or spec.analysis is None:
        return {}
    return {metric.name: metric.effective_threshold() for metric in spec.analysis.metrics}


def plot(metric: str, threshold: ThresholdRange | None, points: Sequence[Point]) -> str:
    """A small time-series plot as inline SVG: the measurements in time, coloured by verdict, over the
    band of good values; a point without a finite value sits on an edge (+Inf on top, others below)."""
    finite = [p.value for p in points if p.value is not None and math.isfinite(p.value)]
    bounds = [b for b in (threshold.min, threshold.max) if b is not None] if threshold else []
    low, high = min([*finite, *bounds], default=0.0), max([*finite, *bounds], default=1.0)
    margin = (high - low) * 0.15 or max(abs(high) * 0.5, 1.0)
    low, high = low - margin, high + margin

    def y(value: float) -> float:  # higher values higher up; beyond the axis (an infinity) on its edge
        return PLOT_PAD + (high - min(max(value, low), high)) / (high - low) * (PLOT_HEIGHT - 2 * PLOT_PAD)

    start = min((p.at for p in points), default=None)
    span = max(((p.at - start).total_seconds() for p in points), default=0.0) if start else 0.0

    def x(at: datetime) -> float:
        if start is None or span <= 0:
            return PLOT_WIDTH / 2
        return PLOT_PAD + (at - start).total_seconds() / span * (PLOT_WIDTH - 2 * PLOT_PAD)

    shapes = []
    if threshold is not None:
        band_top = y(threshold.max) if threshold.max is not None else PLOT_PAD
        band_bottom = y(threshold.min) if threshold.min is not None else PLOT_HEIGHT - PLOT_PAD
        shapes.append(
            f'<rect class="good" x="0" y="{band_top:.1f}" width="{PLOT_WIDTH}" '
            f'height="{max(band_bottom - band_top, 0):.1f}"/>'
        )
        for bound in bounds:
            shapes.append(
                f'<line class="threshold" x1="0" x2="{PLOT_WIDTH}" y1="{y(bound):.1f}" y2="{y(bound):.1f}"/>'
            )
    placed = [
        (x(p.at), PLOT_HEIGHT - PLOT_PAD if p.value is None or math.isnan(p.value) else y(p.value), p)
        for p in points
    ]
    line = " ".join(
        f"{px:.1f},{py:.1f}" for px, py, p in placed if p.value is not None and math.isfinite(p.value)
    )
    if line:
        shapes.append(f'<polyline class="series" points="{line}"/>')
    for px, py, point in placed:
        said = f"{format_time(point.at)} {text_of(point.value)} {point.result}: {point.message}"
        shapes.append(
            f'<circle class="point {escape(point.result.lower())}" cx="{px:.1f}" cy="{py:.1f}" r="3">'
            f"<title>{escape(said)}</title></circle>"
        )
    label = f"{metric}: {len(points)} measurements" + (
        f", good {format_range(threshold)}" if threshold else ""
    )
    return (
        f'<svg class="plot" viewBox="0 0 {PLOT_WIDTH} {PLOT_HEIGHT}" width="{PLOT_WIDTH}" '
        f'height="{PLOT_HEIGHT}" role="img" aria-label="{escape(label)}" data-metric="{escape(metric)}" '
        f'data-points="{len(points)}">{"".join(shapes)}</svg>'
    )


def _metrics(release: Obj) -> str:
    by_metric, ranges = series(release), thresholds(release)
    names = list(ranges) + [name for name in by_metric if name not in ranges]
    if not names:
        return ""
    figures = []
    for name in names:
        points = by_metric.get(name, [])
        last = f"{text_of(points[-1].value)} {points[-1].result}" if points else "no measurements yet"
        good = f"good {format_range(ranges[name])}" if name in ranges else ""
        figures.append(
            f'<figure class="metric"><figcaption><b>{escape(name)}</b> <span class="last">{escape(last)}'
            f'</span> <span class="range">{escape(good)}</span></figcaption>'
            f"{plot(name, ranges.get(name), points)}</figure>"
        )
    return f'<div class="metrics">{"".join(figures)}</div>'


# ------------------------------------------------------------------------------------- chain and rollback


def _chain(release: Obj, everyone: Iterable[Obj], now: datetime) -> str:
    namespace, name = _key(release)
    paths = [path for path in chains(everyone, namespace, name) if len(path) > 1]
    lines = []
    for path in paths:
        links = '<span class="arrow">→</span>'.join(
            f'<span class="env{" self" if _key(link) == (namespace, name) else ""}">'
            f"{escape(environment(link, now))}</span>"
            for link in path
        )
        lines.append(f'<div class="path">{links}</div>')
    gate = _mapping(_mapping(release.get("status")).get("promotion"))
    if gate.get("gate"):
        lines.append(
            f'<div class="gate">gate {escape(text_of(gate.get("gate")))} '
            f"({escape(text_of(gate.get('reason')))}): {escape(text_of(gate.get('message')))}</div>"
        )
    return f'<div class="chain">{"".join(lines)}</div>' if lines else ""


def _rollback(release: Obj, events: Iterable[Obj], now: datetime) -> str:
    last = _mapping(_mapping(release.get("status")).get("lastRollback"))
    if not last:
        return ""
    since = last_attempt_started(release)
    entries = [e for e in rollback_timeline(release, events) if since is None or (e.at and e.at >= since)]
    rows = "".join(
        f"<tr><td>{escape(format_time(e.at))}</td><td>{escape(e.source)}</td><td>{escape(e.text)}</td></tr>"
        for e in entries[-TIMELINE_ROWS:]
    )
    return (
        f'<div class="rollback"><h3>Last rollback, {escape(age(last.get("at"), now))} ago</h3>'
        f'<p class="summary">{escape(rollback_summary(last))}</p>'
        f'<table class="timeline"><tbody>{rows}</tbody></table></div>'
    )


# ---------------------------------------------------------------------------------------------- page


def card(release: Obj, everyone: Sequence[Obj], events: Iterable[Obj], now: datetime) -> str:
    """One Release: phase, weights, step, measurements, its chain of environments, the last rollback
    and the buttons. `everyone`: every Release watched (the chain); `events`: Events of its namespace."""
    namespace, name = _key(release)
    status, spec = _mapping(release.get("status")), _mapping(release.get("spec"))
    phase = text_of(status.get("phase"))
    canary = next((weight for role, _, weight in weights(release) if role == "canary"), 0)
    message = status.get("message") or (
        "" if status else "no status yet: the operator has not seen this Release (is it running?)"
    )
    return (
        f'<section class="release phase-{escape(phase)}" data-namespace="{escape(namespace)}" '
        f'data-name="{escape(name)}" data-phase="{escape(phase)}" data-canary-weight="{canary}">'
        f"<header><h2>{escape(namespace)}/{escape(name)}</h2>"
        f'<span class="phase">{escape(phase)}</span>'
        f'<span class="version">version {escape(text_of(spec.get("version")))} · '
        f"{escape(strategy_name(release))}</span></header>"
        f'<p class="message">{escape(text_of(message))}</p>'
        f"{_weights_bar(release)}{_steps(release)}{_metrics(release)}{_chain(release, everyone, now)}"
        f"{_rollback(release, events, now)}{_buttons(release, now)}</section>"
    )


def board(
    releases: Sequence[Obj], events: Sequence[Obj], now: datetime, scope: str, problems: Sequence[str]
) -> str:
    """Every Release watched, by namespace and name, under a line saying what is shown and when."""
    ordered = sorted(releases, key=_key)
    parts = [
        f'<p class="summary">{len(ordered)} Release{"" if len(ordered) == 1 else "s"} in {escape(scope)}, '
        f"as of {escape(format_time(now))} UTC</p>"
    ]
    parts += [f'<p class="problem">{escape(problem)}</p>' for problem in problems]
    parts += [card(release, ordered, events, now) for release in ordered]
    if not ordered:
        parts.append(f'<p class="empty">No Releases in {escape(scope)}.</p>')
    return "".join(parts)

"""`kubectl slipway`: the kubectl plugin (entry point `kubectl-slipway`).

Manual actions are annotation patches on metadata only, so they never change spec (no GitOps drift);
whether one would change anything is the core's call (slipway.core.manual). Only `undo`, `set image`
and `restart` write spec, and they say so. Rendering lives in _plugin_view (pure); API calls go through
the operator's own client (slipway.kube.client), with the same credentials rules as kubectl.
"""

from __future__ import annotations

import itertools
import json
import math
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import typer
import yaml
from rich.console import Console, RenderableType
from rich.live import Live

# typer's own completion (its scripts and the classes answering them); it exports them from no public module.
from typer._completion_classes import completion_init
from typer._completion_shared import get_completion_script

import slipway
from slipway import plugins
from slipway.api import annotations as manual
from slipway.api.durations import format_duration, parse_duration
from slipway.cli import HELP_STYLE
from slipway.cli._plugin_edit import EditError, parse_assignment, restart_patch, set_image_patch
from slipway.cli._plugin_pipeline import pipeline_lines
from slipway.cli._plugin_runbook import FORMATS, Format, render, runbook
from slipway.cli._plugin_undo import (
    UndoError,
    already_desired,
    choose_target,
    pruned,
    recover_template,
    restorable,
    undo_patch,
)
from slipway.cli._plugin_view import (
    RolloutState,
    acknowledgement,
    history_table,
    list_table,
    numbered_history,
    release_view,
    rollback_report,
    rollout_state,
    text_of,
    valid_spec,
    valid_status,
)
from slipway.cli.validate import validate
from slipway.core.manual import changed_nothing, no_effect
from slipway.kube import client
from slipway.kube.client import (
    JSON_PATCH,
    MERGE_PATCH,
    ApiError,
    CredentialsNotFound,
    KubeApi,
    deployments_path,
    events_path,
    releases_path,
)
from slipway.manifests import LABEL_RELEASE, ReleaseRef, release_selector

app = typer.Typer(
    name="kubectl slipway",
    no_args_is_help=True,
    add_completion=False,
    **HELP_STYLE,
)

# Piped output is never wrapped: scripts and grep see one line per row, as with kubectl.
console = Console(width=None if sys.stdout.isatty() else 10_000)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 10_000)

Kubeconfig = Annotated[str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file.")]
Context = Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")]
Namespace = Annotated[
    str | None, typer.Option("--namespace", "-n", help="The namespace (default: the context's).")
]
Name = Annotated[str, typer.Argument(help="The Release name.")]
Wait = Annotated[
    bool,
    typer.Option("--wait", help="Wait until the operator has carried the action out and its effect shows."),
]


def wait_seconds(text: str | float) -> float:
    """--timeout of --wait: a duration, as status's --timeout and kubectl's take; a bare number is seconds."""
    if isinstance(text, float):  # the default, which click passes through the parser too
        return text
    try:
        seconds = float(text) if text.isdigit() else parse_duration(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    if seconds <= 0:
        raise typer.BadParameter(f"{text!r} is not a positive duration")
    return seconds


Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        parser=wait_seconds,
        metavar="DURATION",
        show_default="60s",
        help="How long --wait waits at most (e.g. 90s, 5m; a bare number is seconds).",
    ),
]
AllowNoop = Annotated[
    bool,
    typer.Option(
        "--allow-noop", help="Send the action and exit 0 even when it would change nothing (no-op)."
    ),
]
OUTPUTS: Final = ("json", "yaml", "wide")
Output = Annotated[str | None, typer.Option("--output", "-o", help="json, yaml or wide.")]

# The plugin's writes in managedFields: a person's requests, never the operator's (`slipway`) nor git's.
PLUGIN_MANAGER = "kubectl-slipway"

# Each manual action is one annotation; the operator carries each distinct value out once and removes it.
ACTIONS: dict[str, str] = {
    manual.PROMOTE: "Move past the current pause or analysis gate.",
    manual.PROMOTE_FULL: "Skip the remaining steps and promote now, without waiting for measurements.",
    manual.PAUSE: "Hold the rollout where it is.",
    manual.RESUME: "Continue a paused rollout.",
    manual.ABORT: "Roll back to the stable revision now.",
    manual.RETRY: "Attempt a Degraded release again, without changing its spec.",
}


def now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """Microseconds keep two actions in the same second distinct: each distinct value is one action."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=1)


@dataclass(frozen=True)
class Cluster:
    """The client and the namespace a command acts in: -n, else the context's (as kubectl chooses)."""

    api: KubeApi
    namespace: str


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Cluster:
    try:
        api = client.connect(kubeconfig, context, field_manager=PLUGIN_MANAGER)
    except CredentialsNotFound as error:
        raise fail(str(error)) from error
    return Cluster(api, namespace or api.namespace)


class Refused(Exception):
    """The cluster turned a request down (no such object, or a conflicting change), in a user's words."""


class Changed(Refused):
    """The object changed since the resourceVersion a write carried (409)."""


def _patch_release(
    cluster: Cluster, name: str, body: dict[str, Any] | list[dict[str, Any]], content_type: str
) -> dict[str, Any]:
    what = f"Release {cluster.namespace}/{name}"
    try:
        return cluster.api.patch(releases_path(cluster.namespace, name), body, content_type)
    except ApiError as error:
        if error.not_found:
            raise Refused(f"{what} not found") from error
        if error.conflict:
            raise Changed(f"{what} changed or was refused: {error.reason}") from error
        raise


def send_request(
    key: str, name: str, cluster: Cluster, value: str, resource_version: str | None = None
) -> dict[str, Any]:
    """Set one request annotation (metadata only), on `resource_version` when given (a 409 then says
    the Release changed since it was read); the Release as the API server answered."""
    metadata: dict[str, Any] = {"annotations": {key: value}}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return _patch_release(cluster, name, {"metadata": metadata}, MERGE_PATCH)


class NoEffect(Refused):
    """The core says the request would change nothing now: nothing was sent."""


@dataclass(frozen=True)
class Sent:
    """A request sent: its value, the Release as the API server answered, and why it changes nothing
    when it was sent all the same (allow_noop)."""

    value: str
    release: dict[str, Any]
    noop: str | None


# Sends that found the Release changed since it was read (409) and judged it again, at most.
_ATTEMPTS: Final = 3


def request_value(key: str, version: str, cluster: Cluster) -> str:
    """A request's value, a new one each time: a promotion gate's names the version and who asks
    ("<version> by <who> at <time>"), the others are the time."""
    at = rfc3339(now())
    return f"{version} by {whoami(cluster)} at {at}" if key in manual.GATE_ACTIONS else at


def send(key: str, name: str, cluster: Cluster, version: str | None = None, allow_noop: bool = False) -> Sent:
    """Judge and send one request, as every action command and the dashboard's buttons do: unless the
    core says it would change nothing on the Release as read (NoEffect; allow_noop sends it anyway),
    set the annotation on the resourceVersion read, so that the judgement holds when it lands; a
    Release changed meanwhile (409) is read and judged again. `version`: what a gate's request is
    about (default: spec.version as read)."""
    action, where = key.removeprefix(manual.PREFIX), f"release {cluster.namespace}/{name}"
    value = None
    for _ in range(_ATTEMPTS):
        release = read_release(cluster, name)
        if value is None:
            about = version or text_of((release.get("spec") or {}).get("version"))
            value = request_value(key, about, cluster)
        why = no_effect(key, value, valid_spec(release), valid_status(release))
        if why is not None and not allow_noop:
            raise NoEffect(f"{where}: {action} would change nothing ({why}), not sent")
        resource_version = (release.get("metadata") or {}).get("resourceVersion")
        try:
            return Sent(value, send_request(key, name, cluster, value, resource_version), why)
        except Changed:
            continue
    raise Refused(f"{where}: changed {_ATTEMPTS} times while {action} was being sent; try again")


@dataclass(frozen=True)
class Request:
    """One manual action: its annotation, and what the command accepts."""

    key: str
    wait: bool
    timeout: float
    allow_noop: bool

    @property
    def action(self) -> str:
        return self.key.removeprefix(manual.PREFIX)


def annotate(request: Request, name: str, cluster: Cluster, version: str | None = None) -> None:
    """Send the request (`send`); when the core says it would change nothing now, exit 1 having sent
    nothing (--allow-noop sends it anyway)."""
    try:
        sent = send(request.key, name, cluster, version, request.allow_noop)
    except NoEffect as error:
        raise fail(f"{error}; --allow-noop sends it") from error
    except Refused as error:
        raise fail(str(error)) from error
    phase = text_of(sent.release.get("status", {}).get("phase"))
    noop = f"; it would change nothing now: {sent.noop}" if sent.noop is not None else ""
    console.print(
        f"release {cluster.namespace}/{name}: {request.action} requested "
        f"(annotation {request.key}={sent.value}; phase now {phase}{noop})",
        highlight=False,
    )
    if request.wait:
        _wait_for_effect(request, name, cluster, sent.value)


def _wait_for_effect(request: Request, name: str, cluster: Cluster, value: str) -> None:
    """Until the operator records this very request, then, for abort and promote-full, until what it
    asked for shows: the rollback finished, or the version Healthy (or rolled back: exit 1)."""
    action, where = request.action, f"release {cluster.namespace}/{name}"
    deadline, limit = time.monotonic() + request.timeout, format_duration(request.timeout)
    result = _acknowledged(cluster, name, action, value, deadline)
    if result is None:
        raise fail(f"{where}: the operator did not carry out {action} within {limit} (is it running?)")
    if changed_nothing(result) and not request.allow_noop:
        raise fail(f"{where}: {action} changed nothing: {result}")
    console.print(f"{where}: {action} carried out: {result}", highlight=False)
    if request.key == manual.ABORT and not changed_nothing(result):
        for release in _follow(cluster, name, deadline):
            if (release.get("status") or {}).get("phase") != "RollingBack":
                console.print(rollout_state(release)[1], highlight=False)
                return
        raise fail(f"{where}: the rollback did not finish within {limit}")
    if request.key == manual.PROMOTE_FULL and not changed_nothing(result):
        state, line = _settled(cluster, name, deadline)
        if state != "done":
            raise fail(line if state == "failed" else f"{line} (not Healthy within {limit})")
        console.print(line, highlight=False)


def _settled(
    cluster: Cluster, name: str, deadline: float | None, waiting: Callable[[str], None] = lambda _: None
) -> tuple[RolloutState, str]:
    """The rollout state once done or failed; the last one seen ("waiting") past the deadline. Each
    new line while it waits goes to `waiting`."""
    state: RolloutState = "waiting"
    line = said = ""
    for release in _follow(cluster, name, deadline):
        state, line = rollout_state(release)
        if state != "waiting":
            break
        if line != said:
            waiting(line)
            said = line
    return state, line


def _acknowledged(cluster: Cluster, name: str, action: str, value: str, deadline: float) -> str | None:
    """The operator's result for this very request, once status records it; None past the deadline."""
    for release in _follow(cluster, name, deadline):
        result = acknowledgement(release, action, value)
        if result is not None:
            return result
    return None


def _action_command(key: str) -> Callable[..., None]:
    def command(
        name: Name,
        kubeconfig: Kubeconfig = None,
        context: Context = None,
        namespace: Namespace = None,
        wait: Wait = False,
        timeout: Timeout = 60.0,
        allow_noop: AllowNoop = False,
    ) -> None:
        annotate(Request(key, wait, timeout, allow_noop), name, connect(kubeconfig, context, namespace))

    command.__doc__ = ACTIONS[key]
    return command


for _key in manual.MANUAL_ACTIONS:
    app.command(_key.removeprefix(manual.PREFIX))(_action_command(_key))


def whoami(cluster: Cluster) -> str:
    """The user the API server knows this client as (`kubectl auth whoami`); "unknown" if it will not say."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        answer = cluster.api.create("/apis/authentication.k8s.io/v1/selfsubjectreviews", review)
    except ApiError:
        return "unknown"
    return str(((answer.get("status") or {}).get("userInfo") or {}).get("username") or "unknown")


Version = Annotated[
    str | None, typer.Option("--version", help="The version (default: the one spec.version names).")
]


@app.command("approve")
def approve_command(
    name: Name,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    version: Version = None,
    skip_gate: Annotated[
        bool,
        typer.Option(
            "--skip-gate", help="Emergency: start the version whatever the promotion gate says (recorded)."
        ),
    ] = False,
    wait: Wait = False,
    timeout: Timeout = 60.0,
    allow_noop: AllowNoop = False,
) -> None:
    """Approve a version for a promotion gate with `approval: manual` (once per version)."""
    key = manual.SKIP_GATE if skip_gate else manual.APPROVE
    request = Request(key, wait, timeout, allow_noop)
    annotate(request, name, connect(kubeconfig, context, namespace), version)


@app.command("unapprove")
def unapprove_command(
    name: Name,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    version: Version = None,
    wait: Wait = False,
    timeout: Timeout = 60.0,
    allow_noop: AllowNoop = False,
) -> None:
    """Withdraw the approval of a version that has not started yet."""
    request = Request(manual.UNAPPROVE, wait, timeout, allow_noop)
    annotate(request, name, connect(kubeconfig, context, namespace), version)


@app.command("pipeline")
def pipeline_command(
    name: Name,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Print the chain again at every change.")
    ] = False,
) -> None:
    """The chain of environments (spec.promotion) this Release belongs to: versions, phases, gates."""
    cluster = connect(kubeconfig, context, namespace)
    releases = {_key_of(r): r for r in cluster.api.list(releases_path(None))}
    shown: list[list[str]] = [[]]

    def draw() -> None:
        lines = pipeline_lines(releases.values(), cluster.namespace, name, now())
        if lines != shown[0]:
            for line in lines:
                console.print(line, highlight=False)
            shown[0] = lines

    if not pipeline_lines(releases.values(), cluster.namespace, name, now()):
        raise fail(f"Release {cluster.namespace}/{name} not found")
    draw()
    try:
        while watch:
            for event in cluster.api.watch(releases_path(None), WATCH_SECONDS):
                if event["type"] == "DELETED":
                    releases.pop(_key_of(event["object"]), None)
                elif event["type"] in ("ADDED", "MODIFIED"):
                    releases[_key_of(event["object"])] = event["object"]
                draw()
            # Listed afresh at each round: what changed between two watches (a deletion too) shows.
            releases = {_key_of(r): r for r in cluster.api.list(releases_path(None))}
            draw()
    except KeyboardInterrupt:
        return


def _key_of(release: dict[str, Any]) -> tuple[str, str]:
    meta = release.get("metadata") or {}
    return str(meta.get("namespace")), str(meta.get("name"))


def _output(output: str | None) -> str | None:
    if output is not None and output not in OUTPUTS:
        raise typer.BadParameter(f"{output!r}: use one of {', '.join(OUTPUTS)}", param_hint="--output")
    return output


def _print_data(data: Any, output: str) -> None:
    """Written as is: rich would read [brackets] in it as markup."""
    if output == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
    sys.stdout.flush()


def _as_list(releases: list[dict[str, Any]]) -> dict[str, Any]:
    """Several objects as kubectl prints them: a v1 List."""
    return {"apiVersion": "v1", "kind": "List", "items": releases, "metadata": {}}


@app.command("list")
def list_command(
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Releases in every namespace.")
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="Only the Release of this name.")] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Print the table again at every change.")
    ] = False,
    output: Output = None,
) -> None:
    """Releases with version, phase, canary weight, step and age."""
    chosen = _output(output)
    cluster = connect(kubeconfig, context, namespace)
    path = releases_path(None if all_namespaces else cluster.namespace)
    where = "any namespace" if all_namespaces else f"namespace {cluster.namespace}"

    def shown(releases: Any) -> list[dict[str, Any]]:
        return [r for r in releases if name is None or (r.get("metadata") or {}).get("name") == name]

    def draw(releases: list[dict[str, Any]]) -> None:
        if chosen in ("json", "yaml"):
            _print_data(_as_list(releases), chosen)
        elif not releases:
            # On stderr, as kubectl says "No resources found": stdout stays the table alone for scripts.
            what = f"No Release {name}" if name else "No Releases"
            errors.print(f"{what} found in {where}.", highlight=False)
        else:
            table = list_table(releases, now(), with_namespace=all_namespaces, wide=chosen == "wide")
            console.print(table)

    last: list[dict[str, Any]] | None = None

    def redraw(releases: dict[tuple[str, str], dict[str, Any]]) -> None:
        nonlocal last
        current = shown(releases.values())
        if current != last:
            draw(current)
            last = current

    try:
        while True:
            # Listed afresh at each round: what changed between two watches (a deletion too) shows.
            releases = {_key_of(r): r for r in cluster.api.list(path)}
            redraw(releases)
            if not watch:
                break
            for event in cluster.api.watch(path, WATCH_SECONDS):
                if event["type"] == "DELETED":
                    releases.pop(_key_of(event["object"]), None)
                elif event["type"] in ("ADDED", "MODIFIED"):
                    releases[_key_of(event["object"])] = event["object"]
                redraw(releases)
    except KeyboardInterrupt:
        return
    if name is not None and not last:
        raise typer.Exit(1)


def read_release(cluster: Cluster, name: str) -> dict[str, Any]:
    release = cluster.api.get(releases_path(cluster.namespace, name))
    if release is None:
        raise Refused(f"Release {cluster.namespace}/{name} not found")
    return release


def _read(cluster: Cluster, name: str) -> dict[str, Any]:
    try:
        return read_release(cluster, name)
    except Refused as error:
        raise fail(str(error)) from error


_NOT_ALLOWED = (401, 403, 404)  # what a user may not read: no pods rather than an error


def _pods(cluster: Cluster, name: str, before: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The pods of the Release's revisions (for the tree in `get`): none when not allowed to list them;
    when the listing fails otherwise, those listed `before` (a view without its pods would say they are
    gone), else none."""
    path = f"/api/v1/namespaces/{cluster.namespace}/pods"
    try:
        listed: list[dict[str, Any]] = cluster.api.list(path, {LABEL_RELEASE: name})
    except ApiError as error:
        if error.status == 0:
            raise
        return [] if error.status in _NOT_ALLOWED or before is None else before
    return listed


@app.command("get")
def get_command(
    name: Name,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep the view live until Ctrl-C.")] = False,
    output: Output = None,
) -> None:
    """The tree of revisions and their pods, the steps with the current one marked, the analysis gate
    as the state machine counts it, measurements, hooks and conditions."""
    chosen = _output(output)
    wide = chosen == "wide"
    cluster = connect(kubeconfig, context, namespace)
    if chosen in ("json", "yaml"):
        for release in _follow(cluster, name) if watch else iter([_read(cluster, name)]):
            _print_data(release, chosen)
        return
    if not watch:
        console.print(release_view(_read(cluster, name), now(), _pods(cluster, name), wide=wide))
        return
    views = _follow_with_pods(cluster, name)
    try:
        if console.is_terminal:
            newest = [next(views)]

            def draw() -> RenderableType:
                release, pods = newest[0]  # read once: a Release and the pods of the same view
                return release_view(release, now(), pods, wide=wide)

            # Redrawn every second from the newest Release, so ages and countdowns move between changes.
            with Live(console=console, get_renderable=draw, refresh_per_second=1):
                for view in views:
                    newest[0] = view
        else:
            # Piped: one full view per change, as `kubectl get --watch` prints one line per change.
            for release, pods in views:
                console.print(release_view(release, now(), pods, wide=wide))
                console.print("---")
    except KeyboardInterrupt:
        return


@app.command("status")
def status_command(
    name: Name,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Wait until the rollout is done or has failed.")
    ] = False,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", help="With --watch: give up after this long (e.g. 30s, 5m); exit 2."),
    ] = None,
) -> None:
    """One line: exit 0 when Healthy on the desired version, 1 when rolled back (Degraded) or rolling
    back, 2 when still under way (with --watch: at the timeout), like `kubectl rollout status`."""
    seconds = None
    if timeout is not None:
        try:
            seconds = parse_duration(timeout)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--timeout") from error
    cluster = connect(kubeconfig, context, namespace)
    if not watch:
        state, line = rollout_state(_read(cluster, name))
    else:
        deadline = None if seconds is None else time.monotonic() + seconds
        try:
            state, line = _settled(cluster, name, deadline, lambda said: console.print(said, highlight=False))
        except KeyboardInterrupt:
            raise typer.Exit(2) from None
        if state == "waiting":
            line = f"{line} (timed out after {timeout})" if line else f"timed out after {timeout}"
    if state == "waiting" and watch:
        errors.print(f"error: {line}", highlight=False)
    else:
        (console if state != "failed" else errors).print(line, highlight=False)
    raise typer.Exit({"done": 0, "failed": 1}.get(state, 2))


WATCH_SECONDS = 30  # each watch ends after this; reading afresh then also recovers from any gap
_FIRST_REWATCH_SECONDS = 0.5


class _Rewatch:
    """When to open a watch again: at once after one that lived, else after a wait that doubles up to
    WATCH_SECONDS (a watch that ends at once, as behind a proxy ignoring timeoutSeconds, or fails), never
    in a busy loop."""

    def __init__(self) -> None:
        self._wait = _FIRST_REWATCH_SECONDS
        self._began: float | None = None

    def next(self, most: float | None = None) -> None:
        """Before each watch: wait if the last one ended at once (`most`: at most this long)."""
        if self._began is not None:
            if time.monotonic() - self._began > 1.0:
                self._wait = _FIRST_REWATCH_SECONDS
            else:
                time.sleep(self._wait if most is None else max(0.0, min(self._wait, most)))
                self._wait = min(self._wait * 2, WATCH_SECONDS)
        self._began = time.monotonic()


def _follow(cluster: Cluster, name: str, deadline: float | None = None) -> Iterator[dict[str, Any]]:
    """The Release now and at every change, until the deadline (`time.monotonic()`; None: forever)."""
    shown = None
    rewatch = _Rewatch()
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        rewatch.next(remaining)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        # Whole seconds, rounded up: the watch ends at or just after the deadline, never before it.
        seconds = WATCH_SECONDS if remaining is None else min(WATCH_SECONDS, math.ceil(remaining))
        current = _read(cluster, name)
        try:
            for release in itertools.chain([current], _changes(cluster, name, seconds)):
                version = release.get("metadata", {}).get("resourceVersion")
                if version != shown:
                    shown = version
                    yield release
        except ApiError as error:
            if error.status == 0:  # unreachable: main() says so
                raise
            if error.status != 410:  # 410 Gone: our place in the history expired; read afresh
                raise fail(f"watch failed: {error.status} {error.reason}") from error


def _follow_with_pods(cluster: Cluster, name: str) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The Release and its pods now and at every change of either, forever. A pod's change (started,
    ready, gone) often comes with no change to the Release: the view read pods only with the Release
    and kept showing a pod long deleted. Each watch has a thread; the pods are listed again after each
    burst of their events, once each watch is open (for what changed before it), and at every change
    of the Release while pods may not be watched or their watch is down. A view is yielded only when
    something in it changed; a listing that fails keeps the pods last listed."""
    changes: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def follow_release() -> None:
        try:
            for release in _follow(cluster, name):
                if stop.is_set():
                    return
                changes.put(("release", release))
        except BaseException as error:  # typer.Exit after its message, or the server unreachable
            changes.put(("error", error))

    threading.Thread(target=follow_release, name="follow-release", daemon=True).start()
    threading.Thread(
        target=_follow_pods, args=(cluster, name, changes, stop), name="follow-pods", daemon=True
    ).start()
    release, pods, shown = None, _pods(cluster, name), None
    unwatched = down = False
    try:
        while True:
            batch = [changes.get()]
            while not changes.empty():  # this thread alone takes: not empty means an item waits
                batch.append(changes.get_nowait())
            kinds = [kind for kind, _ in batch]
            unwatched = unwatched or "unwatched" in kinds
            down = "down" in kinds or (down and "pods" not in kinds)  # "pods" comes as a watch opens
            if "pods" in kinds or ((unwatched or down) and "release" in kinds):
                pods = _pods(cluster, name, pods)  # once for a burst
            for kind, value in batch:
                if kind == "error":
                    raise value
                if kind == "release":
                    release = value
                if release is not None and kind in ("release", "pods"):
                    seen = (release["metadata"].get("resourceVersion"), _versions(pods))
                    if seen != shown:
                        shown = seen
                        yield release, pods
    finally:
        stop.set()  # the threads end at their next event or watch (daemons: never hold the exit)


def _follow_pods(
    cluster: Cluster, name: str, changes: queue.Queue[tuple[str, Any]], stop: threading.Event
) -> None:
    """Tell `changes` of each event of the Release's pods ("pods"; also as each watch opens, for what
    changed before it), that their watch failed ("down", until the next opens) or that they may not be
    watched ("unwatched")."""
    path = f"/api/v1/namespaces/{cluster.namespace}/pods"
    selector = f"{LABEL_RELEASE}={name}"
    rewatch = _Rewatch()

    def opened(_: Callable[[], None]) -> None:
        changes.put(("pods", None))

    while not stop.is_set():
        rewatch.next()
        try:
            for _ in cluster.api.watch(path, WATCH_SECONDS, label_selector=selector, opened=opened):
                if stop.is_set():
                    return
                changes.put(("pods", None))
        except ApiError as error:
            if error.status in _NOT_ALLOWED:  # listed at each change of the Release instead
                changes.put(("unwatched", None))
                return
            changes.put(("down", None))
        except Exception:  # e.g. a line that is no JSON: watched again, as after any failure
            changes.put(("down", None))


def _versions(pods: list[dict[str, Any]]) -> frozenset[tuple[Any, Any]]:
    return frozenset((pod["metadata"].get("uid"), pod["metadata"].get("resourceVersion")) for pod in pods)


def _changes(cluster: Cluster, name: str, seconds: int) -> Iterator[dict[str, Any]]:
    """The Release as it changes until the server ends the watch."""
    path = releases_path(cluster.namespace)
    for event in cluster.api.watch(path, seconds, field_selector=f"metadata.name={name}"):
        if event["type"] == "DELETED":
            raise fail(f"Release {cluster.namespace}/{name} was deleted")
        if event["type"] in ("ADDED", "MODIFIED"):
            yield event["object"]


@app.command("history")
def history_command(
    name: Name,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    output: Output = None,
) -> None:
    """The revisions this Release went through, how each ended, and which `undo` can return to."""
    chosen = _output(output)
    cluster = connect(kubeconfig, context, namespace)
    release = _read(cluster, name)
    selector = release_selector(ReleaseRef(cluster.namespace, name, uid=""))
    # Without the right to list Deployments, which revisions undo can return to is unknown, not "none".
    deployments = _readable(lambda: cluster.api.list(deployments_path(cluster.namespace), selector), None)
    kept = None if deployments is None else restorable(release, deployments)
    if chosen in ("json", "yaml"):
        _print_data(numbered_history(release, kept), chosen)
        return
    console.print(history_table(release, kept, wide=chosen == "wide"))


@app.command("undo")
def undo_command(
    name: Name,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    to_revision: Annotated[
        str | None, typer.Option("--to-revision", help="A NO from `history`, or a revision hash.")
    ] = None,
) -> None:
    """Write an earlier revision's version and template back into spec (for Releases outside GitOps)."""
    cluster = connect(kubeconfig, context, namespace)
    release = _read(cluster, name)
    try:
        target = choose_target(release, to_revision)
        if already_desired(release, target):
            raise UndoError(
                f"spec already describes revision {target.revision} (version {target.version}): "
                "nothing to change, not written"
            )
        deployment_name = ReleaseRef(cluster.namespace, name, uid="").deployment_name(target.revision)
        deployment = cluster.api.get(deployments_path(cluster.namespace, deployment_name))
        if deployment is None:
            raise pruned(release, target)
        template, exact = recover_template(deployment, target)
        _patch_release(cluster, name, undo_patch(release, target.version, template), JSON_PATCH)
    except (UndoError, Refused) as error:
        raise fail(f"cannot undo {cluster.namespace}/{name}: {error}") from error
    before = text_of(release.get("spec", {}).get("version"))
    console.print(
        f"release {cluster.namespace}/{name}: CHANGED SPEC: version {before} -> {target.version}, "
        f"template from revision {target.revision} ({target.why}).\n"
        "If this Release lives in git, Argo CD or Flux will revert this: change git instead.",
        highlight=False,
    )
    if not exact:
        console.print(
            f"note: the template differs from the one revision {target.revision} was made from (fields "
            "the API server defaulted), so Slipway rolls it out as a new revision running the same pods.",
            highlight=False,
        )


@app.command("report")
def report_command(
    name: Name, kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None
) -> None:
    """The timeline of the last rollback: what failed, when, and what was done."""
    cluster = connect(kubeconfig, context, namespace)
    release = _read(cluster, name)
    console.print(rollback_report(release, cluster.api.list(events_path(cluster.namespace)), now()))


# The PrometheusRule the operator keeps per Release, named after it (docs/alert-rules.md).
PROMETHEUS_RULES = "/apis/monitoring.coreos.com/v1/namespaces/{namespace}/prometheusrules/{name}"


def _readable(read: Callable[[], Any], otherwise: Any) -> Any:
    """What `read` returns, or `otherwise` when the API server refuses it (a CRD not installed, no
    right to read it): a runbook shows what it may read and says where it has no data."""
    try:
        return read()
    except ApiError as error:
        if error.status == 0:
            raise
        return otherwise


@app.command("runbook")
def runbook_command(
    name: Name,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help=f"Format: {' or '.join(FORMATS)}.")
    ] = "markdown",
) -> None:
    """The service's runbook, filled from the cluster: overview, deployment, health checks, metrics,
    alerts, logs, troubleshooting and contacts."""
    if output not in FORMATS:
        raise typer.BadParameter(f"{output!r}: use one of {', '.join(FORMATS)}", param_hint="--output")
    chosen: Format = "html" if output == "html" else "markdown"
    cluster = connect(kubeconfig, context, namespace)
    release = _read(cluster, name)
    events = _readable(lambda: cluster.api.list(events_path(cluster.namespace)), [])
    rule = _readable(
        lambda: cluster.api.get(PROMETHEUS_RULES.format(namespace=cluster.namespace, name=name)),
        None,
    )
    chain: list[dict[str, Any]] = []
    if (release.get("spec") or {}).get("promotion"):
        chain = _readable(lambda: cluster.api.list(releases_path(None)), [])
    document = runbook(release, events, rule, chain, ACTIONS, now())
    # Written as is: rich would read [brackets] in it as markup.
    sys.stdout.write(render(document, chosen))


def _change_spec(cluster: Cluster, name: str, patch: list[dict[str, Any]]) -> None:
    try:
        _patch_release(cluster, name, patch, JSON_PATCH)
    except Refused as error:
        raise fail(str(error)) from error


_GITOPS_NOTE: Final = "If this Release lives in git, Argo CD or Flux will revert this: change git instead."


set_app = typer.Typer(help="Change a Release's spec.", no_args_is_help=True, **HELP_STYLE)
app.add_typer(set_app, name="set")


@set_app.command("image")
def set_image_command(
    name: Name,
    assignments: Annotated[
        list[str], typer.Argument(help="CONTAINER=IMAGE, one or more.", metavar="CONTAINER=IMAGE...")
    ],
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    allow_noop: Annotated[
        bool,
        typer.Option("--allow-noop", help="Exit 0 when every container already runs its image (no-op)."),
    ] = False,
) -> None:
    """Set container images in spec.template: a spec change, rolled out as a new revision."""
    cluster = connect(kubeconfig, context, namespace)
    release = _read(cluster, name)
    where = f"release {cluster.namespace}/{name}"
    changes: list[str] = []
    unchanged: list[str] = []
    patch: list[dict[str, Any]] = []
    try:
        for assignment in assignments:
            container, image = parse_assignment(assignment)
            step, before = set_image_patch(release, container, image)
            if before == image:
                unchanged.append(f"container {container} already runs {image}")
                continue
            patch += step if not patch else step[1:]  # one resourceVersion test, first
            changes.append(f"container {container} image {before} -> {image}")
    except EditError as error:
        raise fail(f"{where}: {error}") from error
    if not changes:  # the spec, hence the revision, would stay the same: no rollout, as for the actions
        said = f"set image would change nothing ({'; '.join(unchanged)}), not sent"
        if not allow_noop:
            raise fail(f"{where}: {said}; --allow-noop accepts it")
        console.print(f"{where}: {said}", highlight=False)
        return
    _change_spec(cluster, name, patch)
    said = f"{where}: CHANGED SPEC: {'; '.join(changes)} (a new revision).\n{_GITOPS_NOTE}"
    console.print(said, highlight=False)


@app.command("restart")
def restart_command(
    name: Name, kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None
) -> None:
    """Roll out new pods of the same version: a spec change (a pod template annotation), so a new
    revision that goes through the steps and analysis like any other."""
    cluster = connect(kubeconfig, context, namespace)
    release = _read(cluster, name)
    at = rfc3339(now())
    _change_spec(cluster, name, restart_patch(release, at))
    version = text_of((release.get("spec") or {}).get("version"))
    console.print(
        f"release {cluster.namespace}/{name}: CHANGED SPEC: spec.template annotation "
        f"slipway.dev/restartedAt={at}: a new revision of version {version}.\n{_GITOPS_NOTE}",
        highlight=False,
    )


app.command("lint")(validate)


@app.command("version")
def version_command() -> None:
    """The plugin's version."""
    console.print(f"kubectl-slipway {slipway.__version__}", highlight=False)


def _version_flag(asked: bool) -> None:
    if asked:
        version_command()
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_flag, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Watch and steer Slipway Releases: status, manual actions, live views, history, undo, spec
    changes (set image, restart), rollback reports and runbooks."""


PROG: Final = "kubectl-slipway"
COMPLETE_VAR: Final = "_KUBECTL_SLIPWAY_COMPLETE"
SHELLS: Final = ("bash", "zsh", "fish")


@app.command("completion")
def completion_command(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """The shell completion script for kubectl-slipway: `source <(kubectl slipway completion bash)`."""
    if shell not in SHELLS:
        raise typer.BadParameter(f"{shell!r}: use one of {', '.join(SHELLS)}", param_hint="SHELL")
    script = get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)
    sys.stdout.write(script + "\n")


@app.command("dashboard")
def dashboard_command(
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Releases in every namespace.")
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: a free one).")
    ] = 0,
) -> None:
    """A live web page of the Releases on 127.0.0.1, with promote, abort, retry and approve buttons."""
    from slipway.cli._plugin_dashboard.server import serve  # it imports this module; aiohttp only when used

    serve(connect(kubeconfig, context, namespace), port, all_namespaces)


def main() -> None:
    plugins.load()
    completion_init()  # the completion scripts call back with COMPLETE_VAR set
    try:
        app(prog_name="kubectl slipway", complete_var=COMPLETE_VAR)
    except ApiError as error:
        if error.status == 0:
            errors.print(f"error: cannot reach the API server: {error.message}", highlight=False)
            sys.exit(1)
        # Missing Releases are reported by each command; a 404 reaching here means no such resource type.
        hint = ": is the Release CRD installed? (kubectl apply -f crds/)" if error.not_found else ""
        errors.print(f"error: the API server answered {error.status} {error.reason}{hint}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":  # `python -m slipway.cli.plugin`: how the krew launcher runs it
    main()

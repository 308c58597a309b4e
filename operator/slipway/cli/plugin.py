"""`kubectl slipway`: the kubectl plugin (entry point `kubectl-slipway`).

Manual actions are annotation patches on metadata only, so they never change spec (no GitOps drift).
Only `undo` writes spec, and it says so. Rendering lives in _plugin_view (pure); API calls go through
the operator's own client (slipway.kube.client), with the same credentials rules as kubectl.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from slipway import plugins
from slipway.api import annotations as manual
from slipway.cli._plugin_pipeline import pipeline_lines
from slipway.cli._plugin_runbook import FORMATS, Format, render, runbook
from slipway.cli._plugin_undo import (
    UndoError,
    choose_target,
    pruned,
    recover_template,
    restorable,
    undo_patch,
)
from slipway.cli._plugin_view import (
    acknowledgement,
    history_table,
    list_table,
    release_view,
    rollback_report,
    text_of,
)
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
from slipway.manifests import ReleaseRef, release_selector

app = typer.Typer(
    name="kubectl slipway",
    no_args_is_help=True,
    add_completion=False,
    help="Watch and steer Slipway Releases: manual actions, live views, history, undo, rollback reports"
    " and runbooks.",
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
Wait = Annotated[bool, typer.Option("--wait", help="Wait until the operator has carried the action out.")]
Timeout = Annotated[int, typer.Option("--timeout", min=1, help="Seconds --wait waits at most.")]

# The plugin's writes in managedFields: a person's requests, never the operator's (`slipway`) nor git's.
PLUGIN_MANAGER = "kubectl-slipway"

# Each manual action is one annotation; the operator carries each distinct value out once and removes it.
ACTIONS: dict[str, str] = {
    manual.PROMOTE: "Move past the current pause or analysis gate.",
    manual.PROMOTE_FULL: "Skip the remaining steps and promote the canary now.",
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
            raise Refused(f"{what} changed or was refused: {error.reason}") from error
        raise


def annotate(
    key: str, name: str, cluster: Cluster, wait: bool, timeout: int, value: str | None = None
) -> None:
    value = value or rfc3339(now())
    body = {"metadata": {"annotations": {key: value}}}
    try:
        release = _patch_release(cluster, name, body, MERGE_PATCH)
    except Refused as error:
        raise fail(str(error)) from error
    phase = text_of(release.get("status", {}).get("phase"))
    action = key.removeprefix(manual.PREFIX)
    where = f"release {cluster.namespace}/{name}"
    console.print(
        f"{where}: {action} requested (annotation {key}={value}; phase now {phase})", highlight=False
    )
    if not wait:
        return
    result = _acknowledged(cluster, name, action, value, time.monotonic() + timeout)
    if result is None:
        raise fail(f"{where}: the operator did not carry out {action} within {timeout}s (is it running?)")
    console.print(f"{where}: {action} carried out: {result}", highlight=False)


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
        timeout: Timeout = 60,
    ) -> None:
        annotate(key, name, connect(kubeconfig, context, namespace), wait, timeout)

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


def _gate_request(
    key: str, name: str, version: str | None, cluster: Cluster, wait: bool, timeout: int
) -> None:
    """A request about one version (spec.version unless given): "<version> by <who> at <time>"."""
    wanted = version or text_of((_read(cluster, name).get("spec") or {}).get("version"))
    annotate(key, name, cluster, wait, timeout, f"{wanted} by {whoami(cluster)} at {rfc3339(now())}")


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
    timeout: Timeout = 60,
) -> None:
    """Approve a version for a promotion gate with `approval: manual` (once per version)."""
    key = manual.SKIP_GATE if skip_gate else manual.APPROVE
    _gate_request(key, name, version, connect(kubeconfig, context, namespace), wait, timeout)


@app.command("unapprove")
def unapprove_command(
    name: Name,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    version: Version = None,
    wait: Wait = False,
    timeout: Timeout = 60,
) -> None:
    """Withdraw the approval of a version that has not started yet."""
    _gate_request(manual.UNAPPROVE, name, version, connect(kubeconfig, context, namespace), wait, timeout)


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
            # A new watch starts with every Release (ADDED), which also recovers from any gap.
            for event in cluster.api.watch(releases_path(None), WATCH_SECONDS):
                if event["type"] == "DELETED":
                    releases.pop(_key_of(event["object"]), None)
                elif event["type"] in ("ADDED", "MODIFIED"):
                    releases[_key_of(event["object"])] = event["object"]
                draw()
    except KeyboardInterrupt:
        return


def _key_of(release: dict[str, Any]) -> tuple[str, str]:
    meta = release.get("metadata") or {}
    return str(meta.get("namespace")), str(meta.get("name"))


@app.command("list")
def list_command(
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Releases in every namespace.")
    ] = False,
) -> None:
    """Releases with version, phase, canary weight, step and age."""
    cluster = connect(kubeconfig, context, namespace)
    releases = cluster.api.list(releases_path(None if all_namespaces else cluster.namespace))
    if not releases:
        where = "any namespace" if all_namespaces else f"namespace {cluster.namespace}"
        console.print(f"No Releases found in {where}.")
        return
    console.print(list_table(releases, now(), with_namespace=all_namespaces))


def _read(cluster: Cluster, name: str) -> dict[str, Any]:
    release = cluster.api.get(releases_path(cluster.namespace, name))
    if release is None:
        raise fail(f"Release {cluster.namespace}/{name} not found")
    return release


@app.command("get")
def get_command(
    name: Name,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep the view live until Ctrl-C.")] = False,
) -> None:
    """Steps with the current one marked, weights, analysis measurements and conditions."""
    cluster = connect(kubeconfig, context, namespace)
    if not watch:
        console.print(release_view(_read(cluster, name), now()))
        return
    releases = _follow(cluster, name)
    try:
        if console.is_terminal:
            newest = [next(releases)]
            # Redrawn every second from the newest Release, so ages and countdowns move between changes.
            with Live(
                console=console, get_renderable=lambda: release_view(newest[0], now()), refresh_per_second=1
            ):
                for release in releases:
                    newest[0] = release
        else:
            # Piped: one full view per change, as `kubectl get --watch` prints one line per change.
            for release in releases:
                console.print(release_view(release, now()))
                console.print("---")
    except KeyboardInterrupt:
        return


WATCH_SECONDS = 30  # each watch ends after this; reading afresh then also recovers from any gap


def _follow(cluster: Cluster, name: str, deadline: float | None = None) -> Iterator[dict[str, Any]]:
    """The Release now and at every change, until the deadline (`time.monotonic()`; None: forever)."""
    shown = None
    while True:
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
    name: Name, kubeconfig: Kubeconfig = None, context: Context = None, namespace: Namespace = None
) -> None:
    """The revisions this Release went through, how each ended, and which `undo` can return to."""
    cluster = connect(kubeconfig, context, namespace)
    release = _read(cluster, name)
    selector = release_selector(ReleaseRef(cluster.namespace, name, uid=""))
    deployments = cluster.api.list(deployments_path(cluster.namespace), selector)
    console.print(history_table(release, restorable(release, deployments)))


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


def main() -> None:
    plugins.load()
    try:
        app(prog_name="kubectl slipway")
    except ApiError as error:
        if error.status == 0:
            errors.print(f"error: cannot reach the API server: {error.message}", highlight=False)
            sys.exit(1)
        # Missing Releases are reported by each command; a 404 reaching here means no such resource type.
        hint = ": is the Release CRD installed? (kubectl apply -f crds/)" if error.not_found else ""
        errors.print(f"error: the API server answered {error.status} {error.reason}{hint}", highlight=False)
        sys.exit(1)

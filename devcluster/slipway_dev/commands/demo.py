"""`slipway demo`: the dev cluster, the operator and a scripted story on a live terminal view.

v1 is deployed, v2 (healthy) is promoted step by step on real metrics, v3 (30% errors) is rolled back
by itself. The command exits 0 only if each of those happened, within its time limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer
import yaml
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

Status = dict[str, Any]
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Chapter:
    title: str
    version: str
    error_rate: float
    done: Callable[[Status], bool]
    timeout_seconds: float


def _serving(version: str, phase: str) -> Callable[[Status], bool]:
    def check(status: Status) -> bool:
        return status.get("phase") == phase and (status.get("stable") or {}).get("version") == version

    return check


STORY = (
    Chapter("v1 deployed", "1", 0.0, _serving("1", "Healthy"), 60),
    Chapter("v2 canary promoted on good metrics", "2", 0.0, _serving("2", "Healthy"), 120),
    Chapter("v3 (30% errors) rolled back automatically", "3", 0.3, _serving("2", "Degraded"), 120),
)


def demo_release(version: str, error_rate: float) -> dict[str, Any]:
    env = [
        {"name": "SLIPWAY_DEMO_ERROR_RATE", "value": str(error_rate)},
        {"name": "SLIPWAY_DEMO_STARTUP_SECONDS", "value": "1"},
    ]
    return {
        "apiVersion": "slipway.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "version": version,
            "replicas": 3,
            "template": {
                "spec": {"containers": [{"name": "web", "image": f"demo/web:{version}", "env": env}]}
            },
            "service": {"port": 80, "targetPort": 8080},
            "strategy": {
                "canary": {
                    "steps": [
                        {"setWeight": 25},
                        {"analysis": {"successfulMeasurements": 3}},
                        {"setWeight": 50},
                        {"analysis": {"successfulMeasurements": 3}},
                    ]
                }
            },
            "analysis": {
                "interval": "2s",
                "metrics": [
                    # Rates need two scrapes of a new pod; until then there is no data (inconclusive).
                    {"name": "error-rate", "builtin": "error-rate", "inconclusiveLimit": 10},
                    {"name": "latency-p95", "builtin": "latency-p95", "inconclusiveLimit": 10},
                ],
            },
            "rollback": {"progressDeadlineSeconds": 60},
        },
    }


def render(chapters: list[tuple[Chapter, str]], status: Status, traffic: dict[str, dict[int, int]]) -> Group:
    story = Table.grid(padding=(0, 2))
    for chapter, state in chapters:
        story.add_row(
            {"done": "[green]✓", "running": "[yellow]…", "failed": "[red]✗"}.get(state, " "), chapter.title
        )
    release = Table(show_header=False, box=None)
    release.add_row("phase", f"[bold]{status.get('phase', '-')}[/] {status.get('reason', '')}")
    release.add_row("message", status.get("message", ""))
    for role in ("stable", "canary"):
        revision = status.get(role)
        if revision:
            release.add_row(
                role,
                f"v{revision['version']} ({revision['revision']}) weight {revision.get('weight', 0)}%"
                f" ready {revision.get('readyReplicas', 0)}/{revision.get('replicas', 0)}",
            )
    for measurement in (status.get("analysis") or {}).get("measurements", [])[-4:]:
        release.add_row(
            "measured", f"{measurement['metric']} = {measurement.get('value', '-')}: {measurement['result']}"
        )
    rollback = status.get("lastRollback")
    if rollback:
        release.add_row("rollback", f"{rollback['reason']}: {rollback.get('message', '')}")
    load = Table("entry", "2xx", "5xx", box=None)
    for entry, codes in sorted(traffic.items()):
        ok = sum(n for code, n in codes.items() if code < 500)
        load.add_row(entry, str(ok), str(sum(codes.values()) - ok))
    return Group(
        Panel(story, title="Slipway demo"),
        Panel(release, title="release/web"),
        Panel(load, title="gateway traffic"),
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        rps: Annotated[float, typer.Option(help="Requests per second the gateway sends.")] = 40.0,
    ) -> None:
        """Run the scripted story (v1, v2 promoted, v3 rolled back) on a live view; exit 0 if all happened."""
        from slipway.api.crd import render_crd
        from slipway_dev.cluster import DevCluster
        from slipway_dev.prometheus import PrometheusProcess

        if not PrometheusProcess.available():
            typer.echo("slipway demo needs the prometheus binary (Debian package prometheus).", err=True)
            raise typer.Exit(1)
        chapters: list[tuple[Chapter, str]] = [(chapter, "waiting") for chapter in STORY]
        with (
            DevCluster(prometheus="on", operator=True, rps=rps) as cluster,
            Live(refresh_per_second=4) as live,
        ):
            cluster.kubectl("apply", "-f", "-", input=render_crd())
            status: Status = {}
            for index, chapter in enumerate(STORY):
                chapters[index] = (chapter, "running")
                cluster.kubectl(
                    "apply",
                    "-f",
                    "-",
                    input=yaml.safe_dump(demo_release(chapter.version, chapter.error_rate)),
                )
                deadline = time.monotonic() + chapter.timeout_seconds
                while not chapter.done(status) and time.monotonic() < deadline:
                    status = cluster.kubectl_json("get", "release", "web").get("status") or {}
                    traffic = {entry: stats.by_code for entry, stats in cluster.gateway_stats().items()}
                    live.update(render(chapters, status, traffic))
                    time.sleep(POLL_SECONDS)
                chapters[index] = (chapter, "done" if chapter.done(status) else "failed")
                live.update(render(chapters, status, traffic))
                if not chapter.done(status):
                    live.console.print(
                        f"[red]{chapter.title}: did not happen within {chapter.timeout_seconds:.0f}s"
                    )
                    live.console.print(f"operator log: {cluster.state_dir / 'operator.log'}")
                    raise typer.Exit(1)
        if not live.console.is_terminal:
            live.console.line()  # rich ends a piped live view's last frame without its newline
        typer.echo("demo complete: v1 deployed, v2 promoted, v3 rolled back")

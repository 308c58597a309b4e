"""`slipway plan FILE`: what a Release will do, shown before it is applied (no cluster needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal

import typer
import yaml

from slipway.api.durations import format_duration
from slipway.api.validation import InvalidRelease, is_release, parse_release
from slipway.core.rehearsal import describe_plan, rehearse

Metrics = Literal["good", "bad", "nodata", "flaky", "error"]

MODES: Final[dict[str, str]] = {
    "good": "every value within its threshold",
    "bad": "every value beyond its threshold",
    "nodata": "empty results",
    "flaky": "every third value beyond its threshold",
    "error": "the provider unreachable",
}
NEXT: Final[dict[str, str]] = {
    "Paused": "a person resumes, promotes or aborts (kubectl slipway resume|promote|abort {name})",
    "Degraded": "the old version serves; a new spec or kubectl slipway retry {name} tries again",
}


def _releases(path: Path) -> list[dict[str, Any]]:
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise typer.BadParameter(f"cannot read {path}: {error}") from None
    releases = [d for d in documents if isinstance(d, dict) and is_release(d)]
    if not releases:
        raise typer.BadParameter(f"{path} holds no Release")
    return releases


def plan(
    file: Annotated[Path, typer.Argument(help="A YAML file with one or more Releases.")],
    metrics: Annotated[
        Metrics,
        typer.Option(
            help="What the simulated metrics return: good values, bad values, no data, "
            "a bad value every third time (flaky), or provider errors."
        ),
    ] = "good",
) -> None:
    """Print each Release's plan, then the transitions the real state machine takes on a simulated
    cluster and clock when the Release replaces a previous version."""
    for document in _releases(file):
        try:
            release = parse_release(document)
        except InvalidRelease as invalid:
            for problem in invalid.problems:
                typer.echo(f"{file}: {problem}", err=True)
            raise typer.Exit(1) from None
        name = release.metadata.get("name", "release")
        typer.echo(f"Release {name}, version {release.spec.version}")
        for line in describe_plan(release.spec, name):
            typer.echo(line)
        rehearsal = rehearse(release.spec, metrics)
        start = "the promotion gate opening" if release.spec.promotion else "`kubectl apply`"
        typer.echo(f"\nRehearsal with {metrics} metrics ({MODES[metrics]}), times from {start}:")
        for moment in rehearsal.moments:
            typer.echo(f"  +{format_duration(moment.after_seconds):>8}  {moment.text}")
        status = rehearsal.status
        ending = f"{status.phase} ({status.reason}): {status.message}"
        typer.echo(f"Ends {ending}" if rehearsal.finished else f"Still {ending} after the simulation limit")
        if rehearsal.finished and status.phase in NEXT:
            typer.echo(f"Then: {NEXT[status.phase].format(name=name)}")
        typer.echo("")


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)

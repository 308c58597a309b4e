"""`slipway crd`: print the Release CustomResourceDefinition, generated from the models."""

from __future__ import annotations

import typer

from slipway.api.crd import render_crd


def crd() -> None:
    """Print the CustomResourceDefinition of releases.slipway.dev as YAML (kubectl apply -f -)."""
    typer.echo(render_crd(), nl=False)


def register(app: typer.Typer) -> None:
    app.command(name="crd")(crd)

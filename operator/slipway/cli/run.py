"""`slipway run`: the operator against the current kube context (kubeconfig, else in-cluster)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from slipway.runtime.config import ConfigError, load_config, parse_config


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        namespace: Annotated[
            list[str] | None,
            typer.Option("--namespace", "-n", help="Namespace to watch; repeat for several."),
        ] = None,
        all_namespaces: Annotated[
            bool, typer.Option("--all-namespaces", "-A", help="Watch every namespace.")
        ] = False,
        config: Annotated[
            Path | None, typer.Option("--config", help="Operator config (YAML), see docs/configuration.md.")
        ] = None,
    ) -> None:
        """Run the Slipway operator until interrupted."""
        from slipway.controller.operator import LeadershipLost, run_operator
        from slipway.kube.client import CredentialsNotFound

        if namespace and all_namespaces:
            raise typer.BadParameter("use either --namespace or --all-namespaces, not both")
        try:
            settings = load_config(config) if config else parse_config({})
        except ConfigError as error:
            typer.echo(f"slipway run: {error}", err=True)
            raise typer.Exit(2) from None
        if namespace or all_namespaces:
            settings = settings.model_copy(
                update={"namespaces": list(namespace or []), "all_namespaces": all_namespaces}
            )
        try:
            asyncio.run(run_operator(settings))
        except (LeadershipLost, CredentialsNotFound) as stopped:
            typer.echo(f"slipway run: {stopped}", err=True)
            raise typer.Exit(1) from None

"""The `slipway` command. Each sub-command lives in its own module and registers itself here."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Slipway: progressive delivery for Kubernetes.")

# One module per sub-command; each defines `register(app)`.
_COMMAND_MODULES: tuple[str, ...] = ()


def main() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(f"slipway.cli.{name}").register(app)
    app()

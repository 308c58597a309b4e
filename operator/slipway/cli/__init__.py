"""The `slipway` command.

Each sub-command lives in its own module in this package and defines `register(app)`; modules are
found here by name, so adding a command never edits this file. `plugin` is the separate
`kubectl-slipway` entry point. Other installed distributions add sub-commands by declaring their
`register(app)` functions in the `slipway.commands` entry-point group (slipway-dev adds `dev` and `demo`).
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import Any, Final

import typer

from slipway import plugins

# Click's own help layout: typer's rich one labels every flag `<bool>`, as if it took a value.
HELP_STYLE: Final[dict[str, Any]] = {
    "rich_markup_mode": None,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Slipway: progressive delivery for Kubernetes.",
    **HELP_STYLE,
)

_NOT_SUBCOMMANDS = {"plugin"}
COMMANDS_GROUP = "slipway.commands"


def build_app() -> typer.Typer:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _NOT_SUBCOMMANDS:
            continue
        importlib.import_module(f"{__name__}.{info.name}").register(app)
    for entry_point in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        entry_point.load()(app)
    return app


def main() -> None:
    plugins.load()  # every command may read a Release, whose models the plug-ins complete
    build_app()()

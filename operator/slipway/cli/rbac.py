"""`slipway rbac`: print the chart's RBAC rules, generated from the operator's and its plug-ins' needs."""

from __future__ import annotations

import typer

from slipway.plugins import workload_rules
from slipway.rbac import chart_rules


def rbac() -> None:
    """Print charts/slipway/templates/_rules.tpl: what the operator may do (make rbac writes it)."""
    typer.echo(chart_rules(workload_rules()), nl=False)


def register(app: typer.Typer) -> None:
    app.command(name="rbac")(rbac)

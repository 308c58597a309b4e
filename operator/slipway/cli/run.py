"""`slipway run`: the operator against the current kube context (kubeconfig, else in-cluster).

A start-up failure (an invalid config or flag, no usable credentials, the server's port taken) or a
lost Lease ends the process with one line for a person on stderr, the same again as one log line in the
operator's log format (JSON unless asked otherwise) for a log collector, and a non-zero status: 2 for
a config or flag, 1 otherwise. Never a traceback: what is missing and what to set is the whole message.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, NoReturn

import structlog
import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from slipway.runtime.config import ConfigError, LogConfig, load_config, parse_config
from slipway.runtime.logging import LOG_FORMATS, LOG_LEVELS, configure_logging

_log = structlog.get_logger("slipway.run")


def fail(message: str, reason: str, exit_code: int) -> NoReturn:
    """End `slipway run`: `message` once for a person, once as a log line; no traceback."""
    typer.echo(f"slipway run: {message}", err=True)
    _log.error(message, reason=reason, exit_code=exit_code)
    raise typer.Exit(exit_code)


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
        log_level: Annotated[
            str | None,
            typer.Option(
                "--log-level",
                envvar="SLIPWAY_LOG_LEVEL",
                help=f"One of {', '.join(LOG_LEVELS)}; overrides log.level of the config (default info).",
            ),
        ] = None,
        log_format: Annotated[
            str | None,
            typer.Option(
                "--log-format",
                envvar="SLIPWAY_LOG_FORMAT",
                help=f"One of {', '.join(LOG_FORMATS)}; overrides log.format of the config (default json).",
            ),
        ] = None,
        service_account_dir: Annotated[
            Path | None,
            typer.Option(
                "--service-account-dir",
                envvar="SLIPWAY_SERVICE_ACCOUNT_DIR",
                help="Where the in-cluster token, ca.crt and namespace files are "
                "(default /var/run/secrets/kubernetes.io/serviceaccount).",
            ),
        ] = None,
    ) -> None:
        """Run the Slipway operator until interrupted."""
        from slipway.controller.operator import LeadershipLost, ReleaseCrdMissing, run_operator
        from slipway.kube.client import CredentialsNotFound, load_credentials
        from slipway.runtime.memory import limit_malloc_arenas
        from slipway.runtime.server import CannotListen

        # The flags' log settings first, so that even a config error is logged as asked.
        try:
            flags = LogConfig.model_validate(
                {key: value for key, value in (("level", log_level), ("format", log_format)) if value}
            )
        except ValidationError as invalid:
            configure_logging()
            fail("; ".join(_flag_problem(error) for error in invalid.errors()), "InvalidFlag", 2)
        configure_logging(flags.level, format=flags.format)
        if namespace and all_namespaces:
            fail("use either --namespace or --all-namespaces, not both", "InvalidFlag", 2)
        try:
            settings = load_config(config) if config else parse_config({})
        except ConfigError as error:
            fail(str(error), "ConfigError", 2)
        chosen = {key: getattr(flags, key) for key in flags.model_fields_set}  # only the flags given
        settings = settings.model_copy(
            update={"log": settings.log.model_copy(update=chosen)}
            | (
                {"namespaces": list(namespace or []), "all_namespaces": all_namespaces}
                if namespace or all_namespaces
                else {}
            )
        )
        configure_logging(settings.log.level, format=settings.log.format)
        try:
            credentials = load_credentials(service_account_dir=service_account_dir)
        except CredentialsNotFound as missing:
            fail(str(missing), "CredentialsNotFound", 1)
        limit_malloc_arenas()  # before any thread of the operator's allocates
        try:
            asyncio.run(run_operator(settings, credentials=credentials))
        except CannotListen as taken:
            fail(str(taken), "CannotListen", 1)
        except LeadershipLost as lost:
            fail(str(lost), "LeadershipLost", 1)
        except ReleaseCrdMissing as missing_crd:
            fail(str(missing_crd), "ReleaseCrdMissing", 1)


_FLAGS = {"level": "--log-level (SLIPWAY_LOG_LEVEL)", "format": "--log-format (SLIPWAY_LOG_FORMAT)"}


def _flag_problem(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    return f"{_FLAGS.get(field, 'a log flag')}: {error['msg']}"

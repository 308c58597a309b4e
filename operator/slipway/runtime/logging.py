"""Logs through structlog, one JSON object a line (or plain text), with the Release in every line.

`bind_release(...)` puts namespace, release, revision, phase and step into the context of the current
task (and of threads it starts with asyncio.to_thread), so every line logged inside it carries them,
including lines from Kopf and other libraries that log through the standard `logging` module. Every
line, theirs included, has the credentials of any URL in it redacted (runtime/redaction.py).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from slipway.runtime.redaction import redact_values

# The operator's own names for the standard library's levels, and its two line formats: "json" (one
# object a line, for log collectors; the default) and "console" (plain `timestamp [level] event key=value`
# text for a person reading a terminal or `kubectl logs`).
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "console")

_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "INFO", stream: TextIO | None = None, format: str = "json") -> None:
    """Send every log line, structlog's and the standard library's, to `stream` (stderr by default):
    as one JSON object, or with `format="console"` as one line of plain text."""
    if format not in LOG_FORMATS:
        raise ValueError(f"log format {format!r} is none of {', '.join(LOG_FORMATS)}")
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if format == "json"
        else structlog.dev.ConsoleRenderer(
            colors=False, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # Tracebacks become text first, so that the redaction sees them too.
                structlog.processors.format_exc_info,
                _redacted,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _redacted(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Every line, the operator's own and every library's: no credential of a URL is written."""
    redacted: EventDict = redact_values(event)
    return redacted


@contextmanager
def bind_release(
    namespace: str,
    release: str,
    *,
    revision: str | None = None,
    phase: str | None = None,
    step: int | None = None,
) -> Iterator[None]:
    """Within this block every log line names the Release; unknown fields (None) are left out."""
    fields = {"revision": revision, "phase": phase, "step": step}
    known = {key: value for key, value in fields.items() if value is not None}
    with structlog.contextvars.bound_contextvars(namespace=namespace, release=release, **known):
        yield

"""JSON logs through structlog, with the Release being worked on in every line.

`bind_release(...)` puts namespace, release, revision, phase and step into the context of the current
task (and of threads it starts with asyncio.to_thread), so every line logged inside it carries them,
including lines from Kopf and other libraries that log through the standard `logging` module.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import structlog
from structlog.typing import Processor

_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every log line, structlog's and the standard library's, to `stream` as one JSON object."""
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
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


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

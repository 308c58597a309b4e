"""Credentials out of text the operator writes: status messages, Events, log lines.

A configured URL may carry credentials (`http://user:password@alertmanager:9093`, `?token=...`); the
config accepts them because the back-ends need them, and anyone who can read a Release, its Events or
the operator's logs must still not see them. Messages are redacted where they are made (the providers,
the alert source) and the log renderer redacts every line again, as a last safety net.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

REDACTED: Final = "***"

# Everything between `scheme://` and the last `@` before the host ends (a path, query, fragment or space).
_USER_INFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")
# A query parameter whose name says it is a credential: its value.
_SECRET_PARAMETER = re.compile(
    r"(?i)([?&][^=&#\s]*(?:token|secret|passw|key|auth|signature|credential)[^=&#\s]*=)[^&#\s'\"]+"
)


def redact(text: str) -> str:
    """`text` with the user-info of every URL in it and credential-named query values replaced by ***."""
    return _SECRET_PARAMETER.sub(rf"\1{REDACTED}", _USER_INFO.sub(rf"\1{REDACTED}@", text))


def redact_values(value: Any) -> Any:
    """`value` with every string in it redacted (mappings, lists and tuples walked)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_values(item) for item in value)
    return value

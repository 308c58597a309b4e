"""What stands in the way of carrying out a Release's spec, as the shell found it before deciding.

Two kinds are found before anything is created: a spec the models reject (the API server's schema lets
through what only the models check) and a spec this operator cannot carry out with its config (a
back-end it was not given, a host outside an allow-list), found by each router's, provider's and alert
source's own readiness check. The core turns them into a refusal; it never looks for them itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

INVALID_SPEC: Final = "InvalidSpec"
"""The reason of an obstacle the models found: a spec the API server's schema let through."""


@dataclass(frozen=True)
class Obstacle:
    """One reason the operator cannot carry out a spec: the Stalled condition's reason, the field at
    fault (API server notation) and what is wrong, in a sentence."""

    reason: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

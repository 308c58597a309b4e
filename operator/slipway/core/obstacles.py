"""What stands in the way of carrying out a Release's spec, as the shell found it before deciding.

Most are found before anything is created: a spec (or a name) the models reject (the API server's schema
lets through what only the models check), a spec this operator cannot carry out with its config (a
back-end it was not given, a host outside an allow-list), found by each router's, provider's and alert
source's own readiness check, and a name the Release would write that someone else's object holds. The
last kind is what a pass met when it failed all the same (`ReconcileError`). The core turns them into a
refusal; it never looks for them itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

INVALID_SPEC: Final = "InvalidSpec"
"""The reason of an obstacle the models found: a spec the API server's schema let through."""
NAME_CONFLICT: Final = "NameConflict"
"""An object the Release would write (a Deployment, Service, route, Job of its name) is someone else's."""
UNSUPPORTED_ROUTING: Final = "UnsupportedRouting"
"""A canary step asks the Release's router for a match route or mirror it cannot express."""
RECONCILE_ERROR: Final = "ReconcileError"
"""A pass failed on something no check foresaw (an API answer, a bug): the error, as the shell met it."""


@dataclass(frozen=True)
class Obstacle:
    """One reason the operator cannot carry out a spec: the Stalled condition's reason, the field at
    fault (API server notation) and what is wrong, in a sentence."""

    reason: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

"""Revision identity: which Deployment runs which pod template and version."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

HASH_LENGTH: Final = 10


def revision_hash(template: Mapping[str, Any], version: str) -> str:
    """A short, stable, DNS-safe name for (template, version).

    The template is serialised canonically (sorted keys, no whitespace), so the same manifest always
    gives the same hash whatever the key order the API server returns. Lowercase hex is valid in a
    DNS label, so `<release>-<hash>` is a valid Deployment name for any release name up to 52 chars.
    """
    canonical = json.dumps({"template": template, "version": version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]

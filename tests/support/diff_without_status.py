"""kubectl's external diff (KUBECTL_EXTERNAL_DIFF) for what an apply would change, without the status
and the resourceVersion.

`kubectl diff` reads the live object, then the dry-run result of the apply, and compares the two. A
status the operator writes between those two reads shows as a difference the apply would not make,
so a GitOps tool's "nothing to sync" check leaves the status out, as Argo CD's diff does. Called as
`python diff_without_status.py LIVE_DIR MERGED_DIR`; exit 0 when they match, 1 with a unified diff.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import yaml


def comparable(path: Path) -> list[str]:
    if not path.exists():
        return []
    body = yaml.safe_load(path.read_text()) or {}
    body.pop("status", None)
    metadata = body.get("metadata") or {}
    for server_set in ("resourceVersion", "managedFields"):
        metadata.pop(server_set, None)
    return yaml.safe_dump(body, sort_keys=True).splitlines(keepends=True)


def main(live: Path, merged: Path) -> int:
    differences: list[str] = []
    for name in sorted({path.name for path in (*live.iterdir(), *merged.iterdir())}):
        differences += difflib.unified_diff(
            comparable(live / name), comparable(merged / name), str(live / name), str(merged / name)
        )
    sys.stdout.writelines(differences)
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))

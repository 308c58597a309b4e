"""Build the archive the krew manifest (slipway.yaml) names, byte for byte the same on every machine, and
print its sha256: `python plugins/krew/archive.py DIR` writes DIR/kubectl-slipway.tar.gz.

Reproducible (fixed order, times, owners and modes; gzip without a timestamp), so the sha256 in the
manifest can be checked against a fresh build (tests/cli/test_krew_manifest.py).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARCHIVE = "kubectl-slipway.tar.gz"
# (path in the archive, file in the repository, mode)
FILES = (("kubectl-slipway", HERE / "kubectl-slipway", 0o755),)


def build() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, path, mode in FILES:
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
    target.mkdir(parents=True, exist_ok=True)
    data = build()
    (target / ARCHIVE).write_bytes(data)
    print(hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    main()

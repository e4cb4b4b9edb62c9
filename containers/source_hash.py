"""Print a hash of what goes into the lab image, so a stale image can be told apart."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path


def source_hash(project: Path) -> str:
    digest = hashlib.sha256()
    files = [p for p in (project / "labsim").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for extra in ("pyproject.toml", "containers/Dockerfile"):
        files.append(project / extra)
    for path in sorted(files):
        digest.update(path.relative_to(project).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


if __name__ == "__main__":
    print(source_hash(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()))

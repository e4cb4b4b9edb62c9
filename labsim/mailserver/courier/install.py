"""Copy the Debian-like /etc/courier defaults (courier/defaults/) into a lab root."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from labsim.mailserver.labroot import LabRoot

DEFAULTS = Path(__file__).parent / "defaults"


def install_defaults(root: LabRoot, overwrite: bool = False) -> list[str]:
    """Install every default file that is missing (or all with overwrite); returns the lab paths written."""
    written: list[str] = []
    for src in sorted(DEFAULTS.rglob("*")):
        if not src.is_file():
            continue
        lab = "/etc/courier/" + src.relative_to(DEFAULTS).as_posix()
        dest = root.path(lab)
        if dest.exists() and not overwrite:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        # authdaemonrc and the cert templates hold nothing secret; Debian ships them 0644 too,
        # except authdaemonrc (0660 root:courier), which we keep readable for the lab tools.
        os.chmod(dest, 0o644)
        written.append(lab)
    return written

"""Port bases claimed machine-wide by local labs, across LABSIM_HOMEs and users.

A local lab whose server is down holds no socket, so a port check alone would let a
second lab (another LABSIM_HOME, a test run, another user) take the same range, and the
first lab's checks would then talk to the other lab's server. A claim is a file named
after the base that holds the claiming lab's directory; a claim whose lab directory is
gone is stale and may be taken over.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def claims_dir() -> Path:
    return Path(os.environ.get("LABSIM_PORT_CLAIMS") or Path(tempfile.gettempdir()) / "labsim-port-bases")


def _ensure_dir() -> Path | None:
    path = claims_dir()
    try:
        path.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o1777)  # shared by every user, as /tmp is; fails harmlessly if not ours
    except OSError:
        return None
    return path


def owner(base: int) -> str | None:
    try:
        return (claims_dir() / str(base)).read_text().strip() or None
    except OSError:
        return None


def claim(base: int, lab_dir: Path) -> bool:
    """Claim `base` for the lab in `lab_dir`; False when a living lab holds it."""
    directory = _ensure_dir()
    if directory is None:
        return True  # nowhere to record claims: the port check alone decides, as before
    path = directory / str(base)
    mine = str(lab_dir.resolve())
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = owner(base)
            if holder == mine:
                return True
            if holder and Path(holder).is_dir():
                return False
            try:
                path.unlink()  # stale: its lab is gone
            except OSError:
                return False  # another user's claim we may not remove: leave the base to them
            continue
        except OSError:
            return True
        with os.fdopen(fd, "w") as f:
            f.write(mine + "\n")
        return True
    return False


def release(base: int, lab_dir: Path) -> None:
    if owner(base) == str(lab_dir.resolve()):
        with contextlib.suppress(OSError):
            (claims_dir() / str(base)).unlink()

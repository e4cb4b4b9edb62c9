"""Where a report or an assignment file goes: checked before any lab is made or checked.

An instructor who typed a wrong `--out` learns it in one sentence at once,
not as an OS error after every lab was graded. Missing folders are not made
silently (a typo would scatter reports): the folder a file goes in must
exist, as for `labsim grade --out`.

`what` starts each refusal: "the report to", "the gradebook to", "the assignment file".
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from labsim.classroom.errors import ClassUsageError


def _probe(folder: Path, what: str, out: Path) -> None:
    """Write and remove a scratch file: the only test that also catches read-only and odd file systems."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".labsim-probe-", dir=folder)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClassUsageError(
            f"cannot write {what} {out}: the folder {folder} is not writable ({reason}); choose another --out"
        ) from None
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)


def _existing_folder(folder: Path, what: str, out: Path) -> None:
    """`folder` must be a folder that exists; a path through a file is named as such."""
    if folder.is_dir():
        return
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            raise ClassUsageError(f"cannot write {what} {out}: {parent} is a file, not a folder")
    raise ClassUsageError(
        f"cannot write {what} {out}: the folder {folder} does not exist;"
        " make it first or choose another --out"
    )


def check_out_file(out: Path, what: str) -> Path:
    """A file to write whole: its folder exists and takes files, and it is not a folder itself."""
    if not out.name or out.is_dir():
        raise ClassUsageError(f"cannot write {what} {out}: it is a folder; name a file in it")
    folder = out.parent if str(out.parent) else Path(".")
    _existing_folder(folder, what, out)
    _probe(folder, what, out)
    return out


def check_out_dir(out: Path, what: str) -> Path:
    """A folder of reports: it exists (or its parent does, and it is made there) and takes files."""
    if out.exists() and not out.is_dir():
        raise ClassUsageError(f"cannot write {what} {out}: it is a file, not a folder")
    if not out.is_dir():
        _existing_folder(out.parent if str(out.parent) else Path("."), what, out)
        _probe(out.parent if str(out.parent) else Path("."), what, out)
        return out
    _probe(out, what, out)
    feedback = out / "feedback"
    if feedback.exists():
        if not feedback.is_dir():
            raise ClassUsageError(f"cannot write {what} {out}: {feedback} is a file, not a folder")
        _probe(feedback, what, out)
    return out

"""The lab root: every absolute path a config file names lives under it.

Inside a container the root is `/`; in the local sandbox it is
`<lab dir>/root`. Tools take it from LABSIM_ROOT.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


class PathEscapesRoot(ValueError):
    """A path that would resolve outside the lab root."""


class LabRoot:
    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = Path(root).absolute()

    @classmethod
    def from_env(cls, override: str | None = None) -> LabRoot:
        return cls(override or os.environ.get("LABSIM_ROOT") or "/")

    @property
    def is_host_root(self) -> bool:
        return self.root == Path("/")

    def path(self, lab_path: str | PurePosixPath, cwd: str = "/") -> Path:
        """Map a path as the lab sees it ("/etc/dovecot/x") to a host path.

        `..` is folded lexically and may not climb above the root: the lab
        root is the whole world for the server and its tools.
        """
        p = PurePosixPath(cwd) / PurePosixPath(lab_path)
        parts: list[str] = []
        for part in p.parts[1:]:
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
                continue
            parts.append(part)
        return self.root.joinpath(*parts) if parts else self.root

    def lab_path(self, host_path: str | os.PathLike[str]) -> str:
        """The inverse of path(): how the lab names a host path."""
        hp = Path(host_path).absolute()
        try:
            rel = hp.relative_to(self.root)
        except ValueError as exc:
            raise PathEscapesRoot(f"{hp} is outside the lab root {self.root}") from exc
        text = rel.as_posix()
        return "/" if text == "." else "/" + text

    def __repr__(self) -> str:
        return f"LabRoot({str(self.root)!r})"

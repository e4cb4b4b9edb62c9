"""A tiny lab root writer for config tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from labsim.mailserver.config.dovecot import DovecotConfig, load
from labsim.mailserver.labroot import LabRoot


class Lab:
    def __init__(self, base: Path) -> None:
        self.root = LabRoot(base)

    def write(self, lab_path: str, text: str) -> Path:
        host = self.root.path(lab_path)
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_text(text)
        return host

    def load(self, text: str | None = None, **kwargs: object) -> DovecotConfig:
        if text is not None:
            self.write("/etc/dovecot/dovecot.conf", text)
        return load(self.root, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


LoadFn = Callable[[str], DovecotConfig]

"""Loader for dovecot.conf (2.3 syntax and the 1.x forms study guides print).

Owned by the config work: parser (sections, merging, !include, !include_try,
`<file`, `$setting`), the table of known settings with defaults and types,
validation with Dovecot's wording, and the data doveconf prints.
"""

from __future__ import annotations

from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot

DEFAULT_CONFIG_PATH = "/etc/dovecot/dovecot.conf"


class DovecotConfig:
    """A parsed, validated configuration."""

    path: str  # lab path of the main file
    files: list[str]  # every file read, main first (lab paths)

    def settings(self, protocol: str | None = None) -> DovecotSettings:
        """Effective settings, with the `protocol NAME { }` filter applied when given."""
        raise NotImplementedError

    def value(self, name: str, protocol: str | None = None) -> str:
        """A setting's value as doveconf prints it (`doveconf NAME`)."""
        raise NotImplementedError


def load(root: LabRoot, path: str = DEFAULT_CONFIG_PATH) -> DovecotConfig:
    """Read and validate; raises ConfigError (file, line, reason) on any problem."""
    raise NotImplementedError

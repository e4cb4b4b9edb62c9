"""Configuration errors, worded as doveconf words them."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration the server must refuse to start with.

    `path` is the lab path ("/etc/dovecot/dovecot.conf"), `line` 1-based.
    Without a path the error is about the configuration as a whole
    (a missing ssl_cert, say) and reads `Invalid configuration: ...`.
    """

    def __init__(self, reason: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.line = line

    def __str__(self) -> str:
        if self.path is not None and self.line is not None:
            return f"Error in configuration file {self.path} line {self.line}: {self.reason}"
        if self.path is not None:
            return f"Error in configuration file {self.path}: {self.reason}"
        return self.reason

    def fatal_line(self, program: str = "doveconf") -> str:
        return f"{program}: Fatal: {self}"

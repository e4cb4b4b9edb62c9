"""Shared helpers for the auth tests: a lab root with users and a log you can read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from labsim.mailserver.auth.model import AuthRequest
from labsim.mailserver.auth.service import AuthService
from labsim.mailserver.config.model import AuthDb, DovecotSettings
from labsim.mailserver.log import DovecotLog
from tests.labroot_builder import LabBuilder


class Lab:
    def __init__(self, base: Path) -> None:
        self.builder = LabBuilder(base)
        self.root = self.builder.root
        self.stderr = io.StringIO()
        self.log = DovecotLog(self.root, stderr=self.stderr)
        self.log.configure("/var/log/dovecot.log")

    def lines(self) -> list[str]:
        """Log lines without the timestamp."""
        return [ln[16:] for ln in self.stderr.getvalue().splitlines()]

    def service(self, **kw: object) -> AuthService:
        kw.setdefault("auth_failure_delay", 0.0)
        settings = DovecotSettings(**kw)  # type: ignore[arg-type]
        auth = AuthService(self.root, settings, self.log)
        auth.start()
        return auth

    @staticmethod
    def req(
        rip: str = "127.0.0.2", secured: bool = False, service: str = "imap", session: str = ""
    ) -> AuthRequest:
        return AuthRequest(
            service=service, mech="PLAIN", rip=rip, lip="127.0.0.1", secured=secured, session=session
        )

    def pam(self, stack: str, service: str = "dovecot") -> None:
        self.builder.write(f"/etc/pam.d/{service}", stack)

    def pam_service(self, args: str = "", **kw: object) -> AuthService:
        return self.service(passdbs=[AuthDb("pam", args)], userdbs=[AuthDb("passwd")], **kw)


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)

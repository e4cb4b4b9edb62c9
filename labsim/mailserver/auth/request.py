"""One authentication attempt as the passdb/userdb drivers see it, and the log lines they write."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from labsim.mailserver.auth.vars import user_vars


class PassdbResult(Enum):
    OK = "ok"
    USER_UNKNOWN = "user_unknown"
    PASSWORD_MISMATCH = "password_mismatch"
    INTERNAL_FAILURE = "internal_failure"
    SCHEME_NOT_AVAILABLE = "scheme_not_available"
    PASS_EXPIRED = "pass_expired"
    USER_DISABLED = "user_disabled"


@dataclass
class PassdbAnswer:
    result: PassdbResult
    extra: dict[str, str] = field(default_factory=dict)  # passdb extra fields (nopassword, nodelay...)
    userdb_fields: dict[str, str] = field(default_factory=dict)  # userdb_* fields, prefix removed
    credentials: str | None = None  # stored password, for credential lookups
    client_message: str | None = None  # PAM's message with failure_show_msg=yes


@dataclass
class Lookup:
    user: str  # after auth_username_format
    service: str = "imap"
    rip: str = ""
    lip: str = ""
    session: str = ""
    mech: str = "PLAIN"
    secured: bool = False
    original_user: str = ""

    def vars(self, **extra: str) -> dict[str, str]:
        return user_vars(
            self.user,
            service=self.service,
            rip=self.rip,
            lip=self.lip,
            session=self.session,
            mech=self.mech,
            pid=str(os.getpid()),
            secured="secured" if self.secured else "",
            original_user=self.original_user or self.user,
            **extra,
        )

    def log_name(self, driver: str) -> str:
        """`pam(alice,127.0.0.2,<sess>)` as Dovecot prefixes per-request lines."""
        parts = [self.user]
        if self.rip:
            parts.append(self.rip)
        if self.session:
            parts.append(f"<{self.session}>")
        return f"{driver}({','.join(parts)})"


# (level, process prefix, message): bound to DovecotLog.log by the service.
LogSink = Callable[[str, str, str], None]


@dataclass
class AuthLogger:
    sink: LogSink
    verbose: bool = False
    debug: bool = False
    verbose_passwords: str = "no"
    worker_requests: int = 0

    def worker_prefix(self) -> tuple[str, str]:
        """Blocking drivers (pam, shadow, passwd) run in an auth-worker process in Dovecot."""
        self.worker_requests += 1
        pid = os.getpid()
        return (
            f"auth-worker({pid})",
            f"conn unix:auth-worker (pid={pid},uid=0): auth-worker<{self.worker_requests}>: ",
        )

    def info(self, driver: str, lookup: Lookup, message: str, worker: bool = False) -> None:
        if not (self.verbose or self.debug):
            return
        prefix, head = self.worker_prefix() if worker else ("auth", "")
        self.sink("Info", prefix, f"{head}{lookup.log_name(driver)}: {message}")

    def dbg(self, driver: str, lookup: Lookup, message: str) -> None:
        if self.debug:
            self.sink("Debug", "auth", f"{lookup.log_name(driver)}: {message}")

    def error(self, message: str, prefix: str = "auth") -> None:
        self.sink("Error", prefix, message)

    def mismatch(self, driver: str, lookup: Lookup, password: str, worker: bool = False) -> None:
        extra = ""
        if self.verbose_passwords in ("plain", "yes"):
            extra = f" (given password: {password})"
        elif self.verbose_passwords.startswith("sha1"):
            import hashlib

            digest = hashlib.sha1(password.encode("utf-8", "surrogateescape")).hexdigest()
            _, _, n = self.verbose_passwords.partition(":")
            extra = f" (given password: {digest[: int(n)] if n.isdigit() else digest})"
        self.info(driver, lookup, f"Password mismatch{extra}", worker)

"""Check type name -> the function that runs it."""

from __future__ import annotations

from labsim.checks.base import CheckFn
from labsim.checks.capability import capability
from labsim.checks.command import command
from labsim.checks.config import setting
from labsim.checks.delivery import delivery
from labsim.checks.files import file_check
from labsim.checks.login import imap_login, pop3_login
from labsim.checks.mailbox import mailbox_count, pop3_sizes
from labsim.checks.tls import tls_certificate

CHECKS: dict[str, CheckFn] = {
    "imap_login": imap_login,
    "pop3_login": pop3_login,
    "capability": capability,
    "mailbox_count": mailbox_count,
    "pop3_sizes": pop3_sizes,
    "tls_certificate": tls_certificate,
    "setting": setting,
    "file": file_check,
    "command": command,
    "delivery": delivery,
}

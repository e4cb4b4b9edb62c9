"""The mail log lines a check's own connections caused: what an admin reads after a failed login.

A server never tells a client why a login or a TLS handshake failed; Dovecot and Courier write
it to the log. A check notes where the log ends before it connects and, when it fails, adds
the lines written since to its transcript.
"""

from __future__ import annotations

import re

from labsim.lab.model import MAIL_LOG, Lab, LabError

KEEP = 12  # the last lines are the ones about our connection; a noisy log must not bury the dialogue


def log_offset(lab: Lab) -> int:
    try:
        return len(lab.read_file(MAIL_LOG))
    except LabError:
        return 0


def lines_since(lab: Lab, offset: int) -> list[str]:
    try:
        data = lab.read_file(MAIL_LOG)
    except LabError:
        return []
    if len(data) < offset:  # the log was rotated or emptied meanwhile: all of it is new
        offset = 0
    return data[offset:].decode("utf-8", "replace").splitlines()[-KEEP:]


def log_section(lines: list[str]) -> str:
    """The transcript's part for the log, or nothing when the server wrote nothing."""
    if not lines:
        return ""
    return f"# new lines in {MAIL_LOG}\n" + "\n".join(lines) + "\n"


def telling_line(lines: list[str]) -> str | None:
    """The log line that says most: a fatal or an error before anything else."""
    for level in (": Fatal: ", ": Error: ", "Fatal:", "Error:", "auth failed", "Warning:"):
        for line in lines:
            if level in line:
                return line
    return None


def without_syslog_prefix(line: str) -> str:
    """'Dec 06 11:12:00 vm dovecot: imap-login: Error: ...' -> 'imap-login: Error: ...' for a message."""
    for marker in (" dovecot: ", " courier", " imapd: ", " pop3d: ", " authdaemond: "):
        head, sep, rest = line.partition(marker)
        if sep and len(head) < 40:
            return (marker.strip() + " " + rest) if marker != " dovecot: " else rest
    return line


def log_says(lines: list[str]) -> str:
    """' The mail log says: "..."' for a message, when the new lines hold an error worth reading."""
    line = telling_line([ln for ln in lines if "Fatal" in ln or "Error" in ln])
    if not line:
        return ""
    # The connection details Dovecot appends (user=<>, rip=..., session=<...>) say nothing about the cause.
    text = re.sub(r":? ?user=<[^>]*>, rip=.*$", "", without_syslog_prefix(line).strip())
    return f' {MAIL_LOG} says: "{text}"'

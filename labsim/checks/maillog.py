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


# 'Dec 06 11:12:00 vm imapd-ssl: rest': syslog's time stamp, host and program.
_SYSLOG = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ ([\w.\-\[\]]+): (.*)$")

# Courier logs without levels: these are the lines that say why it turned a client away.
COURIER_TELLING = (
    "couriertls: /",
    "Maximum connection limit",
    "Maximum number of connections",
    "cannot open",
    "Internal error",
    "couriertls: accept:",
)


def without_syslog_prefix(line: str) -> str:
    """'Dec 06 11:12:00 vm dovecot: imap-login: Error: ...' -> 'imap-login: Error: ...' for a message;
    Courier's program name stays ('imapd-ssl: couriertls: ...'): it says which daemon spoke."""
    m = _SYSLOG.match(line)
    if not m:
        return line
    program, rest = m.group(1), m.group(2)
    return rest if program == "dovecot" else f"{program}: {rest}"


def courier_line(lines: list[str]) -> str | None:
    for mark in COURIER_TELLING:
        for line in lines:
            if mark in line:
                return line
    return None


def log_says(lines: list[str]) -> str:
    """' The mail log says: "..."' for a message, when the new lines hold an error worth reading."""
    line = telling_line([ln for ln in lines if "Fatal" in ln or "Error" in ln]) or courier_line(lines)
    if not line:
        return ""
    # The connection details Dovecot appends (user=<>, rip=..., session=<...>) say nothing about the cause.
    text = re.sub(r":? ?user=<[^>]*>, rip=.*$", "", without_syslog_prefix(line).strip())
    # imap(alice)<38><sFxpizUjEQ5bpQjX>: the process id and session tag only identify the connection.
    text = re.sub(r"^(\w[\w-]*\([^)]*\))(?:<[^>]*>)+", r"\1", text)
    return f' {MAIL_LOG} says: "{text}"'

"""Courier's log lines: its programs log to syslog as `imapd:`, `pop3d:`, `authdaemond:`.

On Debian they land in /var/log/mail.log (`Nov 25 12:00:01 mail imapd: LOGIN,
user=alice, ip=[::ffff:127.0.0.1], port=[50312], protocol=IMAP`); the lab has
no syslog daemon, so we append to that file under the lab root ourselves.
"""

from __future__ import annotations

import sys
from typing import TextIO

from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import SYSLOG_FILE, DovecotLog, timestamp


class CourierLog(DovecotLog):
    """A DovecotLog whose lines read like Courier's: `prefix` is the program name.

    Levels do not show: Courier's programs log plain text at LOG_ERR/LOG_INFO.
    Storage code that logs `imap(alice)` prefixes gets `imapd` lines.
    """

    def __init__(self, root: LabRoot, *, stderr: TextIO | None = sys.stderr) -> None:
        super().__init__(root, stderr=stderr, ident="courier")

    @staticmethod
    def program(prefix: str) -> str:
        head = prefix.split("(", 1)[0].split("<", 1)[0]
        return {"imap": "imapd", "imap-login": "imapd", "pop3": "pop3d", "pop3-login": "pop3d",
                "auth": "authdaemond"}.get(head, head)  # fmt: skip

    def log(self, level: str, prefix: str, message: str) -> None:
        ts = timestamp()
        program = self.program(prefix)
        line = f"{ts} {self.hostname} {program}: {message}"
        with self._lock:
            if self.stderr is not None:
                try:
                    self.stderr.write(f"{ts} {program}: {message}\n")
                    self.stderr.flush()
                except (OSError, ValueError):
                    pass
            self._append(SYSLOG_FILE, line)

    def raw(self, text: str) -> None:
        """A message that names its program already (`authdaemond: ...`)."""
        program, sep, rest = text.partition(": ")
        if sep and program and " " not in program:
            self.info(program, rest)
        else:
            self.info("courier", text)

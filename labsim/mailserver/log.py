"""Log lines in Dovecot's own shape.

With `log_path` set to a file, Dovecot writes
`Nov 25 12:17:46 imap-login: Info: Login: user=<alice>, ...`; with the
default (syslog) the system log gets
`Nov 25 12:17:46 HOST dovecot: imap-login: Login: user=<alice>, ...`
(syslog carries the level itself, so `Info: ` is left out). The lab has no
syslog daemon, so the syslog form goes to /var/log/mail.log under the lab
root, where Debian keeps it. stderr always gets the log_path form.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from typing import TextIO

from labsim.mailserver.labroot import LabRoot

LEVELS = ("Debug", "Info", "Warning", "Error", "Fatal", "Panic")
SYSLOG_FILE = "/var/log/mail.log"


def timestamp(now: float | None = None) -> str:
    return time.strftime("%b %d %H:%M:%S", time.localtime(now))


class DovecotLog:
    def __init__(
        self,
        root: LabRoot,
        *,
        stderr: TextIO | None = sys.stderr,
        ident: str = "dovecot",
    ) -> None:
        self.root = root
        self.stderr = stderr
        self.ident = ident
        self.hostname = socket.gethostname().split(".")[0] or "localhost"
        self.log_path: str = "syslog"
        self.info_log_path: str = ""
        self.debug_log_path: str = ""
        self._lock = threading.Lock()

    def configure(self, log_path: str = "syslog", info_log_path: str = "", debug_log_path: str = "") -> None:
        self.log_path = log_path or "syslog"
        self.info_log_path = info_log_path
        self.debug_log_path = debug_log_path

    def _target(self, level: str) -> str:
        if level == "Debug" and self.debug_log_path:
            return self.debug_log_path
        if level in ("Debug", "Info") and self.info_log_path:
            return self.info_log_path
        return self.log_path

    def log(self, level: str, prefix: str, message: str) -> None:
        """Write one line; `prefix` names the process ("imap-login", "auth", "imap(alice)")."""
        ts = timestamp()
        plain = f"{ts} {prefix}: {level}: {message}"
        target = self._target(level)
        with self._lock:
            if self.stderr is not None:
                try:
                    self.stderr.write(plain + "\n")
                    self.stderr.flush()
                except (OSError, ValueError):
                    pass
            if target in ("/dev/stderr", "/dev/stdout"):
                return
            if target == "syslog":
                shown = message if level == "Info" else f"{level}: {message}"
                line = f"{ts} {self.hostname} {self.ident}: {prefix}: {shown}"
                self._append(SYSLOG_FILE, line)
            else:
                self._append(target, plain)

    def _append(self, lab_path: str, line: str) -> None:
        host = self.root.path(lab_path)
        try:
            host.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(host, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode("utf-8", "replace"))
            finally:
                os.close(fd)
        except OSError as exc:
            if self.stderr is not None:
                self.stderr.write(f"{timestamp()} master: Error: open({lab_path}) failed: {exc.strerror}\n")

    def debug(self, prefix: str, message: str) -> None:
        self.log("Debug", prefix, message)

    def info(self, prefix: str, message: str) -> None:
        self.log("Info", prefix, message)

    def warning(self, prefix: str, message: str) -> None:
        self.log("Warning", prefix, message)

    def error(self, prefix: str, message: str) -> None:
        self.log("Error", prefix, message)

    def fatal(self, prefix: str, message: str) -> None:
        self.log("Fatal", prefix, message)

"""Run Debian's real Dovecot on loopback, with a private base_dir, for comparisons.

The conformance tests start the same configuration under the real daemon and
under labsim-mailserver and compare what clients observe.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labsim.lab.local import port_free

DOVECOT = "/usr/sbin/dovecot"
LIBEXEC = "/usr/lib/dovecot"
# The imap/pop3 programs come with dovecot-imapd/dovecot-pop3d, which Debian
# will not install beside courier-imap. Where Courier took their place, the two
# packages unpacked elsewhere (`dpkg -x`) serve: this names that libexec dir.
LIBEXEC_ENV = "LABSIM_DOVECOT_LIBEXEC"
UNPACKED = "/opt/labsim-dovecot/usr/lib/dovecot"  # where .ci/run unpacks them
PROGRAMS = (
    "imap",
    "imap-login",
    "imap-hibernate",
    "imap-urlauth",
    "imap-urlauth-login",
    "imap-urlauth-worker",
    "pop3",
    "pop3-login",
)


def libexec_dir() -> str | None:
    """Where Dovecot's imap/pop3 programs are, or None when they are missing."""
    for d in (LIBEXEC, os.environ.get(LIBEXEC_ENV, ""), UNPACKED):
        if d and all(Path(d, p).exists() for p in PROGRAMS):
            return d
    return None


def require_real_dovecot() -> None:
    strict = os.environ.get("LABSIM_REQUIRE_DOCKER") == "1"
    reason = ""
    if not Path(DOVECOT).exists() or libexec_dir() is None:
        reason = "Debian's dovecot-imapd/dovecot-pop3d are not installed"
    elif os.geteuid() != 0:
        reason = "the real Dovecot needs root to start"
    if reason:
        if strict:
            pytest.fail(f"conformance needs the real Dovecot: {reason}")
        pytest.skip(reason)


# Port bases handed out to this machine's test processes: xdist workers start their servers
# at the same moment, and a port that is free when two of them look is taken by one.
PORT_CLAIMS = Path(tempfile.gettempdir()) / "labsim-test-port-claims"


def free_port_block(avoid: tuple[int, ...] = ()) -> int:
    """A port base whose +110 and +143 are free on 127.0.0.1 and that no other live test
    process has claimed. The search starts at a random block."""
    PORT_CLAIMS.mkdir(exist_ok=True)
    blocks = list(range(31000, 60000, 1000))
    start = random.randrange(len(blocks))
    for base in blocks[start:] + blocks[:start]:
        if base in avoid or not (port_free(base + 110) and port_free(base + 143)):
            continue
        if _claim(PORT_CLAIMS / str(base)):
            return base
    raise RuntimeError("no free port block")


def _claim(path: Path) -> bool:
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                owner = int(path.read_text() or "0")
            except (OSError, ValueError):
                owner = 0
            if owner == os.getpid() or _alive(owner):
                return False
            path.unlink(missing_ok=True)  # its process is gone: the claim with it
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class RealDovecot:
    """A real Dovecot reading `conf_text` (paths in it are host paths)."""

    workdir: Path
    conf_text: str
    imap_port: int
    pop3_port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def conf(self) -> Path:
        return self.workdir / "dovecot.conf"

    @property
    def log(self) -> Path:
        return self.workdir / "dovecot.log"

    def start(self) -> None:
        require_real_dovecot()
        run = self.workdir / "run"
        run.mkdir(parents=True, exist_ok=True)
        (self.workdir / "state").mkdir(exist_ok=True)
        header = (
            f"base_dir = {run}\nstate_dir = {self.workdir / 'state'}\n"
            f"log_path = {self.log}\nlisten = 127.0.0.1\n"
        )
        listeners = (
            f"service imap-login {{\n  inet_listener imap {{\n    port = {self.imap_port}\n  }}\n"
            "  inet_listener imaps {\n    port = 0\n  }\n}\n"
            f"service pop3-login {{\n  inet_listener pop3 {{\n    port = {self.pop3_port}\n  }}\n"
            "  inet_listener pop3s {\n    port = 0\n  }\n}\n"
        )
        libexec = libexec_dir()
        if libexec is not None and libexec != LIBEXEC:
            listeners += "".join(f"service {p} {{\n  executable = {libexec}/{p}\n}}\n" for p in PROGRAMS)
        self.conf.write_text(header + self.conf_text + listeners)
        # -F keeps the master in the foreground: a daemonizing master would
        # hold our pipes open and leave no process to wait for.
        stderr = open(self.workdir / "master.stderr", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)], stdout=stderr, stderr=stderr)
        stderr.close()
        try:
            wait_for_port(self.imap_port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                "real dovecot did not start: " + (self.workdir / "master.stderr").read_text()
            ) from None

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def give_to_nobody(path: Path) -> tuple[int, int]:
    """Mail for the real daemon must belong to an unprivileged user."""
    nobody = pwd.getpwnam("nobody")
    for dirpath, _dirs, files in os.walk(path):
        shutil.chown(dirpath, nobody.pw_uid, nobody.pw_gid)
        for name in files:
            shutil.chown(os.path.join(dirpath, name), nobody.pw_uid, nobody.pw_gid)
    return nobody.pw_uid, nobody.pw_gid

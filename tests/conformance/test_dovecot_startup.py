"""Listeners that cannot open: the same log lines and exit status as Debian's real Dovecot.

A learner who types `listen = 127.0.0.l` or an address the host does not have reads these
lines in the log; they must be Dovecot's.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance.realdovecot import DOVECOT, LIBEXEC, PROGRAMS, libexec_dir, require_real_dovecot

PORT = 24143  # above 1024, nothing of ours listens there: no port base needed on either side


def config(work: Path, listen: str, real: bool) -> str:
    text = (
        f"base_dir = {work}/run\nstate_dir = {work}/state\nlog_path = {work}/dovecot.log\n"
        f"listen = {listen}\nprotocols = imap\nssl = no\n"
        f"service imap-login {{\n  inet_listener imap {{\n    port = {PORT}\n  }}\n"
        "  inet_listener imaps {\n    port = 0\n  }\n}\n"
    )
    libexec = libexec_dir()
    if real and libexec is not None and libexec != LIBEXEC:
        text += "".join(f"service {p} {{\n  executable = {libexec}/{p}\n}}\n" for p in PROGRAMS)
    return text


def log_lines(path: Path) -> list[str]:
    text = path.read_text() if path.exists() else ""
    return [re.sub(r"^\w{3} \d\d \d\d:\d\d:\d\d ", "", line) for line in text.splitlines()]


def run_real(work: Path, listen: str) -> tuple[int, list[str]]:
    (work / "run").mkdir(parents=True)
    (work / "state").mkdir()
    conf = work / "dovecot.conf"
    conf.write_text(config(work, listen, real=True))
    done = subprocess.run([DOVECOT, "-F", "-c", str(conf)], capture_output=True, timeout=20)
    return done.returncode, log_lines(work / "dovecot.log")


def run_ours(root: Path, listen: str) -> tuple[int, list[str]]:
    work = Path("/work")  # a lab path: ours resolves every path under the lab root
    (root / "etc/dovecot").mkdir(parents=True)
    (root / "etc/dovecot/dovecot.conf").write_text(config(work, listen, real=False))
    (root / "work/run").mkdir(parents=True)
    (root / "work/state").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "labsim.mailserver", "--root", str(root)], capture_output=True, timeout=20
    )
    return done.returncode, log_lines(root / "work/dovecot.log")


@pytest.mark.parametrize(
    "listen",
    [
        "127.0.0.l",  # a typo: no address, no name
        "192.0.2.1",  # an address this host does not have
    ],
)
def test_a_listener_that_cannot_open_fails_as_real_dovecot(tmp_path: Path, listen: str) -> None:
    require_real_dovecot()
    real = run_real(tmp_path / "real", listen)
    ours = run_ours(tmp_path / "ours", listen)
    assert real[1], "the real Dovecot logged nothing"
    assert ours == real


def test_a_port_in_use_fails_as_real_dovecot(tmp_path: Path) -> None:
    require_real_dovecot()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", PORT))
        taken.listen(1)
        real = run_real(tmp_path / "real", "127.0.0.1")
        ours = run_ours(tmp_path / "ours", "127.0.0.1")
    assert real[1], "the real Dovecot logged nothing"
    assert ours == real

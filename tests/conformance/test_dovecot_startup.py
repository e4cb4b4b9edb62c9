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


def config(work: Path, listen: str, real: bool, port: int) -> str:
    text = (
        f"base_dir = {work}/run\nstate_dir = {work}/state\nlog_path = {work}/dovecot.log\n"
        f"listen = {listen}\nprotocols = imap\nssl = no\n"
        f"service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n"
        "  inet_listener imaps {\n    port = 0\n  }\n}\n"
    )
    libexec = libexec_dir()
    if real and libexec is not None and libexec != LIBEXEC:
        text += "".join(f"service {p} {{\n  executable = {libexec}/{p}\n}}\n" for p in PROGRAMS)
    return text


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_lines(path: Path) -> list[str]:
    text = path.read_text() if path.exists() else ""
    return [re.sub(r"^\w{3} \d\d \d\d:\d\d:\d\d ", "", line) for line in text.splitlines()]


def run_real(work: Path, listen: str, port: int) -> tuple[int, list[str]]:
    (work / "run").mkdir(parents=True)
    (work / "state").mkdir()
    conf = work / "dovecot.conf"
    conf.write_text(config(work, listen, real=True, port=port))
    done = subprocess.run([DOVECOT, "-F", "-c", str(conf)], capture_output=True, timeout=20)
    return done.returncode, log_lines(work / "dovecot.log")


def run_ours(root: Path, listen: str, port: int) -> tuple[int, list[str]]:
    work = Path("/work")  # a lab path: ours resolves every path under the lab root
    (root / "etc/dovecot").mkdir(parents=True)
    (root / "etc/dovecot/dovecot.conf").write_text(config(work, listen, real=False, port=port))
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
    port = unused_port()  # no bind reaches it: the address fails first
    real = run_real(tmp_path / "real", listen, port)
    ours = run_ours(tmp_path / "ours", listen, port)
    assert real[1], "the real Dovecot logged nothing"
    assert ours == real


def test_a_port_in_use_fails_as_real_dovecot(tmp_path: Path) -> None:
    require_real_dovecot()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # a port the kernel picks, held for both runs
        taken.listen(1)
        port = taken.getsockname()[1]
        real = run_real(tmp_path / "real", "127.0.0.1", port)
        ours = run_ours(tmp_path / "ours", "127.0.0.1", port)
    assert real[1], "the real Dovecot logged nothing"
    assert ours == real

"""The in-lab service/systemctl shim, run as the learner runs it, on a local lab root."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.lab.local import LocalFS, free_port_base
from labsim.lab.model import LabSpec, UserSpec
from labsim.lab.setup import apply_spec
from labsim.mailserver.tools.service import _alive

SERVICE = "import sys; from labsim.mailserver.tools.service import service_main; sys.exit(service_main())"
SYSTEMCTL = (
    "import sys; from labsim.mailserver.tools.service import systemctl_main; sys.exit(systemctl_main())"
)


class Shim:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = dict(
            os.environ,
            LABSIM_ROOT=str(root),
            LABSIM_PORT_BASE=str(free_port_base(start=random.randrange(20000, 50000, 1000))),
        )

    def run(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, *args], env=self.env, capture_output=True, text=True, timeout=30
        )

    def service(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(SERVICE, *args)

    def systemctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(SYSTEMCTL, *args)


@pytest.fixture
def shim(tmp_path: Path) -> Iterator[Shim]:
    root = tmp_path / "root"
    apply_spec(LocalFS(root), LabSpec(users=[UserSpec("alice", "pw")]))
    # Plain config on loopback: the default tree's ssl = yes works too, but this is quicker to read.
    (root / "etc/dovecot/local.conf").write_text("listen = 127.0.0.1\nssl = no\n")
    s = Shim(root)
    yield s
    s.service("dovecot", "stop")


def test_unknown_services_and_usage(shim: Shim) -> None:
    r = shim.service("apache2", "start")
    assert (r.returncode, r.stderr) == (1, "apache2: unrecognized service\n")
    r = shim.service("dovecot", "explode")
    assert r.returncode == 1
    assert r.stderr.startswith("Usage: /etc/init.d/dovecot {start|stop|restart|reload|")
    r = shim.systemctl("start", "apache2")
    assert (r.returncode, r.stderr) == (
        5,
        "Failed to start apache2.service: Unit apache2.service not found.\n",
    )
    r = shim.systemctl("frobnicate", "dovecot")
    assert (r.returncode, r.stderr) == (1, 'Unknown command verb "frobnicate".\n')


def test_reload_and_status_when_stopped(shim: Shim) -> None:
    r = shim.systemctl("reload", "dovecot")
    assert (r.returncode, r.stderr) == (1, "dovecot.service is not active, cannot reload.\n")
    r = shim.systemctl("status", "dovecot.service")
    assert r.returncode == 3
    assert r.stdout.splitlines()[0] == "○ dovecot.service - Dovecot IMAP/POP3 email server"
    assert "     Active: inactive (dead)" in r.stdout
    r = shim.systemctl("is-active", "dovecot")
    assert (r.returncode, r.stdout) == (3, "inactive\n")
    assert shim.service("dovecot", "stop").returncode == 0


def test_broken_config_fails_start_with_the_fatal_everywhere(shim: Shim) -> None:
    (shim.root / "etc/dovecot/local.conf").write_text("mail_locaton = maildir:~/Maildir\n")
    fatal = (
        "doveconf: Fatal: Error in configuration file /etc/dovecot/local.conf line 1: "
        "Unknown setting: mail_locaton"
    )
    r = shim.systemctl("start", "dovecot")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        fatal,
        "Job for dovecot.service failed because the control process exited with error code.",
        'See "systemctl status dovecot.service" and "journalctl -xeu dovecot.service" for details.',
    ]
    status = shim.service("dovecot", "status")
    assert status.returncode == 3
    assert status.stdout.splitlines()[0] == "× dovecot.service - Dovecot IMAP/POP3 email server"
    assert "     Active: failed (Result: exit-code)" in status.stdout
    assert "(code=exited, status=89/n/a)" in status.stdout
    assert fatal in status.stdout
    log = (shim.root / "var/log/mail.log").read_text()
    assert log.count(f"dovecot: {fatal}") == 1
    assert "systemd[1]: Failed to start dovecot.service - Dovecot IMAP/POP3 email server." in log
    assert shim.systemctl("is-active", "dovecot").stdout == "failed\n"


def test_start_status_reload_restart_stop(shim: Shim) -> None:
    r = shim.service("dovecot", "start")
    assert (r.returncode, r.stderr) == (0, "")
    status = shim.systemctl("status", "dovecot")
    assert status.returncode == 0, status.stdout
    assert "     Active: active (running) since " in status.stdout
    pid_line = [ln for ln in status.stdout.splitlines() if ln.startswith("   Main PID: ")]
    assert len(pid_line) == 1
    pid = int(pid_line[0].split()[2])
    os.kill(pid, 0)
    assert shim.service("dovecot", "start").returncode == 0  # already running: nothing to do
    assert shim.systemctl("reload", "dovecot").returncode == 0
    r = shim.systemctl("restart", "dovecot")
    assert r.returncode == 0, r.stderr
    new_pid = int(shim.systemctl("status", "dovecot").stdout.split("Main PID: ")[1].split()[0])
    assert new_pid != pid
    assert shim.service("dovecot", "stop").returncode == 0
    assert shim.systemctl("is-active", "dovecot").stdout == "inactive\n"
    assert not _alive(new_pid)


def test_a_missing_lab_root_is_a_clear_error(shim: Shim) -> None:
    shim.env["LABSIM_ROOT"] = str(shim.root / "nope")
    r = shim.systemctl("start", "dovecot")
    assert (r.returncode, r.stderr) == (
        1,
        f"systemctl: the lab root {shim.root / 'nope'} (LABSIM_ROOT) is not a directory\n",
    )
    assert not (shim.root / "nope").exists()


def test_status_all_lists_dovecot(shim: Shim) -> None:
    assert shim.service("--status-all").stdout == " [ - ]  dovecot\n"

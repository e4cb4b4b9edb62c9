"""The in-lab service/systemctl shim, run as the learner runs it, on a local lab root."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.lab.local import LocalFS, free_port_base
from labsim.lab.model import LabSpec, UserSpec
from labsim.lab.setup import apply_spec
from labsim.mailserver.tools import service as service_mod
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


@pytest.fixture
def courier_shim(tmp_path: Path) -> Iterator[Shim]:
    root = tmp_path / "root"
    spec = LabSpec(users=[UserSpec("alice", "pw")], dovecot_defaults=False, courier_defaults=True)
    apply_spec(LocalFS(root), spec)
    s = Shim(root)
    yield s
    for name in ("courier-imap", "courier-pop"):
        s.service(name, "stop")


def greeting(shim: Shim, port: int) -> str:
    base = int(shim.env["LABSIM_PORT_BASE"])
    with socket.create_connection(("127.0.0.1", base + port), timeout=5) as s:
        return s.recv(300).decode().rstrip("\r\n")


def test_courier_units_start_and_stop_one_by_one(courier_shim: Shim) -> None:
    shim = courier_shim
    assert shim.service("--status-all").stdout.split("\n")[:3] == [
        " [ - ]  courier-authdaemon",
        " [ - ]  courier-imap",
        " [ - ]  courier-imap-ssl",
    ]
    assert shim.service("dovecot", "start").stderr == "dovecot: unrecognized service\n"
    assert shim.service("courier-authdaemon", "start").returncode == 0
    status = shim.systemctl("status", "courier-authdaemon")
    assert status.stdout.splitlines()[2].startswith("     Active: active (exited) since ")
    r = shim.service("courier-imap", "start")
    assert (r.returncode, r.stderr) == (0, "")
    assert greeting(shim, 143).startswith("* OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE")
    assert greeting(shim, 143).endswith("Courier-IMAP ready. Copyright 1998-2019 Double Precision, Inc.  "
                                        "See COPYING for distribution information.")  # fmt: skip
    assert shim.systemctl("is-active", "courier-pop").stdout == "inactive\n"
    assert shim.service("courier-pop", "start").returncode == 0
    assert greeting(shim, 110) == "+OK Hello there."
    pid = int(shim.systemctl("show", "-p", "MainPID", "--value", "courier-imap").stdout)
    status = shim.service("courier-imap", "status")
    assert status.stdout.splitlines()[0] == "● courier-imap.service - Courier IMAP server"
    assert f"   Main PID: {pid} (couriertcpd)" in status.stdout
    # Stopping IMAP leaves POP3 serving: each daemon is its own process.
    assert shim.service("courier-imap", "stop").returncode == 0
    assert not _alive(pid)
    with pytest.raises(OSError):
        greeting(shim, 143)
    assert greeting(shim, 110) == "+OK Hello there."
    assert shim.systemctl("stop", "courier-pop", "courier-authdaemon").returncode == 0
    assert shim.systemctl("is-active", "courier-authdaemon").stdout == "inactive\n"


def test_a_broken_courier_file_fails_its_unit_with_the_shells_words(courier_shim: Shim) -> None:
    shim = courier_shim
    pop3d = shim.root / "etc/courier/pop3d"
    pop3d.write_text(pop3d.read_text() + 'POP3DSTART="YES\n')
    r = shim.service("courier-pop", "start")
    assert r.returncode == 1
    assert (
        "Job for courier-pop.service failed because the control process exited with error code." in r.stderr
    )
    assert "/etc/courier/pop3d: " in r.stderr and "Unterminated quoted string" in r.stderr
    status = shim.systemctl("status", "courier-pop")
    assert status.returncode == 3
    assert "     Active: failed (Result: exit-code)" in status.stdout
    assert "ExecStart=/etc/init.d/courier-pop start (code=exited, status=1/n/a)" in status.stdout
    log = (shim.root / "var/log/mail.log").read_text()
    assert "systemd[1]: Failed to start courier-pop.service - Courier POP3 server." in log
    # Once, as the shell said it, not again under the unit's name with a second time stamp.
    assert log.count("Unterminated quoted string") == 1, log


def test_courier_not_available_yet_is_one_clear_sentence(
    courier_shim: Shim, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(service_mod, "courier_available", lambda: False)
    monkeypatch.setenv("LABSIM_ROOT", str(courier_shim.root))
    assert service_mod.service_main(["courier-imap", "start"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "courier-imap: the Courier personality of the lab's mail server is not available yet"


def test_a_courier_daemon_switched_off_starts_nothing_and_says_nothing(courier_shim: Shim) -> None:
    """Debian's init script: IMAPDSTART=NO means success with nothing started, not a failure."""
    shim = courier_shim
    imapd = shim.root / "etc/courier/imapd"
    imapd.write_text(imapd.read_text() + "IMAPDSTART=NO\n")
    r = shim.service("courier-imap", "start")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    status = shim.systemctl("status", "courier-imap")
    assert status.returncode == 0
    assert "     Active: active (exited)" in status.stdout
    assert "Main PID" not in status.stdout
    base = int(shim.env["LABSIM_PORT_BASE"])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", base + 143), timeout=2):
        pass  # nothing listens: the learner's fix is the variable, not the service command
    assert shim.service("courier-imap", "stop").returncode == 0
    assert "     Active: inactive (dead)" in shim.systemctl("status", "courier-imap").stdout
    # Switched on again, the same command serves.
    imapd.write_text(imapd.read_text().replace("IMAPDSTART=NO\n", "IMAPDSTART=YES\n"))
    assert shim.service("courier-imap", "start").returncode == 0
    assert greeting(shim, 143).startswith("* OK [CAPABILITY IMAP4rev1")

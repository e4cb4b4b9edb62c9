"""The server as a process: config fatals, listeners, pid file, SIGHUP, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import LabCerts, ServerProcess, free_port_base, port_free, wait_for_port
from tests.pop3.harness import make_lab


def pop3_greeting(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return s.makefile("rb").readline().decode().rstrip("\r\n")


def write_conf(root: Path, text: str) -> None:
    (root / "etc/dovecot/dovecot.conf").write_text(text)


def test_unknown_setting_is_fatal_before_any_port(
    tmp_path: Path, lab_certs: LabCerts, server_factory: type[ServerProcess]
) -> None:
    root = tmp_path / "root"
    make_lab(root, lab_certs)
    write_conf(root, "protocols = pop3\nmail_locaton = maildir:~/Maildir\n")
    base = free_port_base()
    srv = server_factory(root, base)
    assert srv.proc.wait(20) == 89
    assert srv.stderr.strip() == (
        "doveconf: Fatal: Error in configuration file /etc/dovecot/dovecot.conf line 2: "
        "Unknown setting: mail_locaton"
    )
    assert port_free(base + 110)
    assert "doveconf: Fatal: Error in configuration file /etc/dovecot/dovecot.conf line 2" in (
        srv.log_text("/var/log/mail.log")
    )


def test_unbalanced_brace_is_fatal(
    tmp_path: Path, lab_certs: LabCerts, server_factory: type[ServerProcess]
) -> None:
    root = tmp_path / "root"
    make_lab(root, lab_certs)
    write_conf(root, "protocols = pop3\npassdb {\n  driver = pam\n")
    srv = server_factory(root, free_port_base())
    assert srv.proc.wait(20) == 89
    assert re.fullmatch(
        r"doveconf: Fatal: Error in configuration file /etc/dovecot/dovecot\.conf( line \d+)?: .+\n",
        srv.stderr,
    )


def test_startup_pidfile_reload_and_clean_stop(
    tmp_path: Path, lab_certs: LabCerts, server_factory: type[ServerProcess]
) -> None:
    root = tmp_path / "root"
    make_lab(root, lab_certs, extra="protocols = pop3 imap")
    base = free_port_base()
    srv = server_factory(root, base)
    assert srv.wait_ready(110), srv.stderr
    assert wait_for_port(base + 995)
    log = srv.wait_log("starting up")
    assert re.search(r"master: Info: Dovecot v2\.3\.19\.1 \(9b53102964\) starting up for pop3, imap", log), (
        log
    )
    pid_file = root / "run/dovecot/master.pid"
    assert pid_file.read_text().strip() == str(srv.proc.pid)
    assert pop3_greeting(base + 110) == "+OK Dovecot ready."

    # A broken config on SIGHUP: logged, the old one keeps serving.
    good = (root / "etc/dovecot/dovecot.conf").read_text()
    write_conf(root, good + "bogus_setting = 1\n")
    srv.signal(signal.SIGHUP)
    log = srv.wait_log("Error reading configuration")
    assert "master: Warning: SIGHUP received - reloading configuration" in log
    lines = good.count("\n") + 1
    assert (
        "master: Error: Error reading configuration: Error in configuration file "
        f"/etc/dovecot/dovecot.conf line {lines}: Unknown setting: bogus_setting"
    ) in log
    assert pop3_greeting(base + 110) == "+OK Dovecot ready."

    # A good config with a new greeting and a moved listener.
    new = good.replace("login_greeting = Dovecot ready.", "login_greeting = Reloaded.") + (
        "service pop3-login {\n  inet_listener pop3 {\n    port = 1110\n  }\n}\n"
    )
    write_conf(root, new)
    srv.signal(signal.SIGHUP)
    assert wait_for_port(base + 1110, 10), srv.log_text() + srv.stderr
    assert pop3_greeting(base + 1110) == "+OK Reloaded."
    deadline = time.monotonic() + 5
    while not port_free(base + 110) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert port_free(base + 110)

    srv.signal(signal.SIGTERM)
    assert srv.proc.wait(10) == 0
    log = srv.log_text()
    assert re.search(
        rf"master: Warning: Killed with signal 15 \(by pid={os.getpid()} uid={os.getuid()} code=kill\)", log
    )
    assert not pid_file.exists()
    assert port_free(base + 1110)


def test_port_in_use_is_fatal(
    tmp_path: Path, lab_certs: LabCerts, server_factory: type[ServerProcess]
) -> None:
    root = tmp_path / "root"
    make_lab(root, lab_certs)
    base = free_port_base()
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", base + 110))
    blocker.listen()
    try:
        srv = server_factory(root, base)
        assert srv.proc.wait(20) == 89
        assert (
            f"master: Error: service(pop3-login): listen(127.0.0.1, {base + 110}) failed: "
            "Address already in use" in srv.stderr
        )
        assert "master: Fatal: Failed to start listeners" in srv.stderr
        assert port_free(base + 995)
    finally:
        blocker.close()


def test_second_instance_refuses_to_start(
    tmp_path: Path, lab_certs: LabCerts, server_factory: type[ServerProcess]
) -> None:
    root = tmp_path / "root"
    make_lab(root, lab_certs)
    first = server_factory(root, free_port_base())
    assert first.wait_ready(110), first.stderr
    second = server_factory(root, free_port_base())
    assert second.proc.wait(20) == 89
    assert (
        f"master: Fatal: Dovecot is already running with PID {first.proc.pid} "
        "(read from /run/dovecot/master.pid)" in second.stderr
    )


def test_sigint_stops_cleanly(
    tmp_path: Path, lab_certs: LabCerts, server_factory: type[ServerProcess]
) -> None:
    root = tmp_path / "root"
    make_lab(root, lab_certs)
    srv = server_factory(root, free_port_base())
    assert srv.wait_ready(110), srv.stderr
    srv.signal(signal.SIGINT)
    assert srv.proc.wait(10) == 0
    assert "master: Warning: Killed with signal 2 (by pid=" in srv.log_text()
    assert not (root / "run/dovecot/master.pid").exists()


def test_courier_personality_refuses_a_lab_without_courier_files(
    tmp_path: Path, lab_certs: LabCerts, server_factory: type[ServerProcess]
) -> None:
    root = tmp_path / "root"
    make_lab(root, lab_certs)  # Dovecot's files only
    srv = server_factory(root, free_port_base(), ("--personality", "courier"))
    assert srv.proc.wait(20) == 1
    assert "/etc/courier/imapd does not exist" in srv.stderr


def test_wildcard_listen_stays_on_loopback_in_the_sandbox(
    tmp_path: Path, lab_certs: LabCerts, server_factory: type[ServerProcess]
) -> None:
    """With a port base (the local backend) `listen = *, ::` must not expose the lab."""
    root = tmp_path / "root"
    make_lab(root, lab_certs, extra="listen = *, ::\n")
    base = free_port_base()
    srv = server_factory(root, base)
    assert srv.wait_ready(110), srv.stderr
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    local_addresses = {
        line.split()[3].rsplit(":", 1)[0]
        for line in listening.splitlines()
        if line.split()[3].endswith(f":{base + 110}")
    }
    assert local_addresses and local_addresses <= {"127.0.0.1", "[::1]"}, local_addresses
    assert srv.stop() == 0

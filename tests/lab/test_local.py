"""The local backend end to end: a lab dir under LABSIM_HOME, the server as a detached child."""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from labsim.lab.local import LocalLab, free_port_base, port_free
from labsim.lab.model import LabError, ResetNotConfirmed
from labsim.lab.registry import LabRegistry, choose_backend
from tests.lab.conftest import new_id, small_spec


@pytest.fixture
def local_lab(labsim_home: Path) -> Iterator[LocalLab]:
    lab = LabRegistry().create(small_spec(), backend="local", lab_id=new_id())
    assert isinstance(lab, LocalLab)
    yield lab
    lab.destroy()


def all_files(top: Path) -> set[Path]:
    return set(top.rglob("*"))


def test_layout_and_tools(local_lab: LocalLab, labsim_home: Path) -> None:
    lab_dir = labsim_home / "labs" / local_lab.lab_id
    assert local_lab.lab_dir == lab_dir
    assert sorted(p.name for p in lab_dir.iterdir()) == ["bin", "root", "shellrc", "state.json"]
    for tool in ("service", "systemctl", "doveconf", "doveadm", "mkcert.sh"):
        assert os.access(lab_dir / "bin" / tool, os.X_OK), tool
    assert (local_lab.root / "var/run").is_symlink()
    env = local_lab.env()
    assert env["PATH"].split(os.pathsep)[0] == str(lab_dir / "bin")
    assert env["LABSIM_ROOT"] == str(local_lab.root)
    assert env["LABSIM_PORT_BASE"] == str(local_lab.port_base)
    assert env["PS1"] == f"[lab {local_lab.lab_id}] \\w \\$ "
    assert f"PS1='[lab {local_lab.lab_id}] \\w \\$ '" in (lab_dir / "shellrc").read_text()
    assert local_lab.port_base % 1000 == 0 and 10000 <= local_lab.port_base <= 60000


def test_exec_runs_in_the_lab(local_lab: LocalLab) -> None:
    r = local_lab.exec(["sh", "-c", 'pwd; echo "$LABSIM_ROOT"; command -v systemctl'])
    assert r.code == 0
    assert r.output.splitlines() == [
        str(local_lab.root),
        str(local_lab.root),
        str(local_lab.bin_dir / "systemctl"),
    ]
    assert local_lab.exec(["sh", "-c", "exit 3"]).code == 3
    assert local_lab.exec(["cat"], input="from stdin\n").output == "from stdin\n"
    missing = local_lab.exec(["no-such-command-here"])
    assert (missing.code, missing.output) == (127, "no-such-command-here: command not found\n")
    slow = local_lab.exec(["sleep", "5"], timeout=0.3)
    assert slow.code == 124


def test_spawn_gives_a_pexpect_child(local_lab: LocalLab) -> None:
    child = local_lab.spawn(["sh", "-c", 'read name; echo "hello $name from $(pwd)"'])
    child.sendline("alice")
    child.expect(f"hello alice from {local_lab.root}")
    child.expect("\n")
    child.close()
    # Lab tools are found on the lab's PATH.
    tool = local_lab.spawn(["systemctl", "is-active", "dovecot"])
    tool.expect_exact("inactive")
    tool.expect(pexpect.EOF)


def test_read_write_file(local_lab: LocalLab) -> None:
    local_lab.write_file("/etc/dovecot/local.conf", "ssl = no\n", mode=0o600)
    assert local_lab.read_file("/etc/dovecot/local.conf") == b"ssl = no\n"
    host = local_lab.root / "etc/dovecot/local.conf"
    assert stat.S_IMODE(host.stat().st_mode) == 0o600
    # What write_file wrote is what the lab's tools read.
    assert local_lab.exec(["cat", "/dev/stdin"], input="x").output == "x"
    assert local_lab.exec(["cat", "etc/dovecot/local.conf"]).output == "ssl = no\n"
    with pytest.raises(LabError, match=r"cannot read /etc/nothing in lab .*: No such file or directory"):
        local_lab.read_file("/etc/nothing")
    # ".." never leaves the lab root.
    local_lab.write_file("/../../escape.txt", "x")
    assert (local_lab.root / "escape.txt").read_text() == "x"


def test_logs_follow_new_lines(local_lab: LocalLab) -> None:
    log = local_lab.root / "var/log/mail.log"
    log.write_text("first\n")
    assert list(local_lab.logs(follow=False)) == ["first"]
    follow = local_lab.logs(poll=0.01)
    assert next(follow) == "first"
    with open(log, "a") as f:
        f.write("second\nthird")
    assert next(follow) == "second"
    with open(log, "a") as f:
        f.write("\n")
    assert next(follow) == "third"
    follow.close()


def test_service_lifecycle_and_edits_survive_stop_start(local_lab: LocalLab) -> None:
    local_lab.write_file("/etc/dovecot/local.conf", "listen = 127.0.0.1\nssl = no\n")
    assert local_lab.status().server_running is False
    started = local_lab.start()
    assert started.code == 0, started.output
    status = local_lab.status()
    assert status.server_running and status.server_pid is not None
    assert local_lab.exec(["systemctl", "is-active", "dovecot"]).output == "active\n"
    with socket.create_connection(("127.0.0.1", local_lab.port_base + 143), timeout=5) as s:
        assert s.recv(100).startswith(b"* OK")
    local_lab.stop()
    assert local_lab.exec(["systemctl", "is-active", "dovecot"]).output == "inactive\n"
    assert local_lab.read_file("/etc/dovecot/local.conf") == b"listen = 127.0.0.1\nssl = no\n"
    assert local_lab.start().code == 0
    assert local_lab.status().server_running
    local_lab.stop()


def test_a_broken_config_leaves_the_lab_usable(local_lab: LocalLab) -> None:
    local_lab.write_file("/etc/dovecot/local.conf", "ssl = maybe\n")
    r = local_lab.start()
    assert r.code == 1
    assert "doveconf: Fatal: Error in configuration file /etc/dovecot/local.conf line 1" in r.output
    assert "Job for dovecot.service failed" in r.output
    status = local_lab.exec(["service", "dovecot", "status"])
    assert status.code == 3
    assert "Fatal: Error in configuration file /etc/dovecot/local.conf line 1" in status.output
    local_lab.write_file("/etc/dovecot/local.conf", "listen = 127.0.0.1\nssl = no\n")
    assert local_lab.exec(["service", "dovecot", "start"]).code == 0
    local_lab.stop()


def test_reset_needs_confirmation_and_keeps_a_backup(local_lab: LocalLab) -> None:
    local_lab.write_file("/etc/dovecot/local.conf", "mail_location = maildir:~/Maildir\n")
    conf = local_lab.read_file("/etc/dovecot/conf.d/10-auth.conf").replace(b"auth_mechanisms = plain", b"#x")
    local_lab.write_file("/etc/dovecot/conf.d/10-auth.conf", conf)
    with pytest.raises(ResetNotConfirmed, match="call it again with confirm=True"):
        local_lab.reset()
    assert local_lab.read_file("/etc/dovecot/local.conf") == b"mail_location = maildir:~/Maildir\n"
    backup = local_lab.reset(confirm=True)
    assert backup is not None and backup.parent == local_lab.lab_dir / "backups"
    saved = sorted(str(p.relative_to(backup)) for p in backup.rglob("*") if p.is_file())
    assert saved == ["etc/dovecot/conf.d/10-auth.conf", "etc/dovecot/local.conf"]
    assert (backup / "etc/dovecot/local.conf").read_text() == "mail_location = maildir:~/Maildir\n"
    with pytest.raises(LabError):
        local_lab.read_file("/etc/dovecot/local.conf")
    assert b"auth_mechanisms = plain" in local_lab.read_file("/etc/dovecot/conf.d/10-auth.conf")
    assert len(list((local_lab.root / "home/alice/Maildir/new").iterdir())) == 3
    # A reset with nothing changed saves nothing.
    assert local_lab.reset(confirm=True) is None


def test_a_new_registry_finds_the_lab_again(local_lab: LocalLab, labsim_home: Path) -> None:
    again = LabRegistry().get(local_lab.lab_id)
    assert isinstance(again, LocalLab)
    assert again.port_base == local_lab.port_base
    assert again.spec == small_spec()
    assert [lab.lab_id for lab in LabRegistry(labsim_home).list()] == [local_lab.lab_id]
    with pytest.raises(LabError, match="no lab 'nope'"):
        LabRegistry().get("nope")
    with pytest.raises(LabError, match="already exists"):
        LabRegistry().create(small_spec(), backend="local", lab_id=local_lab.lab_id)


def test_nothing_is_written_outside_the_lab_dir(labsim_home: Path, tmp_path: Path) -> None:
    before = all_files(tmp_path)
    lab = LabRegistry().create(small_spec(), backend="local", lab_id="contained")
    lab.write_file("/etc/dovecot/local.conf", "listen = 127.0.0.1\nssl = no\n")
    lab.start()
    lab.exec(["doveconf", "-n"])
    lab.stop()
    outside = {p for p in all_files(tmp_path) - before if lab.lab_dir not in p.parents and p != lab.lab_dir}
    assert outside == {labsim_home, labsim_home / "labs"}
    lab.destroy()
    assert not lab.lab_dir.exists()


def test_port_base_skips_busy_ports() -> None:
    base = free_port_base()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", base + 993))
        s.listen()
        assert not port_free(base + 993)
        assert free_port_base() != base


def test_backend_choice_falls_back_to_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    backend, reason = choose_backend("auto")
    assert backend == "local"
    assert reason.startswith("local backend: no Docker engine answers at unix:///nonexistent/docker.sock")
    with pytest.raises(LabError, match=r"use the local backend instead"):
        choose_backend("docker")
    assert choose_backend("local") == ("local", "asked for the local backend")
    with pytest.raises(LabError, match="unknown lab backend 'vm'"):
        choose_backend("vm")


def test_shell_gets_the_lab_prompt_and_tools(local_lab: LocalLab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELL", "/bin/bash")
    argv = local_lab.shell_argv()
    assert argv == ["/bin/bash", "--rcfile", str(local_lab.lab_dir / "shellrc"), "-i"]
    env = local_lab.env()
    env["HOME"] = str(local_lab.lab_dir)  # no personal .bashrc in the way
    child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=str(local_lab.root), encoding="utf-8", timeout=10)
    child.expect(f"lab {local_lab.lab_id}: the lab root is {local_lab.root}")
    child.expect_exact("Paths: what a brief calls /etc/... or /var/log/mail.log is etc/...")
    child.expect_exact("read the lab's files.")
    child.expect_exact(f"[lab {local_lab.lab_id}] ")
    child.sendline("command -v systemctl; echo $LABSIM_PORT_BASE; exit 7")
    child.expect_exact(str(local_lab.bin_dir / "systemctl"))
    child.expect_exact(str(local_lab.port_base))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 7


def test_a_lab_whose_root_vanished_can_be_reset(local_lab: LocalLab) -> None:
    import shutil

    shutil.rmtree(local_lab.root)
    assert local_lab.status().state == "missing"
    with pytest.raises(LabError, match="has no root directory any more"):
        local_lab.exec(["true"])
    assert local_lab.reset(confirm=True) is None
    assert local_lab.exec(["cat", "etc/hostname"]).output == "mail\n"


def test_setup_commands_run_in_the_lab_and_a_failure_cleans_up(labsim_home: Path) -> None:
    spec = small_spec()
    spec.commands = ["echo 'Welcome to the mail lab' > etc/motd", "chmod 600 etc/motd"]
    lab = LabRegistry().create(spec, backend="local", lab_id="with-commands")
    assert lab.read_file("/etc/motd") == b"Welcome to the mail lab\n"
    assert stat.S_IMODE((labsim_home / "labs/with-commands/root/etc/motd").stat().st_mode) == 0o600
    lab.destroy()
    spec.commands = ["echo broken >&2; exit 4"]
    with pytest.raises(LabError, match=r"setup command 'echo broken >&2; exit 4' failed with exit 4: broken"):
        LabRegistry().create(spec, backend="local", lab_id="failing")
    assert not (labsim_home / "labs/failing").exists()


def test_two_local_labs_never_share_a_port_base(labsim_home: Path) -> None:
    first = LabRegistry().create(small_spec(), backend="local", lab_id="first")
    second = LabRegistry().create(small_spec(), backend="local", lab_id="second")
    try:
        assert isinstance(first, LocalLab) and isinstance(second, LocalLab)
        assert first.port_base != second.port_base
    finally:
        first.destroy()
        second.destroy()


def test_a_courier_lab_starts_its_units_and_reports_its_server(labsim_home: Path) -> None:
    from labsim.lab.from_scenario import SERVICES
    from labsim.lab.model import LabSpec, UserSpec

    spec = LabSpec(
        name="courier",
        users=[UserSpec("alice", "pw")],
        dovecot_defaults=False,
        courier_defaults=True,
        services=SERVICES["courier"],
    )
    lab = LabRegistry().create(spec, backend="local", lab_id=new_id())
    try:
        assert lab.main_service == "courier-imap"
        r = lab.start()
        assert r.code == 0, r.output
        status = lab.status()
        assert (status.state, status.server_running) == ("running", True)
        with socket.create_connection(("127.0.0.1", status.port_base + 110), timeout=5) as s:
            assert s.recv(100) == b"+OK Hello there.\r\n"
        r = lab.exec(["authtest", "alice", "pw"])
        assert (r.code, r.output.splitlines()[0]) == (0, "Authentication succeeded.")
        assert lab.exec(["systemctl", "is-active", "courier-authdaemon"]).output == "active\n"
        lab.stop()
        assert lab.status().state == "stopped"
    finally:
        lab.destroy()


def test_starting_again_keeps_the_ports_its_own_pop3d_holds(labsim_home: Path) -> None:
    # courier-imap's fresh lab: imapd switched off, pop3d serving. Every `labsim start` or `shell`
    # starts the lab again; that took pop3d's ports for someone else's and moved the lab away
    # from its own running pop3d.
    from labsim.lab.from_scenario import lab_spec
    from labsim.scenario.loader import load_scenario

    lab = LabRegistry().create(
        lab_spec(load_scenario(Path(__file__).parents[2] / "scenarios" / "courier-imap")),
        backend="local",
        lab_id=new_id(),
    )
    assert isinstance(lab, LocalLab)
    try:
        assert lab.start().ok
        base = lab.port_base
        assert lab.server_pid() is None  # imapd is off: that is the exercise
        for _ in range(2):
            again = lab.start()
            assert again.ok, again.output
            assert lab.port_base == base
        with socket.create_connection(("127.0.0.1", base + 110), timeout=5) as s:
            assert s.recv(100) == b"+OK Hello there.\r\n"
        assert lab.status().state == "running"
    finally:
        lab.destroy()


def test_destroy_stops_units_the_learner_started_by_hand(labsim_home: Path) -> None:
    spec = small_spec()
    spec.services = []  # the scenario starts nothing; the learner does
    lab = LabRegistry().create(spec, backend="local", lab_id=new_id())
    assert isinstance(lab, LocalLab)
    try:
        lab.start()
        started = lab.exec(["service", "dovecot", "start"])
        assert started.ok, started.output
        pid = lab.server_pid()
        assert pid is not None
    finally:
        lab.destroy()
    with pytest.raises(ProcessLookupError):
        for _ in range(50):  # the server exits within its stop grace
            os.kill(pid, 0)
            time.sleep(0.1)


def test_a_lab_runs_while_any_of_its_services_does(labsim_home: Path) -> None:
    from labsim.lab.model import LabSpec, UserSpec

    spec = LabSpec(
        users=[UserSpec("alice", "pw")],
        dovecot_defaults=False,
        courier_defaults=True,
        services=["courier-imap"],
    )
    lab = LabRegistry().create(spec, backend="local", lab_id=new_id())
    assert isinstance(lab, LocalLab)
    try:
        assert lab.status().state == "stopped"
        # Only POP3 serves; the lab's main service (imapd) does not.
        started = lab.exec(["service", "courier-pop", "start"])
        assert started.ok, started.output
        status = lab.status()
        assert (status.state, status.server_running) == ("running", False)
    finally:
        lab.destroy()

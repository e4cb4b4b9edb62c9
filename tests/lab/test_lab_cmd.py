"""`labsim lab ...` as a learner types it: real subprocesses, a private LABSIM_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.lab.conftest import TEST_PREFIX

LABSIM = [sys.executable, "-m", "labsim.cli"]
SCENARIO = "dovecot-pop3"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    e = dict(os.environ, LABSIM_HOME=str(home), SHELL="/bin/bash", HOME=str(tmp_path), TERM="dumb")
    e.pop("DOCKER_CONTEXT", None)
    return e


def labsim(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LABSIM, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr + r.stdout


@pytest.fixture
def lab_id(env: dict[str, str]) -> Iterator[str]:
    name = TEST_PREFIX + uuid.uuid4().hex[:8]
    r = labsim(env, "lab", "create", SCENARIO, "--backend", "local", "--id", name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"created lab {name} on the local backend (asked for the local backend)",
        f"start it with: labsim lab start {name}",
    ]
    assert r.stderr == f"creating a lab for scenario {SCENARIO} (local backend) ...\n"
    yield name
    labsim(env, "lab", "destroy", name, "--yes")


def test_list_status_exec(env: dict[str, str], lab_id: str) -> None:
    r = labsim(env, "lab", "list")
    assert r.stdout.splitlines()[1].split() == [lab_id, SCENARIO, "local", "stopped", "stopped"]
    r = labsim(env, "lab", "status", lab_id)
    lines = dict(line.split(":", 1) for line in r.stdout.splitlines())
    assert (lines["backend"].strip(), lines["state"].strip(), lines["server"].strip()) == (
        "local",
        "stopped",
        "stopped",
    )
    assert lines["root"].strip() == f"{env['LABSIM_HOME']}/labs/{lab_id}/root"
    r = labsim(env, "lab", "exec", lab_id, "--", "doveconf", "-h", "mail_privileged_group")
    assert (r.returncode, r.stdout) == (0, "mail\n")
    r = labsim(env, "lab", "exec", lab_id, "--", "sh", "-c", "echo out; exit 7")
    assert (r.returncode, r.stdout) == (7, "out\n")


def test_start_logs_stop(env: dict[str, str], lab_id: str) -> None:
    r = labsim(env, "lab", "start", lab_id)
    assert r.returncode == 0, r.stderr
    line = r.stdout.splitlines()[-1]
    assert line.startswith(f"lab {lab_id} is running; mail server ports: IMAP 127.0.0.1:")
    r = labsim(env, "lab", "list")
    assert r.stdout.splitlines()[1].split()[3:] == ["running", "running"]
    r = labsim(env, "lab", "logs", lab_id)
    assert "dovecot: master: Dovecot v2.3.19.1 (9b53102964) starting up for imap, pop3" in r.stdout
    r = labsim(env, "lab", "stop", lab_id)
    assert r.stdout == f"lab {lab_id} stopped; your changes are kept\n"
    r = labsim(env, "lab", "exec", lab_id, "--", "systemctl", "is-active", "dovecot")
    assert r.stdout == "inactive\n"


def test_a_server_that_refuses_leaves_the_lab_to_fix(env: dict[str, str], lab_id: str) -> None:
    labsim(env, "lab", "exec", lab_id, "--", "sh", "-c", "echo 'mail_locaton = x' > etc/dovecot/local.conf")
    r = labsim(env, "lab", "start", lab_id)
    assert r.returncode == 1
    assert "Unknown setting: mail_locaton" in r.stdout
    assert r.stderr.splitlines()[-1] == (
        f"lab {lab_id} is up but its mail server refused to start (see above); "
        f"fix it in `labsim lab shell {lab_id}`"
    )


def test_reset_and_destroy_need_confirmation(env: dict[str, str], lab_id: str) -> None:
    labsim(env, "lab", "exec", lab_id, "--", "sh", "-c", "echo 'ssl = no' > etc/dovecot/local.conf")
    r = labsim(env, "lab", "reset", lab_id)
    assert (r.returncode, r.stderr) == (
        1,
        f"labsim: reset of lab {lab_id} needs confirmation: run it on a terminal, or add --yes; "
        "nothing was changed\n",
    )
    local_conf = ["cat", "etc/dovecot/local.conf"]
    assert labsim(env, "lab", "exec", lab_id, "--", *local_conf).stdout == "ssl = no\n"
    r = labsim(env, "lab", "reset", lab_id, "--yes")
    assert r.returncode == 0
    out = r.stdout.splitlines()
    assert (
        out[0]
        == f"lab {lab_id} is back to its fresh state; its services are stopped (labsim lab start {lab_id})"
    )
    backup = Path(out[1].removeprefix("your changed /etc files are saved in "))
    assert (backup / "etc/dovecot/local.conf").read_text() == "ssl = no\n"
    assert labsim(env, "lab", "exec", lab_id, "--", *local_conf).stdout != "ssl = no\n"
    r = labsim(env, "lab", "destroy", lab_id)
    assert r.returncode == 1 and "needs confirmation" in r.stderr
    assert labsim(env, "lab", "status", lab_id).returncode == 0
    r = labsim(env, "lab", "destroy", lab_id, "-y")
    assert (r.returncode, r.stdout) == (0, f"lab {lab_id} destroyed\n")
    assert not (Path(env["LABSIM_HOME"]) / "labs" / lab_id).exists()


def test_reset_asks_on_a_terminal(env: dict[str, str], lab_id: str) -> None:
    child = pexpect.spawn(LABSIM[0], [*LABSIM[1:], "lab", "reset", lab_id], env=env, encoding="utf-8")
    child.expect_exact("[y/N] ")
    child.sendline("n")
    child.expect_exact(f"labsim: reset of lab {lab_id} cancelled; nothing was changed")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    child = pexpect.spawn(LABSIM[0], [*LABSIM[1:], "lab", "reset", lab_id], env=env, encoding="utf-8")
    child.expect_exact("[y/N] ")
    child.sendintr()  # Ctrl+C at the question
    child.expect_exact(f"reset of lab {lab_id} cancelled; nothing was changed")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    child = pexpect.spawn(LABSIM[0], [*LABSIM[1:], "lab", "reset", lab_id], env=env, encoding="utf-8")
    child.expect_exact("[y/N] ")
    child.sendline("y")
    child.expect_exact(f"lab {lab_id} is back to its fresh state")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_shell_hands_over_the_terminal(env: dict[str, str], lab_id: str) -> None:
    child = pexpect.spawn(LABSIM[0], [*LABSIM[1:], "lab", "shell", lab_id], env=env, encoding="utf-8")
    child.expect_exact(f"[lab {lab_id}]")
    child.sendline("doveconf -h mail_privileged_group; exit 5")
    child.expect_exact("mail")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5
    r = labsim(env, "lab", "shell", lab_id)  # stdin is not a terminal here
    assert r.returncode == 1
    assert r.stderr == (
        f"labsim: a lab shell needs a terminal; from a script use: labsim lab exec {lab_id} -- COMMAND\n"
    )


def test_logs_follow_until_ctrl_c(env: dict[str, str], lab_id: str) -> None:
    child = pexpect.spawn(LABSIM[0], [*LABSIM[1:], "lab", "logs", lab_id, "-f"], env=env, encoding="utf-8")
    labsim(env, "lab", "exec", lab_id, "--", "sh", "-c", "echo 'a line for the learner' >> var/log/mail.log")
    child.expect_exact("a line for the learner")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in (child.before or "")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["lab", "status", "nolab"], 1, "labsim: no lab 'nolab' in {home}/labs\n"),
        (["lab", "start", "../x"], 1, "labsim: '../x' is not a lab id\n"),
        (["lab", "create", "no-such-scenario"], 1, 'labsim: no scenario "no-such-scenario" in '),
        (["lab", "exec", "nolab"], 1, "labsim: exec needs a command: labsim lab exec LAB -- COMMAND"),
    ],
)
def test_clear_errors(env: dict[str, str], args: list[str], code: int, message: str) -> None:
    r = labsim(env, *args)
    no_traceback(r)
    assert r.returncode == code
    assert r.stderr.splitlines()[-1].startswith(message.format(home=env["LABSIM_HOME"]).rstrip("\n"))
    assert len(r.stderr.splitlines()[-1:]) == 1


def test_bad_arguments_get_usage(env: dict[str, str]) -> None:
    r = labsim(env, "lab", "create", SCENARIO, "--backend", "cloud")
    assert r.returncode == 2
    assert "argument --backend: invalid choice: 'cloud' (choose from 'auto', 'local', 'docker')" in r.stderr
    r = labsim(env, "lab")
    assert r.returncode == 2 and "usage: labsim lab" in r.stderr
    r = labsim(env, "lab", "start")
    assert r.returncode == 2 and "the following arguments are required: LAB" in r.stderr
    no_traceback(r)


def test_an_absent_engine_suggests_the_local_backend(env: dict[str, str]) -> None:
    env = dict(env, DOCKER_HOST="unix:///nonexistent/docker.sock")
    r = labsim(env, "lab", "create", SCENARIO, "--backend", "docker")
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == (
        "labsim: no Docker engine answers at unix:///nonexistent/docker.sock (No such file or directory); "
        f"use the local backend instead: labsim lab create {SCENARIO} --backend local"
    )
    assert labsim(env, "lab", "list").stdout.startswith("no labs yet")


def test_labsims_own_backend_option_reaches_lab_create(env: dict[str, str]) -> None:
    name = TEST_PREFIX + uuid.uuid4().hex[:8]
    r = labsim(env, "--backend", "local", "lab", "create", SCENARIO, "--id", name)
    try:
        assert r.returncode == 0, r.stderr
        assert (
            r.stdout.splitlines()[0]
            == f"created lab {name} on the local backend (asked for the local backend)"
        )
    finally:
        labsim(env, "lab", "destroy", name, "--yes")

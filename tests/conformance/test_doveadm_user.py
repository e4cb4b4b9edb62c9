"""`doveadm user` with user masks and `doveadm log`: the real doveadm against ours.

Real Dovecot lists a userdb's users when an argument holds `*` or `?` (passwd-file and passwd
can, static cannot); the same passwd-file (and the host's /etc/passwd, copied under our lab
root) must give the same names, words, streams and exit codes from both doveadms.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labsim.lab.local import port_free
from tests.conformance.realdovecot import RealDovecot, require_real_dovecot, wait_for_port

CONF = "protocols = imap pop3\nssl = no\nmail_location = maildir:~/Maildir\nauth_failure_delay = 0\n"
# Passdb-only lines (dave), a comment, a line with no name, mixed case: what iteration skips or keeps.
USERS = (
    "alice:{PLAIN}secret:1000:1000::/home/alice::\n"
    "bob:{PLAIN}secret:1001:1001::/home/bob::\n"
    "albert:{PLAIN}secret:1002:1002::/home/albert::\n"
    "# a comment\n"
    "dave:{PLAIN}secret\n"
    "\n"
    ":nobody\n"
    "Eve:{PLAIN}secret:1004:1004::/home/eve\n"
)


LISTING_FAILED = (
    "Error: auth-master: userdb list: User listing returned failure\nFatal: user listing failed\n"
)


def userdbs(*specs: tuple[str, str]) -> str:
    return "".join(f"userdb {{\n  driver = {d}\n  args = {a}\n}}\n" for d, a in specs)


def passdb(path: str) -> str:
    return f"passdb {{\n  driver = passwd-file\n  args = {path}\n}}\n"


def fill(text: str, users: str, directory: str) -> str:
    return text.replace("{users}", users).replace("{dir}", directory).replace("  args = \n", "")


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_base() -> int:
    for base in range(45000, 60000, 1000):
        if all(port_free(base + p) for p in (110, 143, 993, 995)):
            return base
    raise RuntimeError("no free port block")


@dataclass
class Pair:
    """One configuration under the real Dovecot and under our lab root."""

    real: RealDovecot
    ours_conf: str  # a lab path
    ours_log: Path

    def real_run(self, *args: str) -> tuple[int, str, str]:
        return run(["doveadm", "-c", str(self.real.conf), *args], dict(os.environ, LANG="C"))

    def ours_run(self, *args: str) -> tuple[int, str, str]:
        return ours(self.ours_conf, *args)


ROOT: Path = Path()  # our lab root, set by the fixture


def run(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    return p.returncode, p.stdout, p.stderr


def ours(conf: str, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ, LANG="C", LABSIM_ROOT=str(ROOT))
    return run([sys.executable, "-m", "labsim.mailserver.tools.doveadm", "-c", conf, *args], env)


@pytest.fixture(scope="module")
def pairs() -> Iterator[dict[str, Pair]]:
    global ROOT
    require_real_dovecot()
    work = Path(tempfile.mkdtemp(prefix="labsim-dvuser-", dir="/tmp"))
    os.chmod(work, 0o755)
    ROOT = work / "ours"
    (ROOT / "etc" / "dovecot").mkdir(parents=True)
    (ROOT / "etc" / "dovecot" / "users").write_text(USERS)
    # The passwd userdb reads /etc/passwd: the host's for the real one, the same lines under our root.
    shutil.copy("/etc/passwd", ROOT / "etc" / "passwd")
    real_users = work / "users"
    real_users.write_text(USERS)
    configs = {
        # the only userdb: passdb-only lines are listed too
        "alone": userdbs(("passwd-file", "{users}")),
        # a %variable path cannot be listed (a failure after the others' names); passdb-only
        # lines are skipped when other userdbs exist; passwd lists only the valid UID/GID range
        "several": userdbs(("passwd-file", "{dir}/%d/users"), ("passwd-file", "{users}"), ("passwd", ""))
        + "first_valid_uid = 100\nlast_valid_uid = 1000\nfirst_valid_gid = 2\n",
        # static cannot list at all
        "static": userdbs(("static", "uid=1000 gid=1000 home=/home/%u")),
    }
    out: dict[str, Pair] = {}
    reals: list[RealDovecot] = []
    ours_proc: subprocess.Popen[bytes] | None = None
    try:
        for name, text in configs.items():
            real_dir = work / f"real-{name}"
            real = RealDovecot(
                real_dir,
                CONF + passdb(str(real_users)) + fill(text, str(real_users), str(work)),
                unused_port(),
                unused_port(),
            )
            reals.append(real)
            real.start()
            lab_conf = f"/etc/dovecot/{name}.conf"
            (ROOT / lab_conf.lstrip("/")).write_text(
                CONF
                + f"log_path = /var/log/{name}.log\n"
                + passdb("/etc/dovecot/users")
                + fill(text, "/etc/dovecot/users", "/etc/dovecot")
            )
            out[name] = Pair(real, lab_conf, ROOT / "var" / "log" / f"{name}.log")
        # Ours runs for `doveadm log errors`, with the static userdb as its own configuration.
        shutil.copy(ROOT / "etc/dovecot/static.conf", ROOT / "etc/dovecot/dovecot.conf")
        with open(ROOT / "etc/dovecot/dovecot.conf", "a") as f:
            f.write("listen = 127.0.0.1\n")
        base = free_base()
        ours_proc = subprocess.Popen(
            [sys.executable, "-m", "labsim.mailserver.cli", "--root", str(ROOT), "--port-base", str(base)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, LABSIM_ROOT=str(ROOT), LANG="C"),
        )
        wait_for_port(base + 143, timeout=30)
        yield out
    finally:
        if ours_proc is not None:
            ours_proc.terminate()
            ours_proc.wait(timeout=10)
        for real in reals:
            real.stop()
        shutil.rmtree(work, ignore_errors=True)


ARGS = [
    ["*"],
    ["al*"],
    ["a?ice"],
    ["A*"],  # wildcard_match_icase
    ["e*"],
    ["zz*"],
    ["al*", "bob"],  # one wildcard makes every argument a mask
    ["bob", "al*", "nosuch"],
    ["[a]*"],  # only * and ? are special
    ["-u", "al*"],
    ["-f", "uid", "al*"],
    ["*", "-x", "service=imap"],  # options after the masks: getopt permutes
    ["-e", "%u", "-u", "a*"],
    ["-e", "x", "-f", "y", "a*"],
    ["-z", "a*"],
    ["-x"],
    # without a mask: the userdb lookup, in both of doveadm's forms
    ["alice"],
    ["alice", "nosuch", "bob"],
    ["-u", "alice", "nosuch", "bob"],
    ["-u", "-f", "home", "alice", "bob"],
    ["-f", "uid", "nosuch", "alice"],
    ["-e", "%u/%h", "alice"],
]


@pytest.mark.parametrize("args", ARGS, ids=" ".join)
def test_user_masks_on_a_passwd_file(pairs: dict[str, Pair], args: list[str]) -> None:
    pair = pairs["alone"]
    assert pair.ours_run("user", *args) == pair.real_run("user", *args)


def masked(line: str) -> str:
    """A log line without what differs by run: time, pids, uids, the worker's request count."""
    line = re.sub(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ", "<time> ", line)
    line = re.sub(r"\(\d+\)", "(<pid>)", line)
    line = re.sub(r"pid=\d+,uid=\d+", "pid=<pid>,uid=<uid>", line)
    line = re.sub(r"<\d+>", "<n>", line)
    return re.sub(r"\d+ msecs", "<n> msecs", line)


def new_lines(path: Path, before: int) -> list[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [masked(line) for line in lines[before:] if "auth" in line.split(": ")[0]]


def count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("name", ["several", "static"])
def test_listing_that_fails_says_so_in_both_and_logs_why(pairs: dict[str, Pair], name: str) -> None:
    pair = pairs[name]
    real_before, ours_before = count(pair.real.log), count(pair.ours_log)
    real, ours_ = pair.real_run("user", "*"), pair.ours_run("user", "*")
    assert ours_ == real
    assert real[0] == 75
    assert (
        real[2]
        == "Error: auth-master: userdb list: User listing returned failure\nFatal: user listing failed\n"
    )
    if name == "several":
        assert "dave" not in real[1].split() and "alice" in real[1].split()
        assert "root" not in real[1].split()  # outside first_valid_uid..last_valid_uid
    real_log = new_lines(pair.real.log, real_before)
    ours_log = new_lines(pair.ours_log, ours_before)
    # The real auth-worker also logs its start-up; the iteration's own line must be the same.
    assert ours_log and set(ours_log) <= set(real_log), (real_log, ours_log)


def test_log_errors_shows_the_servers_errors_as_the_log_process_keeps_them(pairs: dict[str, Pair]) -> None:
    pair = pairs["static"]
    pair.real_run("user", "*")
    ours(pair.ours_conf, "user", "*")
    # Ours reads its own log: its configuration's log_path, the running server's (static) one.
    real = pair.real_run("log", "errors")
    ours_ = ours("/etc/dovecot/dovecot.conf", "log", "errors")
    assert real[0] == ours_[0] == 0
    real_lines = [masked(line) for line in real[1].splitlines()]
    ours_lines = [masked(line) for line in ours_[1].splitlines()]
    assert ours_lines and set(ours_lines) <= set(real_lines), (real_lines, ours_lines)
    assert ours_lines[0].startswith("<time> Error: auth: auth-master client: Trying to iterate users")
    # -s: nothing since a time after the last error
    future = str(2**31 - 1)
    assert pair.real_run("log", "errors", "-s", future) == ours(
        "/etc/dovecot/dovecot.conf", "log", "errors", "-s", future
    )


@pytest.mark.parametrize(
    "args",
    [["log", "errors"], ["log", "reopen"], ["log"], ["log", "nosuch"], ["log", "errors", "x"]],
    ids=" ".join,
)
def test_without_a_server(pairs: dict[str, Pair], args: list[str]) -> None:
    # A base_dir where no Dovecot runs, the same path for both (it exists on neither side).
    base_dir = f"/run/labsim-stopped-{uuid.uuid4().hex[:8]}"
    text = f"base_dir = {base_dir}\n{CONF}"
    real_conf = ROOT.parent / "stopped.conf"
    real_conf.write_text(text)
    (ROOT / "etc/dovecot/stopped.conf").write_text(text)
    real = run(["doveadm", "-c", str(real_conf), *args], dict(os.environ, LANG="C"))
    assert ours("/etc/dovecot/stopped.conf", *args) == real

"""`!include auth-sql.conf.ext` with the file missing, `!include_try` of it, and the file present
with `args` naming a missing dovecot-sql.conf.ext: doveconf, the server's start and a login
must say what Debian's real Dovecot says (docs/dovecot-observed.md, "Includes and sql").
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.realdovecot import DOVECOT, LIBEXEC, PROGRAMS, libexec_dir, require_real_dovecot
from tests.conformance.test_dovecot_startup import unused_port

DOVECONF = "/usr/bin/doveconf"
REPO = Path(__file__).resolve().parents[2]

MAIN_CONF = """\
base_dir = {root}/run/dovecot
state_dir = {root}/state
log_path = {root}/var/log/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
auth_mechanisms = plain
disable_plaintext_auth = no
auth_failure_delay = 0
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {root}/etc/dovecot/users
}}
userdb {{
  driver = passwd-file
  args = {root}/etc/dovecot/users
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
!include conf.d/*.conf
"""

AUTH_SQL = """\
passdb {{
  driver = sql
  args = {root}/etc/dovecot/dovecot-sql.conf.ext
}}
userdb {{
  driver = sql
  args = {root}/etc/dovecot/dovecot-sql.conf.ext
}}
"""

CASES = {
    # Debian's 10-auth.conf with the sql line uncommented and auth-sql.conf.ext deleted.
    "include-missing": ("!include auth-sql.conf.ext\n", False),
    "include-try-missing": ("!include_try auth-sql.conf.ext\n", False),
    # auth-sql.conf.ext in place, but its args file (dovecot-sql.conf.ext) is not.
    "sql-args-missing": ("!include auth-sql.conf.ext\n", True),
}


def make_root(root: Path, case: str, real: bool, port: int) -> None:
    include, with_sql = CASES[case]
    prefix = str(root) if real else ""
    conf = root / "etc" / "dovecot"
    (conf / "conf.d").mkdir(parents=True)
    for d in ("run/dovecot", "state", "var/log", "home/tester"):
        (root / d).mkdir(parents=True)
    os.chown(root / "home" / "tester", 65534, 65534)
    text = MAIN_CONF.format(root=prefix, port=port)
    if real and libexec_dir() not in (None, LIBEXEC):
        text += "".join(f"service {p} {{\n  executable = {libexec_dir()}/{p}\n}}\n" for p in PROGRAMS)
    (conf / "dovecot.conf").write_text(text)
    (conf / "conf.d" / "10-auth.conf").write_text("auth_verbose = no\n" + include)
    if with_sql:
        (conf / "conf.d" / "auth-sql.conf.ext").write_text(AUTH_SQL.format(root=prefix))
    (conf / "users").write_text(f"tester:{{PLAIN}}secret:65534:65534::{prefix}/home/tester::\n")


def unrooted(text: str, root: Path) -> str:
    return text.replace(str(root), "")


def auth_blocks(text: str) -> list[str]:
    """The passdb/userdb sections of `doveconf -n`: what the includes added."""
    return re.findall(r"^(?:passdb|userdb) \{\n(?:  .*\n)*\}", text, re.M)


def doveconf(root: Path, real: bool) -> tuple[int, str, list[str]]:
    if real:
        cmd = [DOVECONF, "-n", "-c", str(root / "etc/dovecot/dovecot.conf")]
        env = dict(os.environ)
    else:
        cmd = [sys.executable, "-m", "labsim.mailserver.tools.doveconf", "-n"]
        env = {**os.environ, "LABSIM_ROOT": str(root), "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=env)
    return done.returncode, unrooted(done.stderr, root), auth_blocks(unrooted(done.stdout, root))


def log_lines(root: Path) -> list[str]:
    path = root / "var/log/dovecot.log"
    text = path.read_text() if path.exists() else ""
    out = []
    for line in text.splitlines():
        line = re.sub(r"^\w{3} \d\d \d\d:\d\d:\d\d ", "", unrooted(line, root))
        line = re.sub(r"session=<[^>]*>", "session=<>", line)
        line = re.sub(r"mpid=\d+", "mpid=<>", line)
        # in=/out= byte counts: the post-login CAPABILITY differs in length (docs/conformance.md)
        line = re.sub(r" in=\d+ out=\d+", " in=<n> out=<n>", line)
        line = re.sub(r"<\d+><[^>]*>", "<pid><session>", line)
        if "Killed with signal" in line:
            continue  # how each test harness stops its server
        out.append(line)
    return out


def imap_login(port: int) -> list[str]:
    out: list[str] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        f = sock.makefile("rb")
        out.append(f.readline().decode().rstrip("\r\n"))
        if out[0].startswith("* BYE"):
            return out
        for line in ("a LOGIN tester secret", "b LOGOUT"):
            sock.sendall(line.encode() + b"\r\n")
            while True:
                reply = f.readline().decode().rstrip("\r\n")
                # Capabilities: the lab leaves out what it does not implement (docs/conformance.md).
                reply = re.sub(r"\[CAPABILITY [^\]]*\]", "[CAPABILITY]", reply)
                out.append(re.sub(r" \(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)\.", ".", reply))
                if not reply or reply.startswith(line[0] + " "):
                    break
    return out


def settle(log: Path, quiet: float = 0.5, limit: float = 10.0) -> None:
    """Until the log has not grown for `quiet` seconds (bounded)."""
    deadline = time.monotonic() + limit
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_size = log.stat().st_size if log.exists() else 0
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


def start_and_login(root: Path, real: bool, port: int) -> tuple[int | None, list[str], list[str], str]:
    """(exit status if it stopped at start, the client's lines, the log, stderr)."""
    if real:
        cmd = [DOVECOT, "-F", "-c", str(root / "etc/dovecot/dovecot.conf")]
        env = dict(os.environ)
    else:
        cmd = [sys.executable, "-m", "labsim.mailserver", "--root", str(root)]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    client: list[str] = []
    try:
        # Wait for the master's start line, not for the port: a probe connection would log a
        # line of its own.
        deadline = time.monotonic() + 20
        log = root / "var/log/dovecot.log"
        while proc.poll() is None and time.monotonic() < deadline:
            if log.exists() and "starting up" in log.read_text():
                break
            time.sleep(0.05)
        if proc.poll() is None:
            client = imap_login(port)
            settle(log)  # the login's log lines, from processes that log on their own time
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    status = proc.returncode if not client else None
    return status, client, log_lines(root), unrooted(err.decode(), root)


@pytest.fixture
def work() -> Iterator[Path]:
    # Not pytest's tmp_path: the real auth process (user dovecot) must read the users file.
    path = Path(tempfile.mkdtemp(prefix="labsim-incl-", dir="/tmp"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_includes_and_sql_args_as_real_dovecot(work: Path, case: str) -> None:
    require_real_dovecot()
    tmp_path = work / case
    port = unused_port()
    real_root, ours_root = tmp_path / "real", tmp_path / "ours"
    make_root(real_root, case, real=True, port=port)
    make_root(ours_root, case, real=False, port=port)

    assert doveconf(ours_root, real=False) == doveconf(real_root, real=True)

    real = start_and_login(real_root, real=True, port=port)
    ours = start_and_login(ours_root, real=False, port=port)
    assert ours[:3] == real[:3]
    if real[0] is not None:
        assert ours[3] == real[3]  # the fatal a learner sees when the start fails

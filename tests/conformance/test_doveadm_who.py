"""`doveadm who` and `doveadm kick`: the real doveadm against Debian's Dovecot, ours against ours.

The same logins on both (alice over IMAP from 127.0.0.1 and 127.0.0.2, bob
over POP3), then the same commands. Pids differ (Dovecot has a process per
session, labsim one for all), so they are masked; everything else must match:
the columns, the counts, the IPs, kick's words and exit codes, what a kicked
client reads, the log lines a kick leaves.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conformance.realdovecot import (
    RealDovecot,
    free_port_block,
    give_to_nobody,
    require_real_dovecot,
    wait_for_port,
)

CONF = """\
protocols = imap pop3
ssl = no
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
auth_failure_delay = 0
"""
USERS = ("alice", "bob")


@dataclass
class Side:
    """One server and the doveadm that goes with it."""

    name: str
    imap: int
    pop3: int
    doveadm: list[str]
    env: dict[str, str]
    log: Path
    clients: dict[str, socket.socket] = field(default_factory=dict)

    def run(self, *args: str) -> tuple[int, str, str]:
        p = subprocess.run([*self.doveadm, *args], capture_output=True, text=True, timeout=30, env=self.env)
        return p.returncode, p.stdout, p.stderr

    def login(self, name: str, proto: str, user: str, source: str = "127.0.0.1") -> None:
        s = socket.socket()
        s.settimeout(10)
        s.bind((source, 0))
        s.connect(("127.0.0.1", self.imap if proto == "imap" else self.pop3))
        f = s.makefile("rb")
        f.readline()
        if proto == "imap":
            s.sendall(f"a LOGIN {user} secret\r\n".encode())
            assert f.readline().startswith(b"a OK"), self.name
        else:
            s.sendall(f"USER {user}\r\n".encode())
            f.readline()
            s.sendall(b"PASS secret\r\n")
            assert f.readline().startswith(b"+OK Logged in."), self.name
        self.clients[name] = s

    def last_words(self, name: str) -> list[str]:
        """What a client reads until the server closes it."""
        s = self.clients.pop(name)
        data = b""
        with s:
            while chunk := s.recv(4096):
                data += chunk
        return data.decode().splitlines()


def seed(home: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def sides() -> Iterator[dict[str, Side]]:
    require_real_dovecot()
    work = Path(tempfile.mkdtemp(prefix="labsim-who-", dir="/tmp"))
    os.chmod(work, 0o755)
    real_dir, ours_root = work / "real", work / "ours"
    for user in USERS:
        seed(real_dir / "home" / user)
        seed(ours_root / "home" / user)
    uid, gid = give_to_nobody(real_dir / "home")
    os.chmod(real_dir, 0o755)

    def users(home: str) -> str:
        return "".join(f"{u}:{{PLAIN}}secret:{uid}:{gid}::{home}/{u}::\n" for u in USERS)

    (real_dir / "users").write_text(users(str(real_dir / "home")))

    def db(path: object) -> str:
        return "".join(
            f"{kind} {{\n  driver = passwd-file\n  args = {path}\n}}\n" for kind in ("passdb", "userdb")
        )

    real_base = free_port_block()
    real = RealDovecot(real_dir, CONF + db(real_dir / "users"), real_base + 143, real_base + 110)
    real.start()

    (ours_root / "etc" / "dovecot").mkdir(parents=True)
    (ours_root / "etc" / "dovecot" / "users").write_text(users("/home"))
    (ours_root / "etc" / "dovecot" / "dovecot.conf").write_text(
        CONF + "listen = 127.0.0.1\nlog_path = /var/log/dovecot.log\n" + db("/etc/dovecot/users")
    )
    ours_base = free_port_block(avoid=(real_base,))
    env = {**os.environ, "LABSIM_ROOT": str(ours_root), "LANG": "C"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labsim.mailserver.cli",
            "--root",
            str(ours_root),
            "--port-base",
            str(ours_base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_for_port(ours_base + 143, timeout=30)
        yield {
            "real": Side(
                "real",
                real.imap_port,
                real.pop3_port,
                ["doveadm", "-c", str(real.conf)],
                {**os.environ, "LANG": "C"},
                real.log,
            ),
            "ours": Side(
                "ours",
                ours_base + 143,
                ours_base + 110,
                [sys.executable, "-m", "labsim.mailserver.tools.doveadm"],
                env,
                ours_root / "var" / "log" / "dovecot.log",
            ),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        real.stop()
        shutil.rmtree(work, ignore_errors=True)


def masked_rows(text: str, pid_column: int | None) -> tuple[list[str], list[list[str]]]:
    """The header's words and the rows' words, pids masked, rows sorted (doveadm's order is a hash's)."""
    lines = text.splitlines()
    rows = []
    for line in lines[1:]:
        words = line.split()
        if pid_column is not None:
            words[pid_column] = "<pid>"
        rows.append(" ".join(words))
    joined = [re.sub(r"\((\d+)( \d+)*\)", "(<pids>)", r) for r in rows]
    # The order of a row's IPs follows the order anvil heard of the logins: a race on both sides.
    joined = [
        re.sub(r"\(([^)]*)\)", lambda m: "(" + " ".join(sorted(m.group(1).split())) + ")", r) for r in joined
    ]
    return lines[0].split(), sorted(r.split() for r in joined)


def both(sides: dict[str, Side], *args: str) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    return sides["real"].run(*args), sides["ours"].run(*args)


def test_who_kick_as_the_real_doveadm(sides: dict[str, Side]) -> None:
    # Nobody logged in: the header alone, padded as the table formatter pads it (80 columns).
    real, ours = both(sides, "who")
    assert ours == real
    assert real[1] == "username # proto (pids) (ips)" + " " * 25 + "\n"
    for side in sides.values():
        side.login("alice1", "imap", "alice")
        side.login("alice2", "imap", "alice", source="127.0.0.2")
        side.login("bob", "pop3", "bob")

    for args, pid_column in [
        (["who"], None),
        (["who", "-1"], 2),
        (["who", "ALICE"], None),  # masks ignore case
        (["who", "-1", "b?b"], 2),
        (["who", "127.0.0.2"], None),
        (["who", "-1", "127.0.0.0/24"], 2),
        (["who", "-1", "a*", "127.0.0.2"], 2),
    ]:
        real, ours = both(sides, *args)
        assert (ours[0], ours[2]) == (real[0], real[2]) == (0, ""), args
        assert masked_rows(ours[1], pid_column) == masked_rows(real[1], pid_column), args
    real, _ = both(sides, "who")
    assert sorted(masked_rows(real[1], None)[1])[0] == [
        "alice",
        "2",
        "imap",
        "(<pids>)",
        "(127.0.0.1",
        "127.0.0.2)",
    ]

    for args in (
        ["who", "nobody"],
        ["who", "-1", "nobody"],
        ["who", "alice", "bob"],
        ["who", "-x"],
        ["kick"],
    ):
        real, ours = both(sides, *args)
        assert ours == real, args

    # kick: the words, what the kicked clients read, what the others keep.
    real, ours = both(sides, "kick", "bob")
    assert ours == real == (0, "bob kicked connections from the following users:\n\n", "")
    assert (
        sides["ours"].last_words("bob")
        == sides["real"].last_words("bob")
        == ["-ERR [SYS/TEMP] Server shutting down."]
    )
    real, ours = both(sides, "kick", "127.0.0.2")
    assert ours == real == (0, "alice kicked connections from the following users:\n\n", "")
    assert (
        sides["ours"].last_words("alice2")
        == sides["real"].last_words("alice2")
        == ["* BYE Server shutting down."]
    )
    real, ours = both(sides, "who", "-1")
    assert (
        masked_rows(ours[1], 2)
        == masked_rows(real[1], 2)
        == (
            ["username", "proto", "pid", "ip"],
            [["alice", "imap", "<pid>", "127.0.0.1"]],
        )
    )
    real, ours = both(sides, "kick", "nobody")
    assert ours == real == (68, "no users kicked\n", "")
    ours_log = log_lines(sides["ours"])
    assert ours_log == log_lines(sides["real"])
    assert ours_log[:2] == [
        "pop3(N): Warning: Killed with signal N (by pid=N uid=N code=kill)",
        "pop3(bob)<><>: Info: Disconnected: Server shutting down. top=N/N, retr=N/N, del=N/N, size=N",
    ]


def log_lines(side: Side) -> list[str]:
    """The lines a kick leaves, from the process name on, pids and session ids masked."""
    deadline = time.monotonic() + 5
    while True:
        text = side.log.read_text()
        found = [
            re.sub(r"<[^>]*>", "<>", re.sub(r"\b\d+\b", "N", line[m.start() :]))
            for line in text.splitlines()
            if (m := re.search(r"\b(imap|pop3)\(", line)) and ("Killed" in line or "shutting down" in line)
        ]
        if len(found) >= 4 or time.monotonic() > deadline:
            return found
        time.sleep(0.1)

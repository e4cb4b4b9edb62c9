"""The two servers under test, on loopback: Debian's Dovecot and labsim-mailserver,
each reading the same configuration over its own copy of the same mail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from labsim.lab.local import port_free
from tests.conformance.realdovecot import DOVECOT, RealDovecot, give_to_nobody, wait_for_port

COMMON_CONF = """\
protocols = imap pop3
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
auth_failure_delay = 0
mail_max_userip_connections = 200
"""

LOCATIONS = {
    "maildir": "maildir:~/Maildir",
    "mbox": "mbox:~/mail:INBOX=~/mbox",
}


def real_dovecot_missing() -> str:
    """Why the real daemon cannot run here, or "" when it can."""
    if not Path(DOVECOT).exists():
        return "Debian's dovecot-imapd/dovecot-pop3d are not installed"
    if os.geteuid() != 0:
        return "the real Dovecot needs root to start"
    return ""


def free_port_block(avoid: frozenset[int] = frozenset()) -> int:
    """A port base whose +110 and +143 are free on 127.0.0.1."""
    for base in range(32000, 60000, 1000):
        if base in avoid:
            continue
        if port_free(base + 110) and port_free(base + 143):
            return base
    raise RuntimeError("no free port block on 127.0.0.1")


def copy_mail(src: Path, home: Path, fmt: str) -> None:
    """Give a server its own copy of the mail. Maildir files are never written in
    place, so hard links are enough; an mbox is rewritten by its server: copy it."""
    if fmt == "maildir":
        dst = home / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (dst / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("cur", "new"):
            for e in os.scandir(src / sub):
                os.link(e.path, dst / sub / e.name)
    else:
        (home / "mail").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, home / "mbox")


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_kib(pid: int) -> tuple[int, int, int]:
    """(summed RSS, summed PSS, process count) over pid's process tree, in KiB."""
    rss = pss = n = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except OSError:
            continue
    return rss, pss, n


@dataclass
class Server:
    name: str
    imap_port: int
    pop3_port: int
    pid: int


USER = "tester"


def cold_user(i: int) -> str:
    """The i-th user whose mailbox no server has opened yet (one per first-SELECT run)."""
    return f"cold{i}"


def user_names(cold_users: int) -> list[str]:
    return [USER, *(cold_user(i) for i in range(cold_users))]


class RealServer:
    """Debian's Dovecot in the foreground with a private base_dir."""

    def __init__(
        self, workdir: Path, mail_src: Path, fmt: str, uid: int, gid: int, cold_users: int = 0
    ) -> None:
        self.workdir = workdir
        lines = []
        for name in user_names(cold_users):
            home = workdir / "home" / name
            copy_mail(mail_src, home, fmt)
            lines.append(f"{name}:{{PLAIN}}secret:{uid}:{gid}::{home}::\n")
        give_to_nobody(workdir / "home")
        users = workdir / "users"
        users.write_text("".join(lines))
        self.base = base = free_port_block()
        self.dovecot = RealDovecot(
            workdir,
            COMMON_CONF
            + f"mail_location = {LOCATIONS[fmt]}\n"
            + f"passdb {{\n  driver = passwd-file\n  args = {users}\n}}\n"
            + f"userdb {{\n  driver = passwd-file\n  args = {users}\n}}\n",
            imap_port=base + 143,
            pop3_port=base + 110,
        )

    def start(self) -> Server:
        self.dovecot.start()
        wait_for_port(self.dovecot.pop3_port)
        assert self.dovecot.proc is not None
        return Server("dovecot", self.dovecot.imap_port, self.dovecot.pop3_port, self.dovecot.proc.pid)

    def stop(self) -> None:
        self.dovecot.stop()


class LabsimServer:
    """labsim-mailserver as a subprocess over a lab root."""

    def __init__(
        self, root: Path, mail_src: Path, fmt: str, uid: int, gid: int, avoid: int, cold_users: int = 0
    ) -> None:
        self.root = root
        names = user_names(cold_users)
        for name in names:
            copy_mail(mail_src, root / "home" / name, fmt)
        give_to_nobody(root / "home")
        (root / "etc" / "dovecot").mkdir(parents=True, exist_ok=True)
        (root / "var" / "run" / "dovecot").mkdir(parents=True, exist_ok=True)
        (root / "var" / "log").mkdir(parents=True, exist_ok=True)
        (root / "etc" / "dovecot" / "users").write_text(
            "".join(f"{name}:{{PLAIN}}secret:{uid}:{gid}::/home/{name}::\n" for name in names)
        )
        (root / "etc" / "dovecot" / "dovecot.conf").write_text(
            COMMON_CONF
            + "listen = 127.0.0.1\n"
            + f"mail_location = {LOCATIONS[fmt]}\n"
            + "passdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
            + "userdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
        )
        self.base = free_port_block(frozenset({avoid}))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, extra_args: list[str] | None = None) -> Server:
        self.stderr_path = self.root / "server.stderr"
        err = open(self.stderr_path, "wb")  # noqa: SIM115
        cmd = [sys.executable, *(extra_args or []), "-m", "labsim.mailserver"]
        cmd += ["--root", str(self.root), "--port-base", str(self.base)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        try:
            wait_for_port(self.base + 143, timeout=30)
            wait_for_port(self.base + 110, timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError("labsim-mailserver did not start: " + self.stderr_path.read_text()) from None
        return Server("labsim", self.base + 143, self.base + 110, self.proc.pid)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

"""Mail directories the user cannot write or read: the same replies and log lines as Debian's
real Dovecot 2.3.19 (docs/dovecot-observed.md, "Mail directories that are root's").

Users (all `nobody` for both servers; the directories named are root's):
- mbroot: mbox:~/mail:INBOX=~/spool, ~/mail mode 755 holding folders
- mbinside: mbox:~/mail, INBOX inside it, ~/mail mode 755
- mdhidden: maildir:~/Maildir, all of it mode 700/600 (a restore run as root, `chmod -R go-rwx`)
- mdshown: maildir:~/Maildir, all of it mode 755/644 (readable, not writable)
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance.realdovecot import RealDovecot, require_real_dovecot
from tests.conformance.test_dovecot_conformance import (
    MBOX_FOLDER,
    MESSAGES,
    dialogue,
    free_port_block,
    ours_running,
)

NOBODY = 65534
USERS = {
    "mbroot": "mbox:~/mail:INBOX=~/spool",
    "mbinside": "mbox:~/mail",
    "mdhidden": "maildir:~/Maildir",
    "mdshown": "maildir:~/Maildir",
}
CONF = (
    "protocols = imap pop3\nssl = no\ndisable_plaintext_auth = no\nauth_failure_delay = 0\n"
    "mail_location = maildir:~/Maildir\nnamespace inbox {\n  inbox = yes\n}\n"
)


def seed(homes: Path) -> None:
    (homes / "mbroot" / "mail" / "Sub").mkdir(parents=True)
    (homes / "mbroot" / "mail" / "Projects").write_bytes(MBOX_FOLDER)
    (homes / "mbroot" / "spool").write_bytes(MBOX_FOLDER)
    (homes / "mbinside" / "mail").mkdir(parents=True)
    (homes / "mbinside" / "mail" / "Projects").write_bytes(MBOX_FOLDER)
    (homes / "mbinside" / "mail" / "inbox").write_bytes(MBOX_FOLDER)
    for user in ("mdhidden", "mdshown"):
        maildir = homes / user / "Maildir"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True)
            (maildir / ".Archive" / sub).mkdir(parents=True)
        for i, msg in enumerate(MESSAGES, 1):
            (maildir / "new" / f"170000000{i}.M{i}P1.host").write_bytes(msg)
    for dirpath, _dirs, files in os.walk(homes):
        for p in [dirpath, *(os.path.join(dirpath, f) for f in files)]:
            os.chown(p, NOBODY, NOBODY)
    for d in (homes / "mbroot" / "mail", homes / "mbinside" / "mail"):
        os.chown(d, 0, 0)
        os.chmod(d, 0o755)
    for user, dirs, files in (("mdhidden", 0o700, 0o600), ("mdshown", 0o755, 0o644)):
        for dirpath, _dirs, names in os.walk(homes / user / "Maildir"):
            os.chown(dirpath, 0, 0)
            os.chmod(dirpath, dirs)
            for name in names:
                os.chown(os.path.join(dirpath, name), 0, 0)
                os.chmod(os.path.join(dirpath, name), files)


def users_file(home_of: dict[str, str]) -> str:
    return "".join(
        f"{u}:{{PLAIN}}secret:{NOBODY}:{NOBODY}::{home_of[u]}::userdb_mail={loc}\n"
        for u, loc in USERS.items()
    )


@dataclass
class Peer:
    imap: int
    pop3: int
    log: Path
    root: str  # the host path that stands for / in its log lines ("" for the real one)


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[str, Peer]]:
    require_real_dovecot()
    work = Path(tempfile.mkdtemp(prefix="labsim-perm-conf-", dir="/tmp"))
    os.chmod(work, 0o755)
    real_dir, ours_root = work / "real", work / "ours"
    (real_dir / "home").mkdir(parents=True)
    seed(real_dir / "home")
    for d in (real_dir, real_dir / "home"):
        os.chmod(d, 0o755)
    (real_dir / "users").write_text(users_file({u: f"{real_dir}/home/{u}" for u in USERS}))
    base = free_port_block()
    auth = "".join(
        f"{db} {{{{\n  driver = passwd-file\n  args = {{0}}\n}}}}\n" for db in ("passdb", "userdb")
    )
    real = RealDovecot(real_dir, CONF + auth.format(real_dir / "users"), base + 143, base + 110)
    real.start()

    for d in ("etc/dovecot", "var/run/dovecot", "var/log", "home"):
        (ours_root / d).mkdir(parents=True)
    seed(ours_root / "home")
    # The names Dovecot prints beside euid/egid come from the lab's own user database.
    (ours_root / "etc/passwd").write_text(f"nobody:x:{NOBODY}:{NOBODY}::/nonexistent:/usr/sbin/nologin\n")
    (ours_root / "etc/group").write_text(f"nogroup:x:{NOBODY}:\n")
    (ours_root / "etc/dovecot/users").write_text(users_file({u: f"/home/{u}" for u in USERS}))
    (ours_root / "etc/dovecot/dovecot.conf").write_text(
        CONF + "listen = 127.0.0.1\nlog_path = /var/log/dovecot.log\n" + auth.format("/etc/dovecot/users")
    )
    ours_base = free_port_block(avoid=(base,))
    try:
        with ours_running(ours_root, ours_base):
            yield {
                "real": Peer(real.imap_port, real.pop3_port, real.log, str(real_dir)),
                "ours": Peer(ours_base + 143, ours_base + 110, ours_root / "var/log/dovecot.log", ""),
            }
    finally:
        real.stop()
        shutil.rmtree(work, ignore_errors=True)


def normalize_log(line: str, peer: Peer) -> str:
    line = re.sub(r"^\w{3} \d\d \d\d:\d\d:\d\d ", "", line)
    if peer.root:
        line = line.replace(peer.root, "")
    line = re.sub(r"<\d+><[^>]*>", "<pid><session>", line)
    line = re.sub(r"(mpid=\d+|session=<[^>]*>)", lambda m: m.group(1).split("=")[0] + "=<>", line)
    line = re.sub(r" in=\d+ out=\d+", " in=<n> out=<n>", line)  # CAPABILITY lengths differ
    line = re.sub(r"dovecot-uidvalidity\.[0-9a-f]+", "dovecot-uidvalidity.<n>", line)
    return line


class LogWatch:
    """The lines a peer's log gains while a dialogue runs."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.start = peer.log.stat().st_size if peer.log.exists() else 0

    def lines(self, until: str) -> list[str]:
        """Once `until` is logged and the log has been quiet for a moment (Dovecot's processes
        log on their own time), bounded at 10 s."""
        deadline = time.monotonic() + 10
        seen, quiet_since = "", time.monotonic()
        while True:
            with open(self.peer.log, "rb") as f:
                f.seek(self.start)
                text = f.read().decode()
            now = time.monotonic()
            if text != seen:
                seen, quiet_since = text, now
            if (until in text and now - quiet_since >= 0.3) or now > deadline:
                break
            time.sleep(0.05)
        return [normalize_log(x, self.peer) for x in text.splitlines()]


def by_process(lines: list[str]) -> dict[str, list[str]]:
    """Log lines per process (their prefix), in order: Dovecot's login and mail processes
    write at their own pace, so only each one's own order is fixed."""
    out: dict[str, list[str]] = {}
    for line in lines:
        out.setdefault(line.split(": ", 1)[0], []).append(line)
    return out


def pop3_until_closed(port: int, user: str) -> list[str]:
    """USER, PASS, then STAT and QUIT as long as the server keeps the connection."""
    out: list[str] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        f = sock.makefile("rb")
        out.append(f.readline().decode().rstrip("\r\n"))
        for line in (f"USER {user}", "PASS secret"):
            sock.sendall(line.encode() + b"\r\n")
            out.append(f.readline().decode().rstrip("\r\n"))
        # A failing mail process speaks (and hangs up) without being asked.
        sock.settimeout(1.0)
        try:
            while raw := f.readline():
                out.append(raw.decode().rstrip("\r\n"))
            return out  # closed by the server
        except TimeoutError:
            sock.settimeout(10)
            f = sock.makefile("rb")  # a timed-out file object reads no more; nothing was buffered
        for line in ("STAT", "QUIT"):
            sock.sendall(line.encode() + b"\r\n")
            out.append(f.readline().decode().rstrip("\r\n"))
    return out


def stamp(line: str) -> str:
    return re.sub(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]", "[<time>]", line)


IMAP = {
    # ~/mail is root's: no ~/mail/.imap, so no mailbox list index. LIST shows INBOX alone
    # (and says why in the log); refusals for want of permission are [NOPERM], unlogged.
    "mbox-mail-dir-root": (
        "mbroot",
        [
            'a LIST "" "*"',
            'b LIST "" "%"',
            'c LSUB "" "*"',
            'd LIST "" "*" RETURN (STATUS (MESSAGES))',
            "e STATUS Projects (MESSAGES)",
            "f SELECT Projects",
            "g EXAMINE Projects",
            "h STATUS INBOX (MESSAGES)",
            "i SELECT INBOX",
            "j CREATE NewOne",
            "k APPEND Projects {3+}\\r\\nx\\r\\n",
            "l DELETE Projects",
            "m RENAME Projects Done",
            "n SUBSCRIBE Projects",
        ],
    ),
    "mbox-inbox-inside-root-mail-dir": (
        "mbinside",
        ['a LIST "" "*"', "b SELECT INBOX", "c STATUS INBOX (MESSAGES)", "d CREATE X"],
    ),
    # The scenario dovecot-broken-permissions: a Maildir the user cannot enter.
    "maildir-root-700": (
        "mdhidden",
        [
            'a LIST "" "*"',
            "b SELECT INBOX",
            "c STATUS INBOX (MESSAGES)",
            "d SELECT Archive",
            "e STATUS Archive (MESSAGES)",
            "f CREATE New",
            'g LSUB "" "*"',
            "h SUBSCRIBE Archive",
            "i APPEND INBOX {3+}\\r\\nx\\r\\n",
        ],
    ),
}

# A Maildir the user may read but not write: read-only, only the messages its uidlist had
# (none here), one `* NO Internal mailbox synchronization failure` a session.
IMAP_READ_ONLY = {
    "maildir-root-755": (
        "mdshown",
        [
            "a SELECT INBOX",
            "b FETCH 1:* (FLAGS)",
            "c STATUS INBOX (MESSAGES)",
            "d SELECT Archive",
            "e EXAMINE INBOX",
            'f LIST "" "*"',
            "g CREATE New",
            'h LSUB "" "*"',
            "i SUBSCRIBE Archive",
        ],
    ),
    "maildir-root-755-status-first": ("mdshown", ["a STATUS INBOX (MESSAGES UIDNEXT UNSEEN)"]),
}


def run_imap(peer: Peer, user: str, lines: list[str]) -> tuple[list[str], list[str]]:
    watch = LogWatch(peer)
    client = dialogue(peer.imap, "imap", [f"x LOGIN {user} secret", *lines, "z LOGOUT"])
    return client, watch.lines(until="Disconnected")


@pytest.mark.parametrize("name", sorted(IMAP))
def test_imap_on_unusable_mail_dirs_as_real_dovecot(peers: dict[str, Peer], name: str) -> None:
    user, lines = IMAP[name]
    real = run_imap(peers["real"], user, lines)
    ours = run_imap(peers["ours"], user, lines)
    assert ours[0] == real[0]
    assert ours[1] == real[1]


@pytest.mark.parametrize("name", sorted(IMAP_READ_ONLY))
def test_imap_on_a_read_only_maildir_as_real_dovecot(peers: dict[str, Peer], name: str) -> None:
    user, lines = IMAP_READ_ONLY[name]
    real = run_imap(peers["real"], user, lines)
    ours = run_imap(peers["ours"], user, lines)
    assert ours[0] == real[0]
    # Dovecot logs each lock and index write it tries, many times over; the lab logs the
    # first two of them once for each open. Every line it logs is one Dovecot logs too.
    assert ours[1] and set(ours[1]) <= set(real[1])


@pytest.mark.parametrize("user", ["mbroot", "mbinside", "mdhidden", "mdshown"])
def test_pop3_on_unusable_mail_dirs_as_real_dovecot(peers: dict[str, Peer], user: str) -> None:
    got = {}
    for name, peer in peers.items():
        watch = LogWatch(peer)
        client = [stamp(x) for x in pop3_until_closed(peer.pop3, user)]
        got[name] = (client, watch.lines(until="Disconnected"))
    assert got["ours"][0] == got["real"][0]
    if user == "mdshown":
        assert set(got["ours"][1]) <= set(got["real"][1])
    else:
        assert by_process(got["ours"][1]) == by_process(got["real"][1])

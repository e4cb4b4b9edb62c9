"""The same configuration under Debian's Dovecot and under labsim-mailserver.

What a client observes must match, modulo the differences listed in
docs/conformance.md (timings, UIDVALIDITY values, session ids).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.conformance.realdovecot import (
    RealDovecot,
    free_port_block,
    give_to_nobody,
    require_real_dovecot,
    wait_for_port,
)

MESSAGES = [
    b"From: a@example.com\nTo: tester@example.com\nSubject: m1\n\nbody 1\n",
    b"From: b@example.com\nTo: tester@example.com\nSubject: m2\n\nbody two\nline 2\n",
    b"From: c@example.com\nTo: tester@example.com\nSubject: m3\n\n\n",
]

COMMON_CONF = (
    """\
protocols = imap pop3
ssl = no
disable_plaintext_auth = yes
mail_location = maildir:~/Maildir
auth_mechanisms = plain login cram-md5
auth_failure_delay = 0
"""
    + (
        # Debian's conf.d/10-mail.conf and 15-mailboxes.conf: the INBOX namespace with
        # its special-use mailboxes (they make Dovecot advertise SPECIAL-USE).
        "namespace inbox {\n  inbox = yes\n"
        + "".join(
            f'  mailbox "{name}" {{\n    special_use = \\{flag}\n  }}\n'
            for name, flag in (
                ("Drafts", "Drafts"),
                ("Junk", "Junk"),
                ("Trash", "Trash"),
                ("Sent", "Sent"),
                ("Sent Messages", "Sent"),
            )
        )
        + "}\n"
    )
)


def seed_maildir(home: Path) -> None:
    maildir = home / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i, msg in enumerate(MESSAGES, 1):
        (maildir / "new" / f"170000000{i}.M{i}P1.host").write_bytes(msg)


def seed_mbox_users(homes: Path) -> None:
    """carol: `mbox:~/mail` and an empty home (Dovecot makes ~/mail and the INBOX on first use).
    bob: mbox folders in a ~/mail that is root's, as a container made it from a setup file.
    dave: his own ~/mail, with a folder directory Sub that is root's."""
    (homes / "carol").mkdir()
    (homes / "dave" / "mail" / "Sub").mkdir(parents=True)
    (homes / "dave" / "mail" / "Sub" / "Old").write_bytes(MBOX_FOLDER)
    (homes / "bob" / "mail").mkdir(parents=True)
    (homes / "bob" / "mail" / "Projects").write_bytes(MBOX_FOLDER)
    (homes / "bob" / "spool").write_bytes(b"")


def mbox_users_lines(home_of: Callable[[str], str], uid: int, gid: int) -> str:
    return (
        f"carol:{{PLAIN}}secret:{uid}:{gid}::{home_of('carol')}::userdb_mail=mbox:~/mail\n"
        f"bob:{{PLAIN}}secret:{uid}:{gid}::{home_of('bob')}::userdb_mail=mbox:~/mail:INBOX=~/spool\n"
        f"dave:{{PLAIN}}secret:{uid}:{gid}::{home_of('dave')}::userdb_mail=mbox:~/mail\n"
    )


def give_mail_dir_to_root(homes: Path) -> None:
    for d in (homes / "bob" / "mail", homes / "dave" / "mail" / "Sub"):
        os.chown(d, 0, 0)
        os.chmod(d, 0o755)


MBOX_FOLDER = b"From a@example.com Mon Mar  4 09:15:00 2024\nSubject: plan\n\nthe plan\n\n"


# labsim-mailserver, but touching mail as the user the way it does in a container (and Dovecot
# does): under a lab root other than / it would keep root's rights and write anywhere. Codecs are
# imported first: this Python may live where the mail user cannot read (a venv under /root).
OURS_AS_THE_USER = """\
import asyncio, contextlib, importlib, pkgutil, sys
import encodings
for codec in pkgutil.iter_modules(encodings.__path__):
    with contextlib.suppress(Exception):
        importlib.import_module("encodings." + codec.name)
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.master import Master
root = LabRoot(sys.argv[1])
master = Master(root, DovecotLog(root), port_base=int(sys.argv[2]), drop_privileges=True)
sys.exit(asyncio.run(master.serve(master.load())))
"""


@contextlib.contextmanager
def ours_running(ours_root: Path, ours_base: int) -> Iterator[subprocess.Popen[bytes]]:
    """labsim-mailserver on the lab root `ours_root`, as the mail user, on ours_base + 110/143."""
    proc = subprocess.Popen(
        [sys.executable, "-c", OURS_AS_THE_USER, str(ours_root), str(ours_base)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_for_port(ours_base + 143, timeout=30)
        except TimeoutError:
            proc.kill()
            _, err = proc.communicate()
            raise RuntimeError(f"labsim-mailserver did not start: {err.decode()}") from None
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Peer:
    name: str
    imap: int
    pop3: int


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[str, Peer]]:
    require_real_dovecot()
    work = Path(tempfile.mkdtemp(prefix="labsim-conf-", dir="/tmp"))
    os.chmod(work, 0o755)
    real_dir = work / "real"
    real_home = real_dir / "home" / "tester"
    seed_maildir(real_home)
    seed_mbox_users(real_dir / "home")
    uid, gid = give_to_nobody(real_dir / "home")
    give_mail_dir_to_root(real_dir / "home")
    os.chmod(real_dir, 0o755)
    users = real_dir / "users"
    users.write_text(
        f"tester:{{PLAIN}}secret:{uid}:{gid}::{real_home}::\n"
        + mbox_users_lines(lambda name: str(real_dir / "home" / name), uid, gid)
    )
    real_base = free_port_block()
    real = RealDovecot(
        real_dir,
        COMMON_CONF
        + f"passdb {{\n  driver = passwd-file\n  args = {users}\n}}\n"
        + f"userdb {{\n  driver = passwd-file\n  args = {users}\n}}\n",
        imap_port=real_base + 143,
        pop3_port=real_base + 110,
    )
    real.start()

    ours_root = work / "ours"
    seed_maildir(ours_root / "home" / "tester")
    (ours_root / "etc" / "dovecot").mkdir(parents=True)
    (ours_root / "var" / "run" / "dovecot").mkdir(parents=True)
    (ours_root / "var" / "log").mkdir(parents=True)
    # The same unprivileged owner as the real daemon's mail: both refuse UID 0.
    seed_mbox_users(ours_root / "home")
    give_to_nobody(ours_root / "home")
    give_mail_dir_to_root(ours_root / "home")
    users_line = f"tester:{{PLAIN}}secret:{uid}:{gid}::/home/tester::\n" + mbox_users_lines(
        lambda name: f"/home/{name}", uid, gid
    )
    (ours_root / "etc" / "dovecot" / "users").write_text(users_line)
    (ours_root / "etc" / "dovecot" / "dovecot.conf").write_text(
        COMMON_CONF
        + "listen = 127.0.0.1\n"
        + "passdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
        + "userdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
    )
    ours_base = free_port_block(avoid=(real_base,))
    try:
        with ours_running(ours_root, ours_base):
            yield {
                "real": Peer("real", real.imap_port, real.pop3_port),
                "ours": Peer("ours", ours_base + 143, ours_base + 110),
            }
    finally:
        real.stop()
        shutil.rmtree(work, ignore_errors=True)


# Post-login capabilities of Dovecot 2.3.19 that labsim-mailserver does not
# implement (yet), so does not advertise: docs/conformance.md lists them.
NOT_ADVERTISED = frozenset(
    [
        "SORT",
        "SORT=DISPLAY",
        "THREAD=REFERENCES",
        "THREAD=REFS",
        "THREAD=ORDEREDSUBJECT",
        "MULTIAPPEND",
        "URL-PARTIAL",
        "CATENATE",
        "I18NLEVEL=1",
        "CONDSTORE",
        "QRESYNC",
        "ESEARCH",
        "ESORT",
        "SEARCHRES",
        "CONTEXT=SEARCH",
        "BINARY",
        "SNIPPET=FUZZY",
        "PREVIEW=FUZZY",
        "PREVIEW",
        "STATUS=SIZE",
        "SAVEDATE",
        "NOTIFY",
    ]
)


def drop_unadvertised(match: re.Match[str]) -> str:
    atoms = [a for a in match.group(2).split(" ") if a not in NOT_ADVERTISED]
    return match.group(1) + " ".join(atoms)


def normalize(text: str) -> str:
    text = re.sub(r"(CAPABILITY )([^\]]*)", drop_unadvertised, text)
    text = re.sub(r" \(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)\.", ".", text)
    text = re.sub(r"(UIDVALIDITY|APPENDUID|COPYUID) \d+", r"\1 <n>", text)
    text = re.sub(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]", "[<time>]", text)
    return text


POP3_MULTILINE = ("CAPA", "LIST", "UIDL", "TOP", "RETR", "AUTH")


def read_imap_reply(f: BinaryIO, command: str) -> list[str]:
    tag = command.split(" ", 1)[0]
    replies = []
    while True:
        raw = f.readline()
        reply = raw.decode().rstrip("\r\n")
        replies.append(reply)
        if not raw or reply.startswith(tag + " "):
            return replies
        if reply.startswith("* BYE") and not command.upper().endswith("LOGOUT"):
            return replies


def read_pop3_reply(f: BinaryIO, command: str) -> list[str]:
    words = command.split()
    first = f.readline().decode().rstrip("\r\n")
    multiline = words[0].upper() in POP3_MULTILINE and (
        len(words) == 1 or words[0].upper() in ("TOP", "RETR")
    )
    if not first.startswith("+OK") or not multiline:
        return [first]
    replies = [first]
    while True:
        raw = f.readline()
        reply = raw.decode().rstrip("\r\n")
        replies.append(reply)
        if not raw or reply == ".":
            return replies


def sort_listings(lines: list[str]) -> list[str]:
    """Mailboxes in a name order: Dovecot lists them in readdir() order, which
    depends on the file system, not on the server. A LIST-STATUS line stays with
    its LIST line."""
    out: list[str] = []
    run: list[list[str]] = []
    for line in [*lines, ""]:
        if line.startswith(("* LIST ", "* LSUB ")):
            run.append([line])
            continue
        if line.startswith("* STATUS ") and run:
            run[-1].append(line)
            continue
        for group in sorted(run):
            out.extend(group)
        run = []
        out.append(line)
    return out[:-1]


def dialogue(port: int, protocol: str, lines: list[str], source: str = "127.0.0.1") -> list[str]:
    """Send each line and collect its whole reply; the greeting comes first."""
    out: list[str] = []
    read = read_imap_reply if protocol == "imap" else read_pop3_reply
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as sock:
        f = sock.makefile("rb")
        out.append(f.readline().decode().rstrip("\r\n"))
        for line in lines:
            # A LITERAL+ command is written with its literal inline: "{8+}\r\nhi you\r\n".
            sock.sendall(line.encode().replace(b"\\r\\n", b"\r\n") + b"\r\n")
            out.append(f"C: {line}")
            out.extend(read(f, line))
    return sort_listings([normalize(x) for x in out])


IMAP_DIALOGUES = {
    "insecure-prelogin": (
        "127.0.0.2",
        ["a CAPABILITY", "b LOGIN tester secret", "c NOOP", "d SELECT INBOX", "e FOO", "f LOGOUT"],
    ),
    "secure-session": (
        "127.0.0.1",
        [
            "a LOGIN tester wrong",
            "b LOGIN tester secret",
            "c CAPABILITY",
            'd LIST "" "*"',
            "e EXAMINE INBOX",
            "f FETCH 1:* (UID FLAGS RFC822.SIZE)",
            "g SEARCH ALL",
            "h FOO",
            "i LOGOUT",
        ],
    ),
}

# LIST-EXTENDED, SPECIAL-USE, CHILDREN, LIST-STATUS, RENAME, SUBSCRIBE, and the
# UIDPLUS / MOVE / LITERAL+ replies on a mailbox the dialogue creates for itself.
IMAP_DIALOGUES["mailboxes"] = (
    "127.0.0.1",
    [
        "a LOGIN tester secret",
        "b CAPABILITY",
        "c CREATE Trash",
        "c2 CREATE Sent",
        "c3 CREATE Archive.2024",
        "c4 CREATE Drafts (USE (\\Drafts))",
        "c5 CREATE Projects",
        "s1 SUBSCRIBE Sent",
        "s2 SUBSCRIBE Archive.2024",
        "s3 SUBSCRIBE Gone",
        'l1 LIST "" "*"',
        'l2 LIST (SPECIAL-USE) "" "*"',
        'l3 LIST "" "*" RETURN (SPECIAL-USE)',
        'l4 LIST "" "%" RETURN (CHILDREN SPECIAL-USE)',
        'l5 LIST (SUBSCRIBED) "" "*"',
        'l6 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"',
        'l7 LIST "" "*" RETURN (SUBSCRIBED)',
        'l8 LIST "" ("Sent" "Trash")',
        'l9 LIST () "" "*" RETURN ()',
        'l10 LIST "" "*" RETURN (STATUS (UNSEEN MESSAGES) SPECIAL-USE)',
        'l11 LIST (SPECIAL-USE) "" "*" RETURN (CHILDREN)',
        'l12 LIST (RECURSIVEMATCH) "" "*"',
        'l13 LIST (FOO) "" "*"',
        'l14 LIST "" "*" RETURN (FOO)',
        'l15 LIST "" ""',
        'l16 LSUB "" "*"',
        'l16b LSUB "" "%"',
        'l16c LSUB "" "Arch%"',
        'l16d LIST (SUBSCRIBED) "" "%"',
        "n NAMESPACE",
        'i ID ("name" "labsim-test")',
        "r1 RENAME Trash Sent",
        "r2 RENAME Archive.2024 Archive.2024.x",
        "r3 RENAME Nope X",
        "r4 RENAME INBOX Old",
        'r5 RENAME Sent ""',
        "r6 RENAME Projects Bin",
        'l17 LIST "" "*"',
        "x1 APPEND Bin (\\Seen) {8+}\r\nhi you\r\n",
        "x2 APPEND Bin () {10+}\r\nSubject: 2",
        "x3 APPEND Bin {10+}\r\nSubject: 3",
        "x4 STATUS Bin (UNSEEN RECENT MESSAGES UIDNEXT)",
        "x5 SELECT Bin",
        "x6 UID STORE 1:2 +FLAGS (\\Deleted)",
        "x7 UID EXPUNGE 1",
        "x8 UID MOVE 2 Trash",
        "x9 COPY 1 Trash",
        "x10 MOVE 1 Nope",
        "x11 UID SEARCH ALL",
        "x12 EXAMINE Trash",
        "x13 FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
        "x14 DELETE Archive.2024",
        "x15 DELETE INBOX",
        "x16 DELETE inbox",
        "x17 DELETE Nope",
        "x18 RENAME Bin Bin",
        "x19 RENAME Nope Nope",
        "x20 CREATE INBOX",
        "x21 CREATE inbox.x",
        "x22 DELETE inbox.x",
        "x23 SELECT Nope",
        "x24 EXAMINE Nope",
        "x25 STATUS Nope (MESSAGES)",
        "x26 APPEND Nope {1+}\r\nx",
        "x27 SUBSCRIBE INBOX",
        "x28 UNSUBSCRIBE Nope",
        'x29 LSUB "" "*"',
        "x30 CREATE Sent",
        "y1 CREATE Sub.child",
        "y2 SUBSCRIBE Sub.child",
        "y3 RENAME Sub Moved",
        'y4 LSUB "" "*"',
        'y5 LIST "" "*"',
        "z LOGOUT",
    ],
)

# mbox:~/mail on an account that has never read mail: Dovecot makes ~/mail and an empty INBOX.
IMAP_DIALOGUES["mbox-first-login"] = (
    "127.0.0.1",
    ["a LOGIN carol secret", "b SELECT INBOX", 'c LIST "" "*"', "d STATUS INBOX (MESSAGES)", "z LOGOUT"],
)

# mbox folders in a ~/mail the user cannot write: [NOPERM] where Dovecot refuses for want of
# permission, an internal error where it cannot even lock the mailbox list (no ~/mail/.imap).
IMAP_DIALOGUES["mbox-mail-dir-not-writable"] = (
    "127.0.0.1",
    [
        "a LOGIN bob secret",
        "b SELECT INBOX",
        "c CREATE Archive",
        "d SUBSCRIBE Archive",
        "e SUBSCRIBE Projects",
        "f UNSUBSCRIBE Projects",
        "g DELETE Projects",
        "h RENAME Projects Done",
        "i STATUS Projects (MESSAGES)",
        "z LOGOUT",
    ],
)

# The user's own ~/mail, with one folder directory that is root's: [NOPERM] inside it only.
IMAP_DIALOGUES["mbox-folder-dir-not-writable"] = (
    "127.0.0.1",
    [
        "a LOGIN dave secret",
        "b CREATE Sub/New",
        "c DELETE Sub/Old",
        "d RENAME Sub/Old Kept",
        "e CREATE Archive",
        "f SUBSCRIBE Archive",
        "g UNSUBSCRIBE Archive",
        "h STATUS Sub/Old (MESSAGES)",
        'i LIST "" "*"',
        "z LOGOUT",
    ],
)

# SEARCH keys with dates (RFC 3501) and WITHIN (RFC 5032) on the seeded INBOX,
# whose messages have no Date: field and arrived just now.
IMAP_DIALOGUES["search"] = (
    "127.0.0.1",
    [
        "a LOGIN tester secret",
        "b EXAMINE INBOX",
        *(
            f"s{i} SEARCH {keys}"
            for i, keys in enumerate(
                [
                    "SINCE 1-Jan-2020",
                    "BEFORE 1-Jan-2020",
                    "ON 1-Jan-2020",
                    "SENTSINCE 1-Jan-2020",
                    "SENTBEFORE 1-Jan-2020",
                    "SENTON 1-Jan-1970",
                    "YOUNGER 3600",
                    "OLDER 3600",
                    "SINCE 1-Foo-2020",
                    'SINCE "1-Jan-2020"',
                    "YOUNGER x",
                    "SINCE 32-Jan-2020",
                    "OR SEEN SINCE 1-Jan-2000",
                    "NOT BEFORE 01-Jan-2020 UID 1:*",
                    "LARGER 20 SMALLER 60 NOT DELETED",
                    'SUBJECT m2 FROM "b@example.com"',
                    'HEADER To tester BODY "line 2"',
                    "TEXT body NOT KEYWORD $Junk",
                    "NEW OLD RECENT",
                    "UNSEEN UNANSWERED UNFLAGGED UNDRAFT UNDELETED",
                    "CHARSET UTF-8 TEXT body",
                    "CHARSET KOI8-R TEXT body",
                    "CHARSET X-NO-SUCH TEXT body",
                    "1:2 (2:3)",
                    "FOO",
                ]
            )
        ),
        "u UID SEARCH ALL",
        "z LOGOUT",
    ],
)

POP3_DIALOGUES = {
    "insecure-prelogin": ("127.0.0.2", ["CAPA", "USER tester", "STAT", "QUIT"]),
    "secure-session": (
        "127.0.0.1",
        [
            "CAPA",
            "USER tester",
            "PASS wrong",
            "USER tester",
            "PASS secret",
            "CAPA",
            "STAT",
            "LIST",
            "LIST 9",
            "TOP 2 0",
            "FOO",
            "QUIT",
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(IMAP_DIALOGUES))
def test_imap_dialogue_matches_real_dovecot(peers: dict[str, Peer], name: str) -> None:
    source, lines = IMAP_DIALOGUES[name]
    real = dialogue(peers["real"].imap, "imap", lines, source)
    ours = dialogue(peers["ours"].imap, "imap", lines, source)
    assert ours == real


@pytest.mark.parametrize("name", sorted(POP3_DIALOGUES))
def test_pop3_dialogue_matches_real_dovecot(peers: dict[str, Peer], name: str) -> None:
    source, lines = POP3_DIALOGUES[name]
    real = dialogue(peers["real"].pop3, "pop3", lines, source)
    ours = dialogue(peers["ours"].pop3, "pop3", lines, source)
    assert ours == real


def uidl_shape(port: int) -> list[str]:
    lines = dialogue(port, "pop3", ["USER tester", "PASS secret", "UIDL", "QUIT"])
    start = lines.index("C: UIDL") + 2
    return lines[start : lines.index(".", start)]


def test_uidl_values_follow_the_same_format(peers: dict[str, Peer]) -> None:
    for peer in peers.values():
        for n, entry in enumerate(uidl_shape(peer.pop3), 1):
            msg, uidl = entry.split(" ")
            assert msg == str(n)
            assert re.fullmatch(rf"{n:08x}[0-9a-f]{{8}}", uidl), (peer.name, entry)

"""Conformance: real Dovecot 2.3 and our storage read each other's files the same way.

Runs Debian's Dovecot imap program in pre-authenticated mode on stdin/stdout;
skipped where Dovecot is not installed (failed on CI, which installs it).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.location import open_storage
from tests.conformance.realdovecot import LIBEXEC, libexec_dir, require_real_dovecot
from tests.labroot_builder import sample_message

IMAP = Path(libexec_dir() or LIBEXEC) / "imap"


@pytest.fixture(autouse=True)
def _real_dovecot() -> None:
    require_real_dovecot()  # a skip here, a failure on CI (LABSIM_REQUIRE_DOCKER=1)


@pytest.fixture
def world() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="labsim-dovecot-"))
    os.chmod(base, 0o777)
    for d in ("run", "home/alice", "var/mail"):
        (base / d).mkdir(parents=True)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _open_up(base: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(base):
        os.chmod(dirpath, 0o777)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o666)


def dovecot_imap(base: Path, location: str, commands: list[str]) -> str:
    _open_up(base)
    conf = base / "dovecot.conf"
    conf.write_text(
        f"base_dir = {base}/run\nstate_dir = {base}/run\nlog_path = /dev/stderr\nssl = no\n"
        "mail_fsync = never\n"
    )
    if os.geteuid() == 0:
        ids = ["-o", "mail_uid=nobody", "-o", "mail_gid=nogroup"]
    else:
        me = pwd.getpwuid(os.getuid()).pw_name
        ids = ["-o", f"mail_uid={me}"]
    script = "".join(f"a{i} {c}\r\n" for i, c in enumerate(commands)) + "z LOGOUT\r\n"
    out = subprocess.run(
        [str(IMAP), "-c", str(conf), *ids, "-o", f"mail_location={location}"],
        input=script.encode(),
        env={"USER": "alice", "HOME": f"{base}/home/alice", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=30,
        check=False,
    )
    text = out.stdout.decode("utf-8", "replace")
    assert "Fatal" not in out.stderr.decode(), out.stderr.decode()
    return text


def ours(base: Path, location: str):  # type: ignore[no-untyped-def]
    root = LabRoot(base)
    user = UserInfo("alice", os.getuid(), os.getgid(), "/home/alice")
    return open_storage(root, location, user, DovecotLog(root, stderr=None), DovecotSettings())


def fetch_lines(text: str) -> list[str]:
    return re.findall(r"^\* \d+ FETCH \(.*\)$", text.replace("\r", ""), re.M)


def test_dovecot_reads_our_maildir(world: Path) -> None:
    base = world / "home/alice/Maildir"
    for sub in ("cur", "new", "tmp"):
        (base / sub).mkdir(parents=True)
    for i in range(3):
        (base / "new" / f"1700000000.M{i}P1.labsim").write_bytes(sample_message(i + 1))
    storage = ours(world, "maildir:~/Maildir")
    box = storage.open("INBOX")
    box.set_flags(box.messages[0], {"\\Seen", "\\Answered"})
    box.set_flags(box.messages[2], {"\\Flagged", "$Label1"})
    box.expunge([2])
    assert box.append(b"Subject: appended\r\n\r\nhi\r\n", {"\\Draft"}) == 4
    box.sync()
    storage.create("Archive.2024")
    text = dovecot_imap(
        world,
        f"maildir:{base}",
        ["SELECT INBOX", "FETCH 1:* (UID FLAGS RFC822.SIZE)", 'LIST "" "*"'],
    )
    assert f"* OK [UIDVALIDITY {box.uidvalidity}] UIDs valid" in text
    assert "* OK [UIDNEXT 5] Predicted next UID" in text
    size1, size3, size4 = (m.size for m in box.messages)
    assert fetch_lines(text) == [
        f"* 1 FETCH (UID 1 FLAGS (\\Answered \\Seen) RFC822.SIZE {size1})",
        f"* 2 FETCH (UID 3 FLAGS (\\Flagged $Label1) RFC822.SIZE {size3})",
        f"* 3 FETCH (UID 4 FLAGS (\\Draft) RFC822.SIZE {size4})",
    ]
    assert '* LIST (\\HasChildren) "." Archive' not in text  # .Archive itself does not exist
    assert '* LIST (\\HasNoChildren) "." Archive.2024' in text


def test_we_read_dovecots_maildir(world: Path) -> None:
    base = world / "home/alice/Maildir"
    (base / "new").mkdir(parents=True)
    for i in range(3):
        (base / "new" / f"1700000000.M{i}P1.host").write_bytes(sample_message(i + 1))
    # One session per step: piped commands are not all finished before stdin ends.
    location = f"maildir:{base}"
    dovecot_imap(
        world,
        location,
        ["SELECT INBOX", "STORE 2 +FLAGS (\\Seen \\Draft Work)", "STORE 3 +FLAGS (\\Deleted)"],
    )
    dovecot_imap(world, location, ["SELECT INBOX", "EXPUNGE"])
    dovecot_imap(world, location, ["CREATE Archive", "SUBSCRIBE Archive"])
    text = dovecot_imap(world, location, ["SELECT INBOX", "FETCH 1:* (UID RFC822.SIZE)"])
    uidvalidity = int(re.search(r"UIDVALIDITY (\d+)", text).group(1))  # type: ignore[union-attr]
    storage = ours(world, "maildir:~/Maildir")
    box = storage.open("INBOX")
    assert box.uidvalidity == uidvalidity
    assert [(m.uid, m.flags, m.recent) for m in box.messages] == [
        (1, set(), False),
        (2, {"\\Seen", "\\Draft", "Work"}, False),
    ]
    sizes = [int(s) for s in re.findall(r"RFC822.SIZE (\d+)", text)]
    assert [m.size for m in box.messages] == sizes
    assert [i.name for i in storage.list_subscribed()] == ["Archive"]
    assert [i.name for i in storage.list()] == ["INBOX", "Archive"]


def test_dovecot_reads_our_mbox(world: Path) -> None:
    spool = world / "var/mail/alice"
    spool.write_bytes(
        b"".join(
            b"From sender@example.com Tue Nov 14 22:13:20 2023\n" + sample_message(i) + b"\n"
            for i in (1, 2, 3)
        )
    )
    storage = ours(world, "mbox:~/mail:INBOX=/var/mail/alice")
    box = storage.open("INBOX")
    box.set_flags(box.messages[1], {"\\Seen", "\\Flagged", "Work"})
    box.expunge([1])
    assert box.append(b"Subject: appended\r\n\r\nFrom me\r\n") == 4
    box.sync()
    text = dovecot_imap(
        world,
        f"mbox:{world}/home/alice/mail:INBOX={spool}",
        ["SELECT INBOX", "FETCH 1:* (UID FLAGS RFC822.SIZE)", "FETCH 3 BODY.PEEK[TEXT]"],
    )
    assert f"* OK [UIDVALIDITY {box.uidvalidity}] UIDs valid" in text
    assert "* 0 RECENT" in text
    assert "* OK [UIDNEXT 5] Predicted next UID" in text
    assert fetch_lines(text) == [
        f"* 1 FETCH (UID 2 FLAGS (\\Flagged \\Seen Work) RFC822.SIZE {box.messages[0].size})",
        f"* 2 FETCH (UID 3 FLAGS () RFC822.SIZE {box.messages[1].size})",
        f"* 3 FETCH (UID 4 FLAGS () RFC822.SIZE {box.messages[2].size})",
    ]
    assert "* 3 FETCH (BODY[TEXT] {10}\r\n>From me\r\n)" in text


def test_we_read_dovecots_mbox(world: Path) -> None:
    spool = world / "var/mail/alice"
    spool.write_bytes(
        b"".join(
            b"From sender@example.com Tue Nov 14 22:13:20 2023\n" + sample_message(i) + b"\n"
            for i in (1, 2, 3)
        )
    )
    location = f"mbox:{world}/home/alice/mail:INBOX={spool}"
    dovecot_imap(
        world, location, ["SELECT INBOX", "STORE 1 +FLAGS (\\Answered $Label1)", "STORE 2 +FLAGS (\\Deleted)"]
    )
    dovecot_imap(world, location, ["SELECT INBOX", "EXPUNGE"])
    text = dovecot_imap(world, location, ["SELECT INBOX", "FETCH 1:* (UID RFC822.SIZE)"])
    uidvalidity = int(re.search(r"UIDVALIDITY (\d+)", text).group(1))  # type: ignore[union-attr]
    box = ours(world, "mbox:~/mail:INBOX=/var/mail/alice").open("INBOX")
    assert box.uidvalidity == uidvalidity
    # \Recent is not compared: Dovecot keeps it in its index and writes `Status: O` lazily.
    assert [(m.uid, m.flags) for m in box.messages] == [(1, {"\\Answered", "$Label1"}), (3, set())]
    sizes = [int(s) for s in re.findall(r"RFC822.SIZE (\d+)", text)]
    assert [m.size for m in box.messages] == sizes

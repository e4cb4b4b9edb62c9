"""Mail directories that are root's, as the storage reports them (Dovecot 2.3.19's behaviour,
tests/conformance/test_dovecot_mail_permissions.py compares it with the real server).

Permissions mean nothing to root, so the storage code runs in a child process as `nobody`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.test_permissions import NOBODY, run_as_user

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give mail directories to root")

SNIPPET = """
import json, sys
from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import StorageError
from labsim.mailserver.storage.location import open_storage
root = LabRoot(sys.argv[1])
user = UserInfo("alice", 65534, 65534, "/home/alice")
storage = open_storage(root, sys.argv[2], user, DovecotLog(root, stderr=None), DovecotSettings())
out = {"list_index_errors": storage.list_index_errors()}
for what, call in (
    ("inbox", lambda: storage.open("INBOX")),
    ("inbox_again", lambda: storage.open("INBOX")),
    ("create", lambda: storage.create("New")),
):
    try:
        box = call()
    except StorageError as exc:
        out[what] = [type(exc).__name__, str(exc)]
        continue
    if box is None:
        out[what] = "ok"
        continue
    out[what] = {
        "readonly": box.readonly,
        "uids": [m.uid for m in box.messages],
        "notices": storage.take_notices(),
        "errors": storage.take_log_errors(),
    }
print(json.dumps(out))
"""

MSG = b"From: a@example.com\nSubject: hi\n\nbody\n"


def as_nobody(lab: Path, location: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(run_as_user(lab, location, SNIPPET))
    return result


@pytest.fixture
def home() -> Iterator[Path]:
    # Not under pytest's private tmp dir: the unprivileged child must reach it.
    base = Path(tempfile.mkdtemp(prefix="labsim-unusable-"))
    os.chmod(base, 0o755)
    home = base / "home" / "alice"
    home.mkdir(parents=True)
    os.chmod(base / "home", 0o755)
    os.chown(home, NOBODY, NOBODY)
    try:
        yield home
    finally:
        shutil.rmtree(base, ignore_errors=True)


def give_to_root(top: Path, dir_mode: int, file_mode: int) -> None:
    for dirpath, _dirs, files in os.walk(top):
        os.chown(dirpath, 0, 0)
        os.chmod(dirpath, dir_mode)
        for name in files:
            os.chown(os.path.join(dirpath, name), 0, 0)
            os.chmod(os.path.join(dirpath, name), file_mode)


def make_maildir(home: Path, uidlist: bytes | None = None) -> Path:
    maildir = home / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1700000001.M1P1.host:2,S").write_bytes(MSG)
    (maildir / "new" / "1700000002.M2P1.host").write_bytes(MSG)
    if uidlist is not None:
        (maildir / "dovecot-uidlist").write_bytes(uidlist)
    return maildir


def test_a_mbox_mail_dir_that_is_roots_has_no_list_index(home: Path) -> None:
    mail = home / "mail"
    mail.mkdir()
    (mail / "Projects").write_bytes(b"")
    (home / "spool").write_bytes(b"")
    os.chown(home / "spool", NOBODY, NOBODY)
    give_to_root(mail, 0o755, 0o644)
    got = as_nobody(home.parents[1], "mbox:~/mail:INBOX=~/spool")
    line = (
        "mkdir(/home/alice/mail/.imap) failed: Permission denied "
        "(euid=65534 egid=65534 missing +w perm: /home/alice/mail, dir owned by 0:0 mode=0755)"
    )
    assert got["list_index_errors"] == [line]
    assert got["inbox"] == ["MailboxNoPermission", line]
    assert got["create"] == ["StorageError", line]


def test_a_maildir_the_user_cannot_enter(home: Path) -> None:
    give_to_root(make_maildir(home), 0o700, 0o600)
    got = as_nobody(home.parents[1], "maildir:~/Maildir")
    ids = "euid=65534 egid=65534"
    assert got["list_index_errors"] == [
        "open(/home/alice/Maildir/dovecot.list.index.log) failed: Permission denied "
        f"({ids} missing +x perm: /home/alice/Maildir, dir owned by 0:0 mode=0700)",
        "opendir(/home/alice/Maildir) failed: Permission denied "
        f"({ids} missing +r perm: /home/alice/Maildir)",
    ]
    # An internal error, not a refusal: IMAP answers [SERVERBUG], POP3 [SYS/TEMP].
    assert got["inbox"] == [
        "StorageError",
        "stat(/home/alice/Maildir/tmp) failed: Permission denied "
        f"({ids} missing +x perm: /home/alice/Maildir, dir owned by 0:0 mode=0700)",
    ]
    lock = "/home/alice/Maildir/mailboxes.lock"
    assert got["create"] == [
        "StorageError",
        f"Couldn't create mailbox list lock {lock}: file_create_locked({lock}) failed: "
        f"open({lock}) failed: Permission denied",
    ]


def test_a_maildir_the_user_may_read_but_not_write_shows_only_old_mail(home: Path) -> None:
    # The uidlist a backup restored knows the first message only.
    uidlist = b"3 V1700000000 N2 G0123456789abcdef0123456789abcdef\n1 :1700000001.M1P1.host\n"
    give_to_root(make_maildir(home, uidlist), 0o755, 0o644)
    got = as_nobody(home.parents[1], "maildir:~/Maildir")
    assert got["list_index_errors"] == []
    first = got["inbox"]
    assert isinstance(first, dict)
    assert first["readonly"] is True
    assert first["uids"] == [1]
    assert first["notices"] == ["Internal mailbox synchronization failure, showing only old mails."]
    assert [e.split(" failed:")[0] for e in first["errors"]] == [
        "Mailbox INBOX: file_dotlock_open(/home/alice/Maildir/dovecot.index.log)",
        "Mailbox INBOX: file_dotlock_create(/home/alice/Maildir/dovecot-uidlist)",
    ]
    again = got["inbox_again"]
    assert isinstance(again, dict)
    assert again["uids"] == [1] and again["notices"] == []  # told once a session
    lock = "/home/alice/Maildir/mailboxes.lock"
    assert got["create"] == [
        "StorageError",
        f"Couldn't create mailbox list lock {lock}: file_create_locked({lock}) failed: "
        f"safe_mkstemp({lock}) failed: Permission denied",
    ]

"""EACCES is reported the way Dovecot logs it. Permissions mean nothing to root,
so as root the storage code runs in a child process as `nobody`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534

SNIPPET = """
import sys
from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.config.model import DovecotSettings
from labsim.mailserver.labroot import LabRoot
from labsim.mailserver.log import DovecotLog
from labsim.mailserver.storage.base import StorageError
from labsim.mailserver.storage.location import open_storage
root = LabRoot(sys.argv[1])
user = UserInfo("alice", 1000, 1000, "/home/alice")
try:
    open_storage(root, sys.argv[2], user, DovecotLog(root, stderr=None), DovecotSettings()).open("INBOX")
except StorageError as exc:
    print(type(exc).__name__, exc)
else:
    print("no error")
"""


def _python() -> str:
    if os.geteuid() != 0:
        return sys.executable
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(cand):
            return cand
    pytest.skip("no system python for an unprivileged child")


def run_as_user(lab: Path, location: str, snippet: str = SNIPPET) -> str:
    """`snippet` run with the lab and the location as arguments, as `nobody` when we are root: its output."""

    def demote() -> None:
        if os.geteuid() == 0:
            os.setgid(NOBODY)
            os.setuid(NOBODY)

    out = subprocess.run(
        [_python(), "-c", snippet, str(lab), location],
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        cwd="/",
        preexec_fn=demote,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def open_lab() -> Iterator[Path]:
    # Not under pytest's private tmp dir: the unprivileged child must reach it.
    base = Path(tempfile.mkdtemp(prefix="labsim-perm-"))
    os.chmod(base, 0o755)
    (base / "home" / "alice").mkdir(parents=True)
    for p in (base / "home", base / "home" / "alice"):
        os.chmod(p, 0o755)
    if os.geteuid() == 0:
        for p in (base / "home" / "alice",):
            os.chown(p, NOBODY, NOBODY)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_missing_x_perm_on_home(open_lab: Path) -> None:
    home = open_lab / "home" / "alice"
    (home / "Maildir" / "cur").mkdir(parents=True)
    os.chmod(home, 0o600)
    if os.geteuid() == 0:
        os.chown(home, 0, 0)
    msg = run_as_user(open_lab, "maildir:~/Maildir")
    owner = "0:0" if os.geteuid() == 0 else f"{os.getuid()}:{os.getgid()}"
    assert msg.startswith("StoragePermissionError stat(/home/alice/Maildir) failed: Permission denied (euid=")
    assert msg.endswith(f"missing +x perm: /home/alice, dir owned by {owner} mode=0600)")


def test_missing_w_perm_for_mkdir(open_lab: Path) -> None:
    home = open_lab / "home" / "alice"
    os.chmod(home, 0o555)
    msg = run_as_user(open_lab, "maildir:~/Maildir")
    assert msg.startswith(
        "StoragePermissionError mkdir(/home/alice/Maildir) failed: Permission denied (euid="
    )
    assert "missing +w perm: /home/alice, dir owned by" in msg
    assert msg.endswith("mode=0555)")


def test_unreadable_mbox_inbox(open_lab: Path) -> None:
    spool = open_lab / "var" / "mail"
    spool.mkdir(parents=True)
    os.chmod(open_lab / "var", 0o755)
    os.chmod(spool, 0o1777)
    inbox = spool / "alice"
    inbox.write_bytes(b"From a@b Tue Nov 14 22:13:20 2023\nSubject: x\n\nhi\n")
    os.chmod(inbox, 0o600)
    if os.geteuid() != 0:
        os.chmod(inbox, 0o000)
    msg = run_as_user(open_lab, "mbox:~/mail:INBOX=/var/mail/alice")
    assert msg.startswith(
        "StoragePermissionError Mailbox INBOX: open(/var/mail/alice) failed: Permission denied (euid="
    )
    assert msg.endswith("missing +r perm: /var/mail/alice, dir owned by 0:0 mode=0600)") or os.geteuid() != 0


def test_happy_path_as_user(open_lab: Path) -> None:
    assert run_as_user(open_lab, "maildir:~/Maildir") == "no error"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand /var/mail to the mail group")
def test_var_mail_dotlock_names_mail_privileged_group(open_lab: Path) -> None:
    import grp

    mail_gid = grp.getgrnam("mail").gr_gid
    # The names in the message come from the lab's own user database.
    (open_lab / "etc").mkdir(exist_ok=True)
    (open_lab / "etc/passwd").write_text(f"nobody:x:{NOBODY}:{NOBODY}::/nonexistent:/usr/sbin/nologin\n")
    (open_lab / "etc/group").write_text(f"mail:x:{mail_gid}:\nnogroup:x:{NOBODY}:\n")
    spool = open_lab / "var" / "mail"
    spool.mkdir(parents=True)
    os.chmod(open_lab / "var", 0o755)
    os.chown(spool, 0, mail_gid)
    os.chmod(spool, 0o775)
    inbox = spool / "alice"
    inbox.write_bytes(b"From a@b Tue Nov 14 22:13:20 2023\nSubject: x\n\nhi\n")
    os.chown(inbox, NOBODY, NOBODY)
    os.chmod(inbox, 0o600)
    msg = run_as_user(open_lab, "mbox:~/mail:INBOX=/var/mail/alice")
    assert msg == (
        "StoragePermissionError Mailbox INBOX: file_dotlock_create(/var/mail/alice) failed: "
        "Permission denied (euid=65534(nobody) egid=65534(nogroup) missing +w perm: /var/mail, "
        f"we're not in group {mail_gid}(mail), dir owned by 0:{mail_gid} mode=0775) "
        "(set mail_privileged_group=mail)"
    )


def test_an_inbox_that_cannot_be_made_is_an_internal_error(open_lab: Path) -> None:
    """Not a permission refusal: Dovecot logs `Failed to autocreate mailbox` and answers
    SELECT with [SERVERBUG] (2.3.19, a spool the user may not write)."""
    spool = open_lab / "var" / "mail"
    spool.mkdir(parents=True)
    os.chmod(open_lab / "var", 0o755)
    os.chmod(spool, 0o555)
    msg = run_as_user(open_lab, "mbox:~/mail:INBOX=/var/mail/alice")
    assert msg.startswith(
        "StorageError Mailbox INBOX: Failed to autocreate mailbox: Mailbox INBOX: "
        "open(/var/mail/alice) failed: Permission denied (euid="
    ), msg
    assert msg.endswith("missing +w perm: /var/mail, dir owned by 0:0 mode=0555)") or os.geteuid() != 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give ~/mail to root")
def test_a_mail_dir_that_is_roots_refuses_with_noperm(open_lab: Path) -> None:
    """~/mail owned by root (a container's setup once made it so): the index directory
    ~/mail/.imap cannot be made, and Dovecot answers [NOPERM] Permission denied."""
    mail = open_lab / "home" / "alice" / "mail"
    mail.mkdir()
    os.chmod(mail, 0o755)
    spool = open_lab / "var" / "mail"
    spool.mkdir(parents=True)
    os.chmod(open_lab / "var", 0o755)
    os.chmod(spool, 0o1777)
    (spool / "alice").write_bytes(b"")
    os.chown(spool / "alice", NOBODY, NOBODY)
    msg = run_as_user(open_lab, "mbox:~/mail:INBOX=/var/mail/alice")
    assert msg == (
        "MailboxNoPermission mkdir(/home/alice/mail/.imap) failed: Permission denied "
        "(euid=65534 egid=65534 missing +w perm: /home/alice/mail, dir owned by 0:0 mode=0755)"
    )

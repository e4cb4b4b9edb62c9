from __future__ import annotations

from collections.abc import Callable

import pytest

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.storage.base import MailStorage, StorageError
from labsim.mailserver.storage.location import MailLocation, autodetect, expand_vars, parse_location
from labsim.mailserver.storage.maildir import MaildirStorage
from labsim.mailserver.storage.mbox import MboxStorage
from tests.labroot_builder import LabBuilder

BOB = UserInfo("bob@example.org", 1001, 1001, "/home/bob")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%u", "bob@example.org"),
        ("%n", "bob"),
        ("%d", "example.org"),
        ("%h", "/home/bob"),
        ("%%u", "%u"),
        ("%{user}/%{username}/%{domain}/%{home}", "bob@example.org/bob/example.org//home/bob"),
        ("/var/mail/%Un", "/var/mail/BOB"),
        ("/var/vmail/%d/%n", "/var/vmail/example.org/bob"),
        ("%x stays", "%x stays"),
        ("trailing %", "trailing %"),
    ],
)
def test_expand_vars(text: str, expected: str) -> None:
    assert expand_vars(text, BOB) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("maildir:~/Maildir", MailLocation("maildir", "/home/bob/Maildir")),
        (
            "maildir:~/Maildir:LAYOUT=fs",
            MailLocation("maildir", "/home/bob/Maildir", layout="fs"),
        ),
        (
            "mbox:~/mail:INBOX=/var/mail/%u",
            MailLocation("mbox", "/home/bob/mail", inbox="/var/mail/bob@example.org"),
        ),
        (
            "mbox:~/mail:INBOX=/var/spool/mail/%n:INDEX=/var/indexes/%n:CONTROL=~/mail/control",
            MailLocation(
                "mbox",
                "/home/bob/mail",
                inbox="/var/spool/mail/bob",
                index="/var/indexes/bob",
                control="/home/bob/mail/control",
            ),
        ),
        ("maildir:/var/vmail/%d/%n", MailLocation("maildir", "/var/vmail/example.org/bob")),
        ("MailDir:%h/Maildir", MailLocation("maildir", "/home/bob/Maildir")),
        ("maildir:~/Mail::dir", MailLocation("maildir", "/home/bob/Mail:dir")),
        ("~/Maildir", MailLocation("maildir", "/home/bob/Maildir")),
        (
            "maildir:~/Maildir:INDEX=MEMORY:UTF-8",
            MailLocation("maildir", "/home/bob/Maildir", index="MEMORY", options={"UTF-8": ""}),
        ),
    ],
)
def test_parse_location(text: str, expected: MailLocation) -> None:
    assert parse_location(text, BOB) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sdbox:~/dbox", "Mail storage driver sdbox is not available in this lab (use maildir or mbox)"),
        ("bogus:~/x", "Unknown mail storage driver bogus"),
        ("maildir:~/Maildir:LAYOUT=weird", "Unknown mailbox list layout: weird"),
        ("maildir:Maildir", "Relative mail root paths are not supported: Maildir"),
    ],
)
def test_parse_location_errors(text: str, message: str) -> None:
    with pytest.raises(StorageError) as info:
        parse_location(text, BOB)
    assert str(info.value) == message


def test_tilde_without_home() -> None:
    with pytest.raises(StorageError) as info:
        parse_location("maildir:~/Maildir", UserInfo("nobody", 65534, 65534, ""))
    assert str(info.value) == "Home directory not set for user. Can't expand ~/ for mail root dir"


def test_autodetect_maildir(lab: LabBuilder, alice: UserInfo) -> None:
    lab.maildir(alice.home, [])
    lab.mbox("/var/mail/alice", [])  # Maildir wins: it is looked for first
    assert autodetect(lab.root, alice) == MailLocation("maildir", "/home/alice/Maildir", autodetected=True)


def test_autodetect_mbox_root_with_var_mail_inbox(lab: LabBuilder, alice: UserInfo) -> None:
    lab.mbox("/var/mail/alice", [b"Subject: x\n\nhi\n"])
    lab.root.path("/home/alice/mail/.imap").mkdir(parents=True)
    assert autodetect(lab.root, alice) == MailLocation(
        "mbox", "/home/alice/mail", inbox="/var/mail/alice", autodetected=True
    )


def test_autodetect_var_mail_alone_is_not_enough(lab: LabBuilder, alice: UserInfo) -> None:
    # As Dovecot 2.3.19: without an mbox root dir in the home, autodetection fails.
    lab.mbox("/var/mail/alice", [b"Subject: x\n\nhi\n"])
    lab.root.path("/home/alice/mail").mkdir()  # empty: holds no .imap/, inbox or mbox
    with pytest.raises(StorageError):
        autodetect(lab.root, alice)


def test_autodetect_var_spool_mail_and_capital_mail(lab: LabBuilder, alice: UserInfo) -> None:
    lab.mbox("/var/spool/mail/alice", [])
    lab.write("/home/alice/Mail/mbox", b"")
    notes: list[str] = []
    assert autodetect(lab.root, alice, notes) == MailLocation(
        "mbox", "/home/alice/Mail", inbox="/var/spool/mail/alice", autodetected=True
    )
    assert notes == [
        "maildir autodetect: stat(/home/alice/Maildir/cur) failed: No such file or directory",
        "maildir: couldn't find root dir",
        "mbox autodetect: has .imap/: stat(/home/alice/mail/.imap) failed: No such file or directory",
        "mbox autodetect: has inbox: stat(/home/alice/mail/inbox) failed: No such file or directory",
        "mbox autodetect: has mbox: stat(/home/alice/mail/mbox) failed: No such file or directory",
        "mbox autodetect: has .imap/: stat(/home/alice/Mail/.imap) failed: No such file or directory",
        "mbox autodetect: has inbox: stat(/home/alice/Mail/inbox) failed: No such file or directory",
        "mbox autodetect: has mbox: yes (/home/alice/Mail/mbox)",
        "mbox: INBOX exists (/var/spool/mail/alice)",
    ]


def test_autodetect_home_mail_inbox(lab: LabBuilder, alice: UserInfo) -> None:
    lab.write("/home/alice/mail/inbox", b"")
    assert autodetect(lab.root, alice) == MailLocation(
        "mbox", "/home/alice/mail", inbox="/home/alice/mail/inbox", autodetected=True
    )


def test_autodetect_fails_with_dovecots_words(lab: LabBuilder, alice: UserInfo) -> None:
    with pytest.raises(StorageError) as info:
        autodetect(lab.root, alice)
    assert str(info.value) == (
        "mail_location not set and autodetection failed: "
        "Mail storage autodetection failed with home=/home/alice"
    )


def test_open_storage_picks_driver(storage_for: Callable[[str], MailStorage], lab: LabBuilder) -> None:
    md = storage_for("maildir:~/Maildir")
    assert isinstance(md, MaildirStorage)
    assert md.separator == "."
    fs = storage_for("maildir:~/Maildir:LAYOUT=fs")
    assert fs.separator == "/"
    mb = storage_for("mbox:~/mail:INBOX=/var/mail/%u")
    assert isinstance(mb, MboxStorage)
    assert mb.separator == "/"
    assert mb.inbox_path == lab.root.path("/var/mail/alice")
    lab.maildir("/home/alice", [])
    assert isinstance(storage_for(""), MaildirStorage)


def test_mail_debug_logs_the_autodetection(lab: LabBuilder, alice: UserInfo) -> None:
    import io

    from labsim.mailserver.config.model import DovecotSettings
    from labsim.mailserver.log import DovecotLog
    from labsim.mailserver.storage.location import open_storage

    out = io.StringIO()
    log = DovecotLog(lab.root, stderr=out)
    with pytest.raises(StorageError):
        open_storage(lab.root, "", alice, log, DovecotSettings(mail_debug=True), "imap(alice)")
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(
        "imap(alice): Debug: maildir autodetect: "
        "stat(/home/alice/Maildir/cur) failed: No such file or directory"
    )
    assert lines[-1].endswith("imap(alice): Debug: mbox: couldn't find root dir")
    out.truncate(0)
    with pytest.raises(StorageError):
        open_storage(lab.root, "", alice, log, DovecotSettings(), "imap(alice)")
    assert out.getvalue() == ""

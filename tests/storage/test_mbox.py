from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from labsim.mailserver.auth.model import UserInfo
from labsim.mailserver.storage.base import MailboxInfo, MailStorage, StorageError
from labsim.mailserver.storage.mbox import MboxStorage
from labsim.mailserver.storage.mbox_format import parse_mbox
from tests.labroot_builder import LabBuilder, sample_message

LOCATION = "mbox:~/mail:INBOX=/var/mail/%u"
FROM = b"From sender@example.com Tue Nov 14 22:13:20 2023\n"


@pytest.fixture
def spool(lab: LabBuilder, alice: UserInfo) -> Path:
    return lab.mbox("/var/mail/alice", [sample_message(1), sample_message(2), sample_message(3)])


@pytest.fixture
def storage(storage_for: Callable[[str], MailStorage], spool: Path) -> MboxStorage:
    s = storage_for(LOCATION)
    assert isinstance(s, MboxStorage)
    return s


def crlf(b: bytes) -> bytes:
    return b.replace(b"\n", b"\r\n")


def test_parse_split_and_separator_line() -> None:
    data = FROM + b"Subject: a\n\nbody\n\n" + FROM + b"Subject: b\n\nbody2"
    msgs = parse_mbox(data)
    assert [m.client_bytes() for m in msgs] == [b"Subject: a\r\n\r\nbody\r\n", b"Subject: b\r\n\r\nbody2"]


def test_quoted_from_is_shown_as_in_the_file_like_dovecot() -> None:
    data = FROM + b"Subject: a\n\n>From here\nbody\n\n"
    (msg,) = parse_mbox(data)
    assert msg.client_bytes() == b"Subject: a\r\n\r\n>From here\r\nbody\r\n"


def test_content_length_is_honoured() -> None:
    body = b"line\n\nFrom someone who writes like this\nend\n"
    data = (
        FROM + b"Subject: a\nContent-Length: %d\n\n" % len(body) + body + b"\n" + FROM + b"Subject: b\n\nx\n"
    )
    msgs = parse_mbox(data)
    assert len(msgs) == 2
    assert msgs[0].client_bytes() == crlf(b"Subject: a\n\n" + body)


def test_wrong_content_length_is_ignored() -> None:
    data = FROM + b"Subject: a\nContent-Length: 3\n\nhello\n\n" + FROM + b"Subject: b\n\nx\n"
    assert len(parse_mbox(data)) == 2


def test_not_an_mbox() -> None:
    with pytest.raises(StorageError) as info:
        parse_mbox(b"Subject: nope\n\nhi\n", "/var/mail/alice")
    assert str(info.value) == (
        "Failed to read mbox file /var/mail/alice: mbox file doesn't begin with 'From ' line"
    )
    assert parse_mbox(b"") == []
    assert parse_mbox(b"\n\n") == []


def test_open_assigns_uids_and_claims_recent(storage: MboxStorage, spool: Path) -> None:
    box = storage.open("INBOX")
    assert [m.uid for m in box.messages] == [1, 2, 3]
    assert all(m.recent for m in box.messages)
    assert box.read(box.messages[0]) == crlf(sample_message(1))
    assert box.messages[0].size == len(crlf(sample_message(1)))
    text = spool.read_bytes()
    # The second number is the last UID, as c-client and Dovecot write it.
    assert text.count(b"X-IMAPbase: %d 0000000003\n" % box.uidvalidity) == 1
    assert text.count(b"Status: O\n") == 3
    assert b"X-UID: 3\n" in text
    again = storage.open("INBOX")
    assert again.uidvalidity == box.uidvalidity
    assert [m.recent for m in again.messages] == [False, False, False]
    # The hidden headers never reach the client.
    assert b"X-UID" not in again.read(again.messages[0])
    assert b"Status" not in again.read(again.messages[0])


def test_examine_leaves_file_alone(storage: MboxStorage, spool: Path) -> None:
    before = spool.read_bytes()
    box = storage.open("INBOX", readonly=True)
    assert [m.recent for m in box.messages] == [True, True, True]
    assert spool.read_bytes() == before


def test_uidvalidity_of_a_file_never_written_stays_put(
    storage: MboxStorage, storage_for: Callable[[str], MailStorage], spool: Path
) -> None:
    # STATUS and EXAMINE do not write the file; Dovecot keeps the UIDVALIDITY it gave in its
    # index, so every look, and the write that follows, report the same one.
    looks = {storage.status("INBOX").uidvalidity for _ in range(3)}
    looks.add(storage_for(LOCATION).open("INBOX", readonly=True).uidvalidity)
    assert len(looks) == 1
    written = storage_for(LOCATION).open("INBOX")
    assert {written.uidvalidity} == looks
    assert b"X-IMAPbase: %d " % written.uidvalidity in spool.read_bytes()


def test_status_and_xstatus_flags(lab: LabBuilder, storage_for: Callable[[str], MailStorage]) -> None:
    lab.write(
        "/var/mail/alice",
        FROM
        + b"Subject: a\nStatus: RO\nX-Status: AFTD\nX-Keywords: $Label1 Work\n\nx\n\n"
        + FROM
        + b"Subject: b\nStatus: O\n\ny\n",
    )
    box = storage_for(LOCATION).open("INBOX")
    assert box.messages[0].flags == {
        "\\Seen",
        "\\Answered",
        "\\Flagged",
        "\\Draft",
        "\\Deleted",
        "$Label1",
        "Work",
    }
    assert box.messages[1].flags == set()
    assert [m.recent for m in box.messages] == [False, False]
    assert box.read(box.messages[0]) == b"Subject: a\r\n\r\nx\r\n"


def test_set_flags_writes_status_headers(storage: MboxStorage, spool: Path) -> None:
    box = storage.open("INBOX")
    box.set_flags(box.messages[1], {"\\Seen", "\\Answered", "\\Flagged", "$Label1"})
    text = spool.read_bytes()
    assert b"Status: RO\nX-Status: AF\nX-Keywords: $Label1\n\nBody of message 2." in text
    again = storage.open("INBOX")
    assert again.messages[1].flags == {"\\Seen", "\\Answered", "\\Flagged", "$Label1"}
    assert again.read(again.messages[1]) == crlf(sample_message(2))


def test_imapbase_stable_across_restarts(storage_for: Callable[[str], MailStorage], spool: Path) -> None:
    first = storage_for(LOCATION).open("INBOX")
    uv = first.uidvalidity
    with spool.open("ab") as f:
        f.write(FROM + sample_message(4) + b"\n")
    second = storage_for(LOCATION).open("INBOX")
    assert second.uidvalidity == uv
    assert [m.uid for m in second.messages] == [1, 2, 3, 4]
    assert second.uidnext == 5
    assert [m.recent for m in second.messages] == [False, False, False, True]


def test_expunge_rewrite_preserves_others_byte_exactly(storage: MboxStorage, spool: Path) -> None:
    box = storage.open("INBOX")
    box.set_flags(box.messages[2], {"\\Seen"})
    before = spool.read_bytes()
    chunks = before.split(b"\n" + FROM)
    assert len(chunks) == 3
    assert box.expunge([2]) == [2]
    after = spool.read_bytes()
    assert after == chunks[0] + b"\n" + FROM + chunks[2]
    again = storage.open("INBOX")
    assert [m.uid for m in again.messages] == [1, 3]
    assert again.read(again.messages[1]) == crlf(sample_message(3))


def test_expunge_first_moves_imapbase(storage: MboxStorage, spool: Path) -> None:
    box = storage.open("INBOX")
    uv = box.uidvalidity
    assert box.expunge([1, 2]) == [1, 1]
    text = spool.read_bytes()
    assert text.startswith(FROM + sample_message(3).split(b"\n\n")[0] + b"\nX-IMAPbase: %d 0000000003\n" % uv)
    again = storage.open("INBOX")
    assert (again.uidvalidity, again.uidnext, [m.uid for m in again.messages]) == (uv, 4, [3])


def test_sync_between_sessions(storage: MboxStorage, spool: Path) -> None:
    a = storage.open("INBOX")
    b = storage.open("INBOX")
    a.set_flags(a.messages[0], {"\\Deleted"})
    a.expunge([1])
    with spool.open("ab") as f:
        f.write(FROM + sample_message(9) + b"\n")
    changes = b.sync()
    assert changes.expunged_seqs == [1]
    assert changes.new_count == 1
    assert [m.uid for m in b.messages] == [2, 3, 4]
    assert b.messages[-1].recent


def test_dovecot_written_file_with_pseudo_message(
    lab: LabBuilder, storage_for: Callable[[str], MailStorage]
) -> None:
    pseudo = (
        b"From MAILER_DAEMON  Wed Nov 25 12:00:00 2026\n"
        b"Date: Wed, 25 Nov 2026 12:00:00 +0000\n"
        b"From: Mail System Internal Data <MAILER-DAEMON@host>\n"
        b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
        b"X-IMAP: 1795609386 0000000009\n"
        b"Status: RO\n\n"
        b"This text is part of the internal format of your mail folder, and is not\n"
        b"a real message.\n\n"
    )
    lab.write("/var/mail/alice", pseudo + FROM + b"Subject: a\nX-UID: 7\nStatus: O\n\nx\n\n")
    box = storage_for(LOCATION).open("INBOX")
    assert (box.uidvalidity, box.uidnext) == (1795609386, 10)
    assert [(m.uid, m.recent) for m in box.messages] == [(7, False)]
    box.set_flags(box.messages[0], {"\\Seen"})
    text = lab.root.path("/var/mail/alice").read_bytes()
    assert text.startswith(pseudo)
    assert b"X-IMAPbase" not in text


def test_folders_and_subscriptions(storage: MboxStorage, lab: LabBuilder) -> None:
    storage.create("Archive")
    storage.create("Lists/dovecot")
    with pytest.raises(StorageError) as info:
        storage.create("Archive/2024")
    assert str(info.value) == "Mailbox doesn't allow inferior mailboxes"
    assert storage.list() == [
        MailboxInfo("INBOX", ["\\HasNoChildren"]),
        MailboxInfo("Archive", ["\\NoInferiors"]),
        MailboxInfo("Lists", ["\\Noselect", "\\HasChildren"], selectable=False),
        MailboxInfo("Lists/dovecot", ["\\NoInferiors"]),
    ]
    assert lab.root.path("/home/alice/mail/Archive").is_file()
    storage.subscribe("Archive")
    assert lab.root.path("/home/alice/mail/.subscriptions").read_bytes() == b"V\t2\n\nArchive\n"
    assert storage.open("Archive").messages == []
    st = storage.status("INBOX")
    assert (st.messages, st.recent, st.unseen, st.uidnext) == (3, 3, 3, 4)


def test_dotlock_left_by_crash_is_broken_when_stale(storage: MboxStorage, spool: Path) -> None:
    lock = spool.with_name("alice.lock")
    lock.write_text("1")
    os.utime(lock, (1, 1))
    box = storage.open("INBOX")
    assert len(box.messages) == 3
    assert not lock.exists()
    assert sorted(os.listdir(spool.parent)) == ["alice"]


def test_broken_inbox_is_a_storage_error(
    lab: LabBuilder, storage_for: Callable[[str], MailStorage], log_buffer: io.StringIO
) -> None:
    lab.write("/var/mail/alice", b"garbage\n")
    with pytest.raises(StorageError):
        storage_for(LOCATION).open("INBOX")
    assert lab.root.path("/var/mail/alice").read_bytes() == b"garbage\n"


def test_missing_inbox_is_made_empty(storage_for: Callable[[str], MailStorage], lab: LabBuilder) -> None:
    """Dovecot creates a missing INBOX on first use (checked against 2.3.19: the spool file,
    0600, when it may write the spool)."""
    box = storage_for(LOCATION).open("INBOX")
    assert box.messages == []
    made = lab.root.path("/var/mail/alice")
    assert made.read_bytes() == b""
    assert made.stat().st_mode & 0o777 == 0o600


def test_a_fresh_account_gets_its_mail_dir_and_inbox(
    storage_for: Callable[[str], MailStorage], lab: LabBuilder
) -> None:
    """`mbox:~/mail` without INBOX=: ~/mail and ~/mail/inbox appear, as with real Dovecot (no
    `file_dotlock_create(.../inbox) failed: No such file or directory`)."""
    home = lab.root.path("/home/alice")
    assert not (home / "mail").exists()
    storage = storage_for("mbox:~/mail")
    assert storage.status("INBOX").messages == 0
    assert (home / "mail").stat().st_mode & 0o777 == 0o700
    assert (home / "mail" / "inbox").read_bytes() == b""
    box = storage.open("INBOX")
    box.append(b"Subject: hi\r\n\r\nhello\r\n", internaldate=1600000000.0)
    assert storage.status("INBOX").messages == 1


def test_append_quotes_from_like_dovecot_and_keeps_recent(storage: MboxStorage, spool: Path) -> None:
    box = storage.open("INBOX")
    uid = box.append(
        b"Subject: new\r\n\r\nFrom the start\r\n>From quoted\r\nend\r\n", internaldate=1600000000.0
    )
    assert uid == 4
    text = spool.read_bytes()
    assert text.endswith(
        b"From MAILER-DAEMON Sun Sep 13 12:26:40 2020\nSubject: new\nX-UID: 4\n\n"
        b">From the start\n>From quoted\nend\n\n"
    )
    other = storage.open("INBOX")  # sees it first: \Recent is its own
    assert [m.recent for m in other.messages] == [False, False, False, True]
    assert other.uidnext == 5
    assert box.sync().new_count == 1
    assert (box.messages[3].uid, box.messages[3].recent) == (4, False)
    assert box.messages[3].internaldate == 1600000000.0
    assert box.read(box.messages[3]) == b"Subject: new\r\n\r\n>From the start\r\n>From quoted\r\nend\r\n"


def test_append_with_flags_to_empty_folder(storage: MboxStorage, lab: LabBuilder) -> None:
    storage.create("Sent")
    box = storage.open("Sent")
    assert box.append(b"Subject: s\n\nbody", {"\\Seen", "\\Answered"}) == 1
    box.sync()
    assert [(m.uid, m.flags) for m in box.messages] == [(1, {"\\Seen", "\\Answered"})]
    assert box.read(box.messages[0]) == b"Subject: s\r\n\r\nbody"
    text = lab.root.path("/home/alice/mail/Sent").read_bytes()
    assert b"X-IMAPbase: " in text
    # The sync() above made this session the one that saw it first.
    assert b"Status: RO\nX-Status: A\n" in text


def test_internaldate_from_the_from_line() -> None:
    msgs = parse_mbox(
        FROM + b"Subject: a\n\nx\n\n"
        b"From x@y  Tue Nov 14 22:13:20 2023 +0200\nSubject: b\n\ny\n\n"
        b"From x@y Tue Nov 14 22:13 EST 2023\nSubject: c\n\nz\n\n"
        b"From x@y no date at all\nSubject: d\n\nw\n"
    )
    # Dovecot shows these as 22:13:20 +0000 and 20:13:20 +0000.
    assert [m.internaldate() for m in msgs] == [1700000000.0, 1700000000.0 - 7200, 1700000000.0 - 20, None]


def test_expunge_all_leaves_dovecots_pseudo_message(storage: MboxStorage, spool: Path) -> None:
    box = storage.open("INBOX")
    uv = box.uidvalidity
    assert box.expunge([1, 2, 3]) == [1, 1, 1]
    text = spool.read_bytes()
    assert text.startswith(b"From MAILER_DAEMON  ")
    assert b"\nSubject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n" in text
    assert b"\nX-IMAP: %d 0000000003\nStatus: RO\n\n" % uv in text
    again = storage.open("INBOX")
    assert (again.messages, again.uidvalidity, again.uidnext) == ([], uv, 4)
    assert again.append(b"Subject: next\n\nx\n") == 4
    assert spool.read_bytes().startswith(text.split(b"X-IMAP")[0] + b"X-IMAP: %d 0000000004\n" % uv)


def test_fcntl_lock_held_by_a_mail_reader_times_out(lab: LabBuilder, spool: Path) -> None:
    import subprocess
    import sys

    from labsim.mailserver.storage.mbox import mbox_lock

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(30)\n",
            str(spool),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(StorageError) as info, mbox_lock(lab.root, spool, wait=0.2):
            pass
    finally:
        holder.kill()
        holder.wait()
    assert str(info.value) == (
        "fcntl(/var/mail/alice, write-lock, F_SETLKW) locking failed: Timed out after 0 seconds"
    )
    assert not spool.with_name("alice.lock").exists()  # our dotlock is released on the way out
